package registrar

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// wsSite is the registrar's SIP WebSocket behind an HTTPS test server, as the web server mounts it.
type wsSite struct {
	r   *Registrar
	srv *httptest.Server
}

func startWSSite(t *testing.T, cfg Config, opts ...Option) *wsSite {
	t.Helper()
	r, _ := startTest(t, cfg, testAccounts, opts...)
	return &wsSite{r: r, srv: newWSServer(t, r)}
}

// newWSServer serves r's SIP WebSocket at /ws over HTTPS.
func newWSServer(t *testing.T, r *Registrar) *httptest.Server {
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	mux := http.NewServeMux()
	mux.Handle("/ws", r.WebSocket(port))
	srv.Config.Handler = mux
	t.Cleanup(srv.Close)
	return srv
}

// dial opens a SIP WebSocket as a page of origin would (origin "" = the site itself).
func (s *wsSite) dial(t *testing.T, origin string, protocols ...string) (*wsPeer, error) {
	t.Helper()
	u, _ := url.Parse(s.srv.URL)
	if origin == "" {
		origin = "https://" + u.Host
	}
	if protocols == nil {
		protocols = []string{"sip"}
	}
	d := ws.Dialer{TLSConfig: &tls.Config{InsecureSkipVerify: true}, Protocols: protocols,
		Header: ws.HandshakeHeaderHTTP(http.Header{"Origin": {origin}})}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, _, err := d.Dial(ctx, "wss://"+u.Host+"/ws")
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	p := &wsPeer{t: t, c: c, host: u.Host, msgs: make(chan string, 16)}
	go func() {
		defer close(p.msgs)
		for {
			b, err := wsutil.ReadServerText(c)
			if err != nil {
				return
			}
			p.msgs <- string(b)
		}
	}()
	return p, nil
}

// wsPeer is a JsSIP-shaped client: a made-up .invalid host in its Via and Contact.
type wsPeer struct {
	t    *testing.T
	c    net.Conn
	host string
	cseq int
	msgs chan string
	mu   sync.Mutex
}

func (p *wsPeer) send(msg string) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := wsutil.WriteClientText(p.c, []byte(msg)); err != nil {
		p.t.Fatalf("WebSocket write: %v", err)
	}
}

// next is the next SIP message the registrar sends.
func (p *wsPeer) next(within time.Duration) (string, bool) {
	select {
	case m, ok := <-p.msgs:
		return m, ok
	case <-time.After(within):
		return "", false
	}
}

