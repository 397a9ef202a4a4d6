package registrar

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// tcpPeer is a raw SIP client on one TCP connection.
type tcpPeer struct {
	t    *testing.T
	c    net.Conn
	rd   *bufio.Reader
	host string
	cseq int
}

func dialTCP(t *testing.T, r *Registrar) *tcpPeer {
	t.Helper()
	c, err := net.Dial("tcp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &tcpPeer{t: t, c: c, rd: bufio.NewReader(c), host: r.Addr().String()}
}

// response reads one response head (the registrar's answers here have no body).
func (p *tcpPeer) response() (string, error) {
	p.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	var b strings.Builder
	for {
		line, err := p.rd.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		if line == "\r\n" && b.Len() > 2 {
			return b.String(), nil
		}
	}
}

func (p *tcpPeer) send(method, extra string) string {
	p.t.Helper()
	p.cseq++
	msg := fmt.Sprintf("%s sip:%s SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bKt%d;rport\r\nFrom: <sip:alcatel@%s>;tag=1\r\nTo: <sip:alcatel@%s>\r\nCall-ID: tcp-%s\r\nCSeq: %d %s\r\nContact: <sip:alcatel@%s;transport=tcp>\r\nMax-Forwards: 70\r\n%sContent-Length: 0\r\n\r\n",
		method, p.host, p.c.LocalAddr(), p.cseq, p.host, p.host, p.c.LocalAddr(), p.cseq, method, p.c.LocalAddr(), extra)
	if _, err := p.c.Write([]byte(msg)); err != nil {
		p.t.Fatalf("%s over TCP: %v", method, err)
	}
	res, err := p.response()
	if err != nil {
		p.t.Fatalf("%s over TCP: no answer: %v (%q)", method, err, res)
	}
	return res
}

func (p *tcpPeer) register(pass string) string {
	p.t.Helper()
	res := p.send("REGISTER", "Expires: 600\r\n")
	i := strings.Index(res, `nonce="`)
	if i < 0 {
		return res
	}
	nonce := res[i+7:]
	nonce = nonce[:strings.IndexByte(nonce, '"')]
	cred := credentials{Username: "alcatel", Realm: "deskphone", Nonce: nonce, URI: "sip:" + p.host, QOP: "auth", NC: "00000001", Cnonce: "abc"}
	resp := expectedResponse(cred, ha1("alcatel", "deskphone", pass), "REGISTER")
	return p.send("REGISTER", fmt.Sprintf("Expires: 600\r\nAuthorization: Digest username=\"alcatel\", realm=\"deskphone\", nonce=\"%s\", uri=\"sip:%s\", response=\"%s\", qop=auth, nc=00000001, cnonce=\"abc\", algorithm=MD5\r\n", nonce, p.host, resp))
}

// closedWithin reports whether the registrar closes the connection within d.
func (p *tcpPeer) closedWithin(d time.Duration) bool {
	p.c.SetReadDeadline(time.Now().Add(d))
	_, err := p.rd.ReadByte()
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || err != nil && strings.Contains(err.Error(), "reset")
}

func tcpConfig() Config {
	cfg := DefaultConfig()
	cfg.TCPIdleTimeout = time.Second
	return cfg
}

// A connection that never registers is closed once it brings no request for TCPIdleTimeout.
func TestTCPIdleConnectionClosed(t *testing.T) {
	r, _ := startTest(t, tcpConfig(), testAccounts)
	p := dialTCP(t, r)
	if res := p.send("OPTIONS", ""); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("OPTIONS over TCP: %q", res)
	}
	if !p.closedWithin(3 * time.Second) {
		t.Fatal("an idle TCP connection without a registration stayed open past the idle time")
	}
	if n := r.tcpConns().open(); n != 0 {
		t.Fatalf("%d connections still counted after the idle one was closed", n)
	}
}

// One byte a second never makes a request: the connection goes at the idle time all the same.
func TestTCPSlowSenderCannotHoldConnection(t *testing.T) {
	r, _ := startTest(t, tcpConfig(), testAccounts)
	p := dialTCP(t, r)
	closed := make(chan struct{})
	go func() {
		p.closedWithin(5 * time.Second)
		close(closed)
	}()
	start := time.Now()
	msg := "REGISTER sip:" + p.host + " SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKslow\r\n"
	for i := 0; i < len(msg); i++ {
		select {
		case <-closed:
			if took := time.Since(start); took > 3*time.Second {
				t.Fatalf("slow sender held its connection for %s", took)
			}
			return
		case <-time.After(300 * time.Millisecond): // slow enough not to count as a flood
		}
		if _, err := p.c.Write([]byte{msg[i]}); err != nil {
			return // closed under our feet: fine
		}
	}
	t.Fatalf("slow sender still connected after %s", time.Since(start))
}

// A phone that registered over TCP keeps its connection past the idle time (NAT: the registrar
// reaches it only over that connection); its RFC 5626 CRLFCRLF keep-alives are answered with CRLF.
func TestTCPRegisteredPhoneKeepsConnection(t *testing.T) {
	r, _ := startTest(t, tcpConfig(), testAccounts)
	p := dialTCP(t, r)
	if res := p.register("alcatel-secret-1"); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("REGISTER over TCP: %q", res)
	}
	for range 3 {
		if p.closedWithin(time.Second) {
			t.Fatal("the connection a phone registered over was closed at the idle time")
		}
		if _, err := p.c.Write([]byte("\r\n\r\n")); err != nil {
			t.Fatalf("keep-alive: %v", err)
		}
		p.c.SetReadDeadline(time.Now().Add(2 * time.Second))
		pong := make([]byte, 2)
		if _, err := io.ReadFull(p.rd, pong); err != nil || string(pong) != "\r\n" {
			t.Fatalf("keep-alive CRLFCRLF answered with %q, %v; want CRLF", pong, err)
		}
	}
	if res := p.send("OPTIONS", ""); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("OPTIONS on the registered connection after the idle time: %q", res)
	}
	// Unregistering puts the connection back under the idle rule.
	if res := p.send("REGISTER", "Expires: 0\r\n"); !strings.HasPrefix(res, "SIP/2.0 401") {
		t.Fatalf("unauthenticated unREGISTER: %q", res)
	}
}

// At MaxTCPConnections the quietest connection without a registration gives way; a registered
// phone's never does.
func TestTCPTotalCapSparesRegisteredPhones(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxTCPConnections = 4
	r, _ := startTest(t, cfg, testAccounts)
	phone := dialTCP(t, r)
	if res := phone.register("alcatel-secret-1"); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("REGISTER over TCP: %q", res)
	}
	var idle []*tcpPeer
	for range 3 {
		p := dialTCP(t, r)
		p.send("OPTIONS", "") // accepted and served
		idle = append(idle, p)
	}
	late := dialTCP(t, r)
	if res := late.send("OPTIONS", ""); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("a new connection at the cap was not served: %q", res)
	}
	if !idle[0].closedWithin(time.Second) {
		t.Fatal("at the cap the quietest unregistered connection was not closed")
	}
	if res := phone.send("OPTIONS", ""); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("the registered phone's connection did not survive the cap: %q", res)
	}
	if n := r.tcpConns().open(); n > 4 {
		t.Fatalf("%d connections open; cap is 4", n)
	}
}
