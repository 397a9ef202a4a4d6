package registrar

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskphone/deskphone/firmware/sipcheck"
	"github.com/deskphone/deskphone/firmware/sipid"
	"github.com/emiago/sipgo/sip"
)

// regPhone is a raw UDP phone that builds its REGISTERs by hand, so a test can send one twice.
type regPhone struct {
	t    *testing.T
	c    net.Conn
	host string
}

func newRegPhone(t *testing.T, r *Registrar) *regPhone {
	c, err := net.Dial("udp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &regPhone{t: t, c: c, host: r.Addr().String()}
}

func (p *regPhone) msg(branch string, cseq int, auth string) string {
	s := fmt.Sprintf("REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\nFrom: <sip:alcatel@%s>;tag=1\r\nTo: <sip:alcatel@%s>\r\nCall-ID: fast-1\r\nCSeq: %d REGISTER\r\nContact: <sip:alcatel@%s>\r\nMax-Forwards: 70\r\n",
		p.host, p.c.LocalAddr(), branch, p.host, p.host, cseq, p.c.LocalAddr())
	if auth != "" {
		s += "Authorization: " + auth + "\r\n"
	}
	return s + "Content-Length: 0\r\n\r\n"
}

func (p *regPhone) send(m string) {
	if _, err := p.c.Write([]byte(m)); err != nil {
		p.t.Fatal(err)
	}
}

// read returns the next response, "" if none comes within d.
func (p *regPhone) read(d time.Duration) string {
	buf := make([]byte, 8192)
	p.c.SetReadDeadline(time.Now().Add(d))
	n, err := p.c.Read(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

// challenge sends an unauthenticated REGISTER and returns the nonce of the 401.
func (p *regPhone) challenge() string {
	p.send(p.msg("c"+sipid.Token(6), 1, ""))
	res := p.read(3 * time.Second)
	i := strings.Index(res, `nonce="`)
	if !strings.HasPrefix(res, "SIP/2.0 401") || i < 0 {
		p.t.Fatalf("REGISTER without credentials: %q, want a 401 with a nonce", res)
	}
	nonce := res[i+7:]
	return nonce[:strings.IndexByte(nonce, '"')]
}

func (p *regPhone) auth(nonce, nc string) string {
	cred := credentials{Username: "alcatel", Realm: "deskphone", Nonce: nonce, URI: "sip:" + p.host, QOP: "auth", NC: nc, Cnonce: "abc"}
	resp := expectedResponse(cred, ha1("alcatel", "deskphone", "alcatel-secret-1"), "REGISTER")
	return fmt.Sprintf(`Digest username="alcatel", realm="deskphone", nonce="%s", uri="sip:%s", response="%s", qop=auth, nc=%s, cnonce="abc", algorithm=MD5`, nonce, p.host, resp, nc)
}

func (r *Registrar) authFailures(ip string) int {
	r.guard.mu.Lock()
	defer r.guard.mu.Unlock()
	if st, ok := r.guard.sources[netip.MustParseAddr(ip)]; ok {
		return st.authFails
	}
	return 0
}

// A retransmitted REGISTER (the 200 OK lost on the way) gets the very same 200 OK again: it is
// neither refused as a nonce-count replay nor counted as a failed authentication, and the
// binding is not doubled. The bindings go through the journal, so the 200 comes from the
// store's writer.
func TestRetransmittedRegisterGetsSameAnswer(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.AuthFailures = 1 // one failure would ban the phone
	r, _ := startTest(t, cfg, testAccounts)
	p := newRegPhone(t, r)
	p.send(p.msg("reg1", 1, ""))
	challenge := p.read(3 * time.Second)
	p.send(p.msg("reg1", 1, ""))
	if again := p.read(3 * time.Second); again != challenge || !strings.HasPrefix(challenge, "SIP/2.0 401") {
		t.Fatalf("retransmitted REGISTER without credentials: %q, want the same 401 again:\n%s", again, challenge)
	}
	req := p.msg("reg2", 2, p.auth(p.challenge(), "00000001"))
	p.send(req)
	first := p.read(3 * time.Second)
	if !strings.HasPrefix(first, "SIP/2.0 200") {
		t.Fatalf("REGISTER: %q, want 200", first)
	}
	for i := range 3 {
		p.send(req)
		if again := p.read(3 * time.Second); again != first {
			t.Fatalf("retransmission %d: %q, want the first answer again:\n%s", i+1, again, first)
		}
	}
	if n := len(r.Bindings()); n != 1 {
		t.Errorf("%d bindings after the retransmissions, want 1", n)
	}
	if n := r.authFailures("127.0.0.1"); n != 0 {
		t.Errorf("%d authentication failures counted for retransmissions", n)
	}
	// And the phone is not banned: its next registration goes through.
	if res := p.read(0); res != "" {
		t.Errorf("unexpected extra message %q", res)
	}
	p.send(p.msg("reg3", 3, p.auth(p.challenge(), "00000001")))
	if res := p.read(3 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Errorf("next REGISTER: %q, want 200", res)
	}
}

// A retransmission that comes after its kept answer was pushed out (thousands of REGISTERs a
// second) is recognised by its nonce record: answered 200 with the bindings as they are, not
// applied again, not refused as a replay; the same nonce-count in a new request still is one.
func TestRetransmissionAfterAnswerForgotten(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.AuthFailures = 2 // a failure for the retransmission, then the replay, would ban
	r, _ := startTest(t, cfg, testAccounts)
	p := newRegPhone(t, r)
	nonce := p.challenge()
	req := p.msg("reg2", 2, p.auth(nonce, "00000001"))
	p.send(req)
	if res := p.read(3 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("REGISTER: %q, want 200", res)
	}
	r.fast.Load().answers.forget()
	p.send(req)
	res := p.read(3 * time.Second)
	if !strings.HasPrefix(res, "SIP/2.0 200") || len(header(res, "Contact")) != 1 {
		t.Fatalf("retransmission after its answer was forgotten: %q, want 200 with the binding", res)
	}
	if n := len(r.Bindings()); n != 1 {
		t.Errorf("%d bindings, want 1", n)
	}
	if n := r.authFailures("127.0.0.1"); n != 0 {
		t.Errorf("%d authentication failures counted for a retransmission", n)
	}
	p.send(p.msg("replay", 3, p.auth(nonce, "00000001")))
	if res := p.read(3 * time.Second); !strings.HasPrefix(res, "SIP/2.0 401") {
		t.Errorf("replayed nonce-count in a new request: %q, want 401", res)
	}
	if n := r.authFailures("127.0.0.1"); n != 1 {
		t.Errorf("%d authentication failures, want the replay counted", n)
	}
}

// A new REGISTER that reuses a nonce-count already accepted is a replay: refused with a fresh
// challenge and counted as a failed authentication, even when the first one's response is
// remembered.
func TestReplayedNonceCountRefused(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	r, _ := startTest(t, cfg, testAccounts)
	p := newRegPhone(t, r)
	nonce := p.challenge()
	p.send(p.msg("reg2", 2, p.auth(nonce, "00000001")))
	if res := p.read(3 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("REGISTER: %q, want 200", res)
	}
	// Same credentials, another transaction (an attacker replaying the Authorization header).
	p.send(p.msg("replay", 3, p.auth(nonce, "00000001")))
	res := p.read(3 * time.Second)
	if !strings.HasPrefix(res, "SIP/2.0 401") || strings.Contains(res, "stale=true") {
		t.Fatalf("replayed nonce-count: %q, want a 401 without stale", res)
	}
	if n := r.authFailures("127.0.0.1"); n != 1 {
		t.Errorf("%d authentication failures, want the replay counted", n)
	}
	// A higher nonce-count with the same nonce is fine (RFC 2617 §3.2.2).
	p.send(p.msg("reg4", 4, p.auth(nonce, "00000002")))
	if res := p.read(3 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("nc=2: %q, want 200", res)
	}
}

// The nonce record tells a retransmission (same nonce-count, same transaction) from a replay
// (same nonce-count, another transaction).
func TestNonceRetransmissionIsNotAReplay(t *testing.T) {
	clk := newFakeClock()
	tab := newNonces(time.Minute, 100)
	n := tab.issue("10.0.0.2", clk.Now())
	if got := tab.use(n, "10.0.0.2", "auth", "00000001", 7, clk.Now()); got != nonceOK {
		t.Fatalf("first use: %v", got)
	}
	if got := tab.use(n, "10.0.0.2", "auth", "00000001", 7, clk.Now()); got != nonceAgain {
		t.Errorf("same transaction again: %v, want nonceAgain", got)
	}
	if got := tab.use(n, "10.0.0.2", "auth", "00000001", 8, clk.Now()); got != nonceReplay {
		t.Errorf("another transaction, same nc: %v, want nonceReplay", got)
	}
	if got := tab.use(n, "10.0.0.2", "auth", "00000001", 0, clk.Now()); got != nonceReplay {
		t.Errorf("no transaction, same nc: %v, want nonceReplay", got)
	}
}

// The fast path's memory of answers is bounded and forgets the oldest first.
func TestAnswersBounded(t *testing.T) {
	a := newAnswers(3, time.Minute)
	now := time.Now()
	for i := range 5 {
		if _, again := a.begin(fmt.Sprint(i), now); again {
			t.Fatalf("key %d seen as a retransmission", i)
		}
		a.finish(fmt.Sprint(i), []byte{byte(i)})
	}
	if a.size() != 3 {
		t.Fatalf("%d answers kept, want 3", a.size())
	}
	if data, again := a.begin("4", now); !again || string(data) != "\x04" {
		t.Errorf("latest answer: %q %v", data, again)
	}
	if _, again := a.begin("0", now); again {
		t.Error("the oldest answer was kept")
	}
	if _, again := a.begin("4", now.Add(2*time.Minute)); again {
		t.Error("an answer older than its ttl was kept")
	}
}

// Malformed REGISTERs on the fast path get a clear 400 and change nothing.
func TestFastPathMalformedRegister(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	r, _ := startTest(t, cfg, testAccounts)
	p := newRegPhone(t, r)
	good := p.msg("m1", 1, "")
	cases := map[string]string{
		"no CSeq":        strings.Replace(good, "CSeq: 1 REGISTER\r\n", "", 1),
		"CSeq method":    strings.Replace(good, "CSeq: 1 REGISTER", "CSeq: 1 INVITE", 1),
		"bad Expires":    strings.Replace(good, "Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nExpires: soon\r\n", 1),
		"two Call-IDs":   strings.Replace(good, "Call-ID: fast-1\r\n", "Call-ID: fast-1\r\nCall-ID: fast-2\r\n", 1),
		"bare branch":    strings.Replace(good, "branch=z9hG4bKm1", "branch=z9hG4bK", 1),
		"Max-Forwards 0": strings.Replace(good, "Max-Forwards: 70", "Max-Forwards: x", 1),
	}
	for name, m := range cases {
		p.send(m)
		if res := p.read(3 * time.Second); !strings.HasPrefix(res, "SIP/2.0 400") {
			t.Errorf("%s: %q, want 400", name, res)
		}
	}
	if n := len(r.Bindings()); n != 0 {
		t.Errorf("%d bindings after malformed REGISTERs", n)
	}
	p.send("REGISTER sip:x SIP/2.0\r\n\r\n\x00\x01")
	if res := p.read(3 * time.Second); !strings.HasPrefix(res, "SIP/2.0 400") {
		t.Errorf("garbage: %q, want 400", res)
	}
	p.send(good) // still served
	if res := p.read(3 * time.Second); !strings.HasPrefix(res, "SIP/2.0 401") {
		t.Errorf("after garbage: %q, want a 401", res)
	}
}

// failOnError fails a fuzz target when the registrar logs an error (a recovered panic).
type failOnError struct {
	slog.Handler
	t *testing.T
}

func (h failOnError) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level >= slog.LevelError {
		h.t.Errorf("registrar logged an error: %s", rec.Message)
	}
	return nil
}

// FuzzFastPath: any datagram that starts like a REGISTER is answered or dropped by the fast
// path without a panic, and without credentials it never creates a binding.
func FuzzFastPath(f *testing.F) {
	f.Add("sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKx;rport\r\nFrom: <sip:alcatel@127.0.0.1>;tag=1\r\nTo: <sip:alcatel@127.0.0.1>\r\nCall-ID: a\r\nCSeq: 1 REGISTER\r\nContact: <sip:alcatel@127.0.0.1:5999>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	f.Add("sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: a\r\nCSeq: 1 REGISTER\r\nContact: *\r\nExpires: 0\r\nAuthorization: Digest username=\"alcatel\", realm=\"deskphone\", nonce=\"x\", uri=\"sip:b\", response=\"0\", qop=auth, nc=00000001, cnonce=\"c\"\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	f.Add("sip:x SIP/2.0\r\nContact: <sip:a@b>;expires=99999999999999\r\nRequire: foo\r\n\r\n")
	sink, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer sink.Close()
	f.Fuzz(func(t *testing.T, rest string) {
		log := slog.New(failOnError{slog.DiscardHandler, t})
		r, err := New(Config{Realm: "deskphone"}, testAccounts, log)
		if err != nil {
			t.Fatal(err)
		}
		fp := newFastPath(context.Background(), r, sink)
		data := []byte("REGISTER " + rest)
		fp.handle(data, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5999})
		if n := len(r.Bindings()); n != 0 {
			t.Fatalf("%d bindings from a REGISTER without valid credentials", n)
		}
	})
}

// captureAnswer records what a udpAnswer would send.
func responseBytes(t *testing.T, r *Registrar, req *sip.Request, direct bool, code int, reason string, hdrs ...sip.Header) string {
	t.Helper()
	sink, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	out, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	f := newFastPath(context.Background(), r, out)
	a := &udpAnswer{f: f, to: sink.LocalAddr().(*net.UDPAddr)}
	if direct {
		if !a.respondTo(req, code, reason, r.cfg.ServerName, hdrs) {
			t.Fatal("respondTo refused a well-formed request")
		}
	} else {
		res := sipcheck.Response(req, code, reason)
		res.AppendHeader(sip.NewHeader("Server", r.cfg.ServerName))
		for _, h := range hdrs {
			res.AppendHeader(h)
		}
		a.Respond(res)
	}
	buf := make([]byte, 8192)
	sink.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, _, err := sink.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	return regexp.MustCompile(`(To: [^\r]*;tag=)[^;\r]*`).ReplaceAllString(string(buf[:n]), "${1}TAG")
}

// The fast path writes its responses straight from the request's headers: the same bytes as the
// *sip.Response the other transports build (To tag aside, which is random).
func TestDirectResponseSameAsBuilt(t *testing.T) {
	r, err := New(Config{Realm: "deskphone"}, testAccounts, nil)
	if err != nil {
		t.Fatal(err)
	}
	reqs := map[string]struct{ msg, src string }{
		"rport":          {"REGISTER sip:10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKa;rport\r\nVia: SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKb\r\nFrom: \"Bob\" <sip:bob@10.0.0.1>;tag=1\r\nTo: <sip:bob@10.0.0.1>\r\nCall-ID: c1\r\nCSeq: 2 REGISTER\r\nContent-Length: 0\r\n\r\n", "203.0.113.5:40000"},
		"same address":   {"REGISTER sip:10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKa\r\nFrom: <sip:bob@10.0.0.1>;tag=1\r\nTo: <sip:bob@10.0.0.1>;tag=x\r\nCall-ID: c1\r\nCSeq: 2 REGISTER\r\nContent-Length: 0\r\n\r\n", "192.168.1.20:5060"},
		"other address":  {"REGISTER sip:10.0.0.1 SIP/2.0\r\nv: SIP/2.0/UDP phone.lan:5060;branch=z9hG4bKa\r\nf: <sip:bob@10.0.0.1>;tag=1\r\nt: sip:bob@10.0.0.1\r\ni: c1\r\nCSeq: 2 REGISTER\r\nl: 0\r\n\r\n", "192.168.1.20:5060"},
		"received given": {"REGISTER sip:10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5060;received=1.2.3.4;branch=z9hG4bKa;rport=7\r\nFrom: <sip:bob@10.0.0.1>;tag=1\r\nTo: <sip:bob@10.0.0.1>\r\nCall-ID: c1\r\nCSeq: 2 REGISTER\r\nContent-Length: 0\r\n\r\n", "192.168.1.21:5060"},
	}
	for name, c := range reqs {
		msg, err := r.parser.ParseSIP([]byte(c.msg))
		if err != nil {
			t.Fatal(name, err)
		}
		req := msg.(*sip.Request)
		req.SetTransport("UDP")
		req.SetSource(c.src)
		hdrs := []sip.Header{sip.NewHeader("WWW-Authenticate", `Digest realm="deskphone", nonce="n"`), sip.NewHeader("Date", "Sun, 06 Dec 2026 23:00:00 UTC")}
		built := responseBytes(t, r, req, false, 401, "Unauthorized", hdrs...)
		direct := responseBytes(t, r, req, true, 401, "Unauthorized", hdrs...)
		if built != direct {
			t.Errorf("%s: written directly\n%s\nwant\n%s", name, direct, built)
		}
	}
}

// transactionHash is FNV-1a of transactionKey, without building it.
func TestTransactionHashOfKey(t *testing.T) {
	msg, err := sip.NewParser().ParseSIP([]byte("REGISTER sip:10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKa;rport\r\nFrom: <sip:bob@10.0.0.1>;tag=1\r\nTo: <sip:bob@10.0.0.1>\r\nCall-ID: c1\r\nCSeq: 4711 REGISTER\r\nContent-Length: 0\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	req := msg.(*sip.Request)
	req.SetSource("192.168.1.20:5060")
	h := fnv.New64a()
	io.WriteString(h, transactionKey(req))
	if got, want := transactionHash(req), h.Sum64()|1; got != want {
		t.Errorf("transactionHash = %x, want %x", got, want)
	}
}

// traceRecorder is the logs page's SIP trace as the registrar sees it (Tracer).
type traceRecorder struct {
	on   bool
	mu   sync.Mutex
	read []string
	at   []time.Time
}

func (t *traceRecorder) On() bool { return t.on }
func (t *traceRecorder) SIPTraceReadAt(at time.Time, transport, laddr, raddr string, msg []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.read = append(t.read, transport+" "+raddr+"\n"+string(msg))
	t.at = append(t.at, at)
}

func (t *traceRecorder) reads() ([]string, []time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.read), slices.Clone(t.at)
}

// The REGISTERs answered before sipgo sees them still show in the logs page's SIP trace, once
// each, as they came and with the time they came (before their answers were sent); with the
// trace off, nothing is recorded.
func TestTraceShowsRegistersAnsweredByTheReaders(t *testing.T) {
	for _, on := range []bool{true, false} {
		trace := &traceRecorder{on: on}
		r, stop := startTest(t, DefaultConfig(), testAccounts, WithSIPTrace(trace))
		p := newRegPhone(t, r)
		first := p.msg("tr1", 1, "")
		sent1 := time.Now()
		p.send(first)
		challenge := p.read(3 * time.Second)
		i := strings.Index(challenge, `nonce="`)
		if !strings.HasPrefix(challenge, "SIP/2.0 401") || i < 0 {
			t.Fatalf("REGISTER: %q, want 401", challenge)
		}
		answered1 := time.Now()
		nonce := challenge[i+7:]
		second := p.msg("tr2", 2, p.auth(nonce[:strings.IndexByte(nonce, '"')], "00000001"))
		sent2 := time.Now()
		p.send(second)
		if res := p.read(3 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200") {
			t.Fatalf("REGISTER with credentials: %q, want 200", res)
		}
		answered2 := time.Now()
		stop() // the readers have returned: whatever they traced is in
		got, at := trace.reads()
		if !on {
			if len(got) != 0 {
				t.Errorf("trace off: %d messages recorded", len(got))
			}
			continue
		}
		from := p.c.LocalAddr().String()
		want := []string{"UDP " + from + "\n" + first, "UDP " + from + "\n" + second}
		if !slices.Equal(got, want) {
			t.Fatalf("trace:\n%q\nwant:\n%q", got, want)
		}
		if at[0].Before(sent1) || at[0].After(answered1) || at[1].Before(sent2) || at[1].After(answered2) {
			t.Errorf("traced at %v, want between sending each REGISTER and its answer (%v–%v, %v–%v)",
				at, sent1, answered1, sent2, answered2)
		}
	}
}

// A phone that registers again at once (a retransmission after a lost answer, a quick
// re-registration) is answered without waiting for the disk, with the expiry its binding has on
// disk already; a power cut right after that 200 OK finds the binding as the phone was told.
func TestQuickRefreshIsGrantedTheExpiryOnDisk(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	r, _ := startTest(t, cfg, testAccounts)
	p := newRegPhone(t, r)
	p.send(p.msg("r1", 2, p.auth(p.challenge(), "00000001")))
	if res := p.read(3 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("REGISTER: %q, want 200", res)
	}
	first := r.loc.get("alcatel")
	p.send(p.msg("r2", 3, p.auth(p.challenge(), "00000001")))
	res := p.read(3 * time.Second)
	if !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("REGISTER again: %q, want 200", res)
	}
	again := r.loc.get("alcatel")
	if len(first) != 1 || len(again) != 1 || !again[0].Expires.Equal(first[0].Expires) || again[0].CSeq != 3 {
		t.Fatalf("after the quick refresh: %+v, want the binding of %+v with its expiry on disk and CSeq 3", again, first)
	}
	if secs := int(time.Until(again[0].Expires).Round(time.Second) / time.Second); !strings.Contains(res, fmt.Sprintf(";expires=%d", secs)) {
		t.Errorf("the 200 OK does not tell the phone its expiry on disk (%d s):\n%s", secs, res)
	}
	crash := powerCutCopy(t, cfg.DataDir)
	l := newLocation()
	if _, err := newStore(crash, l, slog.New(slog.DiscardHandler)).load(time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := l.get("alcatel"); len(got) != 1 || !got[0].Expires.Equal(again[0].Expires) {
		t.Fatalf("after a power cut: %+v, want the binding expiring at %v", got, again[0].Expires)
	}
}