// closedWithin reports whether the registrar closes the connection within d (messages are skipped).
func (p *wsPeer) closedWithin(d time.Duration) bool {
	deadline := time.After(d)
	for {
		select {
		case _, ok := <-p.msgs:
			if !ok {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

// register signs in as alcatel with contact user and instance id, and returns the final answer.
func (p *wsPeer) register(user, instance, pass string, expires int) string {
	p.t.Helper()
	req := func(auth string) string {
		p.cseq++
		return fmt.Sprintf("REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WSS x%s.invalid;branch=z9hG4bKws%d\r\nMax-Forwards: 69\r\nTo: <sip:alcatel@127.0.0.1>\r\nFrom: <sip:alcatel@127.0.0.1>;tag=wsreg\r\nCall-ID: ws-%s\r\nCSeq: %d REGISTER\r\nContact: <sip:%s@x%s.invalid;transport=ws>;+sip.ice;reg-id=1;+sip.instance=\"<urn:uuid:%s>\";expires=%d\r\nExpires: %d\r\n%sContent-Length: 0\r\n\r\n",
			user, p.cseq, user+instance, p.cseq, user, user, instance, expires, expires, auth)
	}
	p.send(req(""))
	res, _ := p.next(3 * time.Second)
	i := strings.Index(res, `nonce="`)
	if i < 0 {
		return res
	}
	nonce := res[i+7:]
	nonce = nonce[:strings.IndexByte(nonce, '"')]
	cred := credentials{Username: "alcatel", Realm: "deskphone", Nonce: nonce, URI: "sip:127.0.0.1", QOP: "auth", NC: "00000001", Cnonce: "abc"}
	resp := expectedResponse(cred, ha1("alcatel", "deskphone", pass), "REGISTER")
	p.send(req(fmt.Sprintf("Authorization: Digest username=\"alcatel\", realm=\"deskphone\", nonce=\"%s\", uri=\"sip:127.0.0.1\", response=\"%s\", qop=auth, nc=00000001, cnonce=\"abc\", algorithm=MD5\r\n", nonce, resp)))
	res, _ = p.next(3 * time.Second)
	return res
}

func wsBindings(r *Registrar) []Binding {
	var out []Binding
	for _, b := range r.loc.get("alcatel") {
		if isWS(b.Transport) {
			out = append(out, b)
		}
	}
	return out
}

func waitBindings(t *testing.T, r *Registrar, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for len(wsBindings(r)) != n {
		if time.Now().After(deadline) {
			t.Fatalf("WebSocket bindings: %+v, want %d", wsBindings(r), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Only an upgrade for the "sip" subprotocol from a page of the same site gets a SIP WebSocket.
func TestWebSocketRefusesForeignPages(t *testing.T) {
	s := startWSSite(t, DefaultConfig())
	_, err := s.dial(t, "https://evil.example")
	if st, ok := err.(ws.StatusError); !ok || int(st) != http.StatusForbidden {
		t.Errorf("a page of another site: %v, want 403", err)
	}
	_, err = s.dial(t, "http://"+strings.TrimPrefix(s.srv.URL, "https://"))
	if st, ok := err.(ws.StatusError); !ok || int(st) != http.StatusForbidden {
		t.Errorf("the same host over plain http: %v, want 403", err)
	}
	_, err = s.dial(t, "", "chat")
	if st, ok := err.(ws.StatusError); !ok || int(st) != http.StatusBadRequest {
		t.Errorf("another subprotocol: %v, want 400", err)
	}
	res, err := http.Get(strings.Replace(s.srv.URL, "https", "http", 1) + "/ws")
	if err == nil {
		res.Body.Close()
	}
	p, err := s.dial(t, "")
	if err != nil {
		t.Fatalf("the site's own page: %v", err)
	}
	if res := p.register("u1", "a", testAccounts["alcatel"].Password, 600); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("REGISTER over the WebSocket: %q", res)
	}
}

// A binding made over a WebSocket lasts as long as the connection, is never saved, and a reload
// of the page (a new connection, a new Contact, the same +sip.instance) replaces it.
func TestWebSocketBindingsFollowTheConnection(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	s := startWSSite(t, cfg)
	pass := testAccounts["alcatel"].Password
	p1, err := s.dial(t, "")
	if err != nil {
		t.Fatal(err)
	}
	res := p1.register("first", "tab-1", pass, 600)
	if !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("REGISTER: %q", res)
	}
	waitBindings(t, s.r, 1)
	if b := wsBindings(s.r)[0]; b.Transport != "WSS" || b.Instance != "<urn:uuid:tab-1>" {
		t.Errorf("binding %+v, want transport WSS and the instance", b)
	}
	// The page reloads: the new page registers before the old connection is gone.
	p2, err := s.dial(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if res := p2.register("second", "tab-1", pass, 600); !strings.HasPrefix(res, "SIP/2.0 200") || strings.Contains(res, "first@") {
		t.Fatalf("REGISTER after reload: %q, want 200 OK listing only the new contact", res)
	}
	waitBindings(t, s.r, 1)
	if b := wsBindings(s.r)[0]; !strings.Contains(b.Contact, "second@") {
		t.Errorf("after the reload the binding is %s, want the new page's", b.Contact)
	}
	p1.c.Close()
	time.Sleep(200 * time.Millisecond)
	waitBindings(t, s.r, 1) // the old connection's close takes nothing of the new page's
	// Another tab (another instance) adds a binding; closing its connection removes it.
	p3, _ := s.dial(t, "")
	p3.register("third", "tab-2", pass, 600)
	waitBindings(t, s.r, 2)
	p3.c.Close()
	waitBindings(t, s.r, 1)
	s.r.store.write()
	// Neither the bindings file nor its journal (store.go) keeps a WebSocket binding.
	for _, name := range []string{bindingsFile, journalFile} {
		if data, err := os.ReadFile(filepath.Join(cfg.DataDir, name)); err == nil && strings.Contains(string(data), "WSS") {
			t.Errorf("%s keeps a WebSocket binding:\n%s", name, data)
		}
	}
}

// Pings, binary frames and garbage on a SIP WebSocket do not stop the service: another page
// still registers.
func TestWebSocketGarbageKeepsService(t *testing.T) {
	s := startWSSite(t, DefaultConfig())
	for i, frames := range [][]ws.Frame{
		{ws.NewPingFrame([]byte("are you there")), ws.NewPingFrame(nil)},
		{ws.NewBinaryFrame([]byte{0, 1, 2, 0xff, 0xfe})},
		{ws.NewTextFrame([]byte("INVITE\r\n\r\n\x00\x01garbage")), ws.NewTextFrame([]byte(strings.Repeat("A", 70000)))},
		{ws.NewTextFrame([]byte("REGISTER sip:127.0.0.1 SIP/2.0\r\nContent-Length: 99999\r\n\r\n"))},
	} {
		p, err := s.dial(t, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frames {
			ws.WriteFrame(p.c, ws.MaskFrame(f))
		}
		p.c.Close()
		q, err := s.dial(t, "")
		if err != nil {
			t.Fatalf("after garbage %d: %v", i, err)
		}
		if res := q.register("ok"+strconv.Itoa(i), "g", testAccounts["alcatel"].Password, 600); !strings.HasPrefix(res, "SIP/2.0 200") {
			t.Fatalf("after garbage %d the registrar answers %q", i, res)
		}
	}
}

// A SIP WebSocket that brings no request is closed after TCPIdleTimeout; one a browser registered
// over stays open, silent as browsers are.
func TestWebSocketIdleConnections(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TCPIdleTimeout = time.Second
	s := startWSSite(t, cfg)
	idle, err := s.dial(t, "")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := s.dial(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if res := reg.register("kept", "k", testAccounts["alcatel"].Password, 600); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("REGISTER: %q", res)
	}
	if !idle.closedWithin(3 * time.Second) {
		t.Error("an idle connection without a registration stays open")
	}
	if reg.closedWithin(time.Second) {
		t.Error("the registered browser's connection was closed")
	}
	waitBindings(t, s.r, 1)
}
