package sipua

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// fakeMedia answers SDP with a fixed PCMU description and records what it was asked.
type fakeMedia struct {
	ip    string
	mu    sync.Mutex
	held  bool
	sent  chan string // digits asked to be sent
	infos []rune
	dtmf  chan rune
	quiet time.Duration // Silence: the far end silent this long, past the RTP timeout
}

func (f *fakeMedia) sdp(dir string) []byte {
	return []byte(fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=%s\r\n", f.ip, f.ip, dir))
}
func (f *fakeMedia) Offer() ([]byte, error) { return f.sdp("sendrecv"), nil }
func (f *fakeMedia) AcceptOffer(remote []byte) ([]byte, error) {
	if !strings.Contains(string(remote), "m=audio") {
		return nil, fmt.Errorf("no audio")
	}
	return f.sdp("sendrecv"), nil
}
func (f *fakeMedia) AcceptAnswer(remote []byte) error { return nil }
func (f *fakeMedia) Update(remote []byte) ([]byte, error) {
	if strings.Contains(string(remote), "a=sendonly") {
		return f.sdp("recvonly"), nil
	}
	return f.sdp("sendrecv"), nil
}
func (f *fakeMedia) Hold(on bool) ([]byte, error) {
	f.mu.Lock()
	f.held = on
	f.mu.Unlock()
	if on {
		return f.sdp("sendonly"), nil
	}
	return f.sdp("sendrecv"), nil
}
func (f *fakeMedia) SendDTMF(d string) error {
	f.sent <- d
	return nil
}
func (f *fakeMedia) ReceiveSIPInfoDTMF(r rune) { f.dtmf <- r }
func (f *fakeMedia) DTMF() <-chan rune         { return f.dtmf }
func (f *fakeMedia) Close() error              { return nil }
func (f *fakeMedia) Silence() (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.quiet, f.quiet > 0
}

// events records listener calls as lines such as "incoming in-1 alice".
type events struct {
	ch chan string
}

func newEvents() *events                       { return &events{ch: make(chan string, 100)} }
func (e *events) CallIncoming(id, peer string) { e.ch <- "incoming " + id + " " + peer }
func (e *events) CallProgress(id string, early bool) {
	e.ch <- fmt.Sprintf("progress %s %v", id, early)
}
func (e *events) CallAnswered(id string) { e.ch <- "answered " + id }
func (e *events) CallEnded(id, reason string, code int) {
	e.ch <- fmt.Sprintf("ended %s %s %d", id, reason, code)
}
func (e *events) CallRemoteHold(id string, on bool) { e.ch <- fmt.Sprintf("remotehold %s %v", id, on) }
func (e *events) CallReferred(id, to string)        { e.ch <- "referred " + id + " " + to }
func (e *events) CallSilent(id string, d time.Duration) {
	e.ch <- fmt.Sprintf("silent %s %.0fs", id, d.Seconds())
}
func (e *events) CallReplaced(id, old, peer string) {
	e.ch <- "replaced " + old + " by " + id + " " + peer
}
func (e *events) DTMFReceived(id string, d rune)  { e.ch <- "dtmf " + id + " " + string(d) }
func (e *events) RegistrationChanged(s, d string) { e.ch <- "reg " + s + " " + d }
func (e *events) TransferFailed(id, d string)     { e.ch <- "transfer-failed " + id + " " + d }

// want waits for an event starting with prefix, skipping others.
func (e *events) want(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-e.ch:
			if strings.HasPrefix(ev, prefix) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no event %q", prefix)
			return ""
		}
	}
}

// wantAll waits for events starting with each of want, in any order, skipping others.
func (e *events) wantAll(t *testing.T, want ...string) {
	t.Helper()
	missing := map[string]bool{}
	for _, w := range want {
		missing[w] = true
	}
	timeout := time.After(10 * time.Second)
	for len(missing) > 0 {
		select {
		case ev := <-e.ch:
			for w := range missing {
				if strings.HasPrefix(ev, w) {
					delete(missing, w)
					break
				}
			}
		case <-timeout:
			t.Fatalf("no events %v", missing)
		}
	}
}

func testLog(t *testing.T) *slog.Logger {
	if os.Getenv("SIPUA_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startUA(t *testing.T, ext string) (*UA, *events, *fakeMedia) {
	t.Helper()
	return startUAOn(t, "127.0.0.1:0", ext)
}

func startUAOn(t *testing.T, listen, ext string) (*UA, *events, *fakeMedia) {
	t.Helper()
	ev := newEvents()
	fm := &fakeMedia{ip: "127.0.0.1", dtmf: make(chan rune, 10), sent: make(chan string, 10)}
	u := runUA(t, Config{Listen: listen, Extension: ext,
		NewMedia: func(ip string) (MediaSession, error) { return fm, nil }}, ev)
	return u, ev, fm
}

// runUA builds a user agent and runs it until the test ends.
func runUA(t *testing.T, cfg Config, ev *events) *UA {
	t.Helper()
	u, err := New(cfg, ev, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { u.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return u
}

// TestCallBetweenTwoUAs places a call from one user agent to another without a registrar and walks
// it through answer, hold, SIP INFO DTMF and hang-up.
func TestCallBetweenTwoUAs(t *testing.T) {
	a, aev, afm := startUA(t, "alice")
	b, bev, _ := startUA(t, "bob")

	a.Dial("out-1", "bob@"+b.Addr(), "")
	in := bev.want(t, "incoming ")
	if in != "incoming in-1 alice" {
		t.Fatalf("got %q", in)
	}
	b.Alert("in-1")
	aev.want(t, "progress out-1 false")
	b.Answer("in-1")
	aev.want(t, "answered out-1")
	bev.want(t, "answered in-1")

	a.Hold("out-1", true)
	bev.want(t, "remotehold in-1 true")
	a.Hold("out-1", false)
	bev.want(t, "remotehold in-1 false")

	a.SendDTMF("out-1", "12#")
	select {
	case sent := <-afm.sent:
		if sent != "12#" {
			t.Fatalf("DTMF sent %q", sent)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("DTMF not sent")
	}

	b.Hangup("in-1")
	aev.want(t, "ended out-1 bye")
	bev.want(t, "ended in-1 hangup")
}

// The far end goes silent past the RTP timeout: the phone hears it once, and its hang-up
// reaches the far end.
func TestSilentFarEndReported(t *testing.T) {
	a, aev, afm := startUA(t, "alice")
	b, bev, _ := startUA(t, "bob")
	a.Dial("out-1", "bob@"+b.Addr(), "")
	bev.want(t, "incoming in-1")
	b.Answer("in-1")
	aev.want(t, "answered out-1")
	bev.want(t, "answered in-1")
	afm.mu.Lock()
	afm.quiet = 61 * time.Second
	afm.mu.Unlock()
	aev.want(t, "silent out-1 61s")
	a.Hangup("out-1")
	aev.want(t, "ended out-1 hangup")
	bev.want(t, "ended in-1 bye")
	select {
	case ev := <-aev.ch:
		t.Errorf("after the hang-up: %s", ev)
	case <-time.After(1500 * time.Millisecond):
	}
}

func TestRejectAndCancel(t *testing.T) {
	a, aev, _ := startUA(t, "alice")
	b, bev, _ := startUA(t, "bob")

	a.Dial("out-1", "bob@"+b.Addr(), "")
	bev.want(t, "incoming in-1")
	b.Reject("in-1", 486)
	if got := aev.want(t, "ended out-1"); got != "ended out-1 failed 486" {
		t.Fatalf("got %q", got)
	}

	a.Dial("out-2", "bob@"+b.Addr(), "")
	bev.want(t, "incoming in-2")
	b.Alert("in-2")
	aev.want(t, "progress out-2")
	a.Hangup("out-2")
	if got := aev.want(t, "ended out-2"); got != "ended out-2 cancelled 487" {
		t.Fatalf("got %q", got)
	}
	if got := bev.want(t, "ended in-2"); got != "ended in-2 cancelled 487" {
		t.Fatalf("got %q", got)
	}
}

func TestBlindTransfer(t *testing.T) {
	a, aev, _ := startUA(t, "alice")
	b, bev, _ := startUA(t, "bob")
	c, cev, _ := startUA(t, "carol")

	a.Dial("out-1", "bob@"+b.Addr(), "")
	bev.want(t, "incoming in-1")
	b.Answer("in-1")
	aev.want(t, "answered out-1")

	// Bob transfers Alice to Carol.
	b.Transfer("in-1", "carol@"+c.Addr())
	ref := aev.want(t, "referred out-1 ")
	to := strings.TrimPrefix(ref, "referred out-1 ")
	a.Dial("out-2", to, "out-1")
	cev.want(t, "incoming in-1 alice")
	c.Answer("in-1")
	aev.want(t, "answered out-2")
	bev.want(t, "ended in-1 ")
	aev.want(t, "ended out-1 ")
}

func TestSDPHolds(t *testing.T) {
	for sdp, want := range map[string]bool{
		"v=0\r\nc=IN IP4 10.0.0.1\r\na=sendonly\r\n": true,
		"v=0\r\nc=IN IP4 10.0.0.1\r\na=inactive\r\n": true,
		"v=0\r\nc=IN IP4 0.0.0.0\r\n":                true,
		"v=0\r\nc=IN IP4 10.0.0.1\r\na=sendrecv\r\n": false,
		"v=0\r\nc=IN IP4 10.0.0.1\r\na=recvonly\r\n": false,
	} {
		if got := sdpHolds([]byte(sdp)); got != want {
			t.Errorf("sdpHolds(%q) = %v", sdp, got)
		}
	}
}

func TestSipfragStatus(t *testing.T) {
	for body, want := range map[string]int{"SIP/2.0 200 OK\r\n": 200, "SIP/2.0 100 Trying": 100, "garbage": 0, "SIP/2.0 99 x": 0} {
		if got, _ := sipfragStatus([]byte(body)); got != want {
			t.Errorf("sipfragStatus(%q) = %d", body, got)
		}
	}
}

// With a registrar configured, a direct INVITE from another address (a scanner) is refused with 403
// and never rings.
func TestDirectCallRefusedWhenRegistered(t *testing.T) {
	ev := newEvents()
	fm := &fakeMedia{ip: "127.0.0.1", dtmf: make(chan rune, 10), sent: make(chan string, 10)}
	u := runUA(t, Config{Listen: "127.0.0.1:0", Extension: "5002", Registrar: "127.0.0.1:9", // nothing answers there
		BackoffMin: time.Hour, NewMedia: func(ip string) (MediaSession, error) { return fm, nil }}, ev)

	scanner, sev, _ := startUAOn(t, "127.0.0.2:0", "scanner")
	scanner.Dial("out-1", "5002@"+u.Addr(), "")
	if got := sev.want(t, "ended out-1"); got != "ended out-1 failed 403" {
		t.Fatalf("got %q", got)
	}
	select {
	case e := <-ev.ch:
		if strings.HasPrefix(e, "incoming") {
			t.Fatalf("the phone rang: %s", e)
		}
	default:
	}
}

// A retransmitted 200 OK (the far end did not get our ACK) is ACKed again (RFC 3261 §13.2.2.4).
func TestReACKRetransmitted2xx(t *testing.T) {
	a, aev, _ := startUA(t, "alice")
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	read := func() *sip.Request {
		t.Helper()
		buf := make([]byte, 4096)
		for {
			peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err := peer.ReadFromUDP(buf)
			if err != nil {
				t.Fatal(err)
			}
			msg, err := sip.ParseMessage(buf[:n])
			if err != nil {
				t.Fatal(err)
			}
			if req, ok := msg.(*sip.Request); ok {
				return req
			}
		}
	}
	a.Dial("out-1", "bob@"+peer.LocalAddr().String(), "")
	inv := read()
	if inv.Method != sip.INVITE {
		t.Fatalf("got %s", inv.Method)
	}
	res := sip.NewResponseFromRequest(inv, 200, "OK", []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0\r\n"))
	res.To().Params.Add("tag", "bobtag")
	res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: peer.LocalAddr().(*net.UDPAddr).Port}})
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	dst, _ := net.ResolveUDPAddr("udp", a.Addr())
	send := func() {
		if _, err := peer.WriteToUDP([]byte(res.String()), dst); err != nil {
			t.Fatal(err)
		}
	}
	send()
	if ack := read(); ack.Method != sip.ACK {
		t.Fatalf("got %s, want ACK", ack.Method)
	}
	aev.want(t, "answered out-1")
	send() // as if our first ACK was lost
	if ack := read(); ack.Method != sip.ACK {
		t.Fatalf("got %s, want a second ACK", ack.Method)
	}
}

// A phone that reaches the built-in registrar over loopback still puts a LAN address in its SDP
// when it listens on every interface: a loopback address would leave LAN peers mute.
func TestMediaIPLeavesLoopbackForLANPeers(t *testing.T) {
	var lan net.IP
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
			lan = ipn.IP
			break
		}
	}
	if lan == nil {
		t.Skip("this machine has no LAN address to test with")
	}
	offer := func(ip string) []byte {
		return []byte("v=0\r\no=- 1 1 IN IP4 " + ip + "\r\ns=-\r\nc=IN IP4 " + ip + "\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n")
	}
	all := &UA{localIP: "127.0.0.1", boundAll: true}
	if got := all.mediaIP(offer(lan.String())); got != lan.String() {
		t.Errorf("answer to a LAN peer at %s carries %s, want %s", lan, got, lan)
	}
	if got := all.mediaIP(offer("127.0.0.1")); got != "127.0.0.1" {
		t.Errorf("answer to a loopback peer carries %s, want 127.0.0.1", got)
	}
	if got := net.ParseIP(all.mediaIP(nil)); got == nil {
		t.Errorf("offer address %v is not an IP", got)
	}
	only := &UA{localIP: "127.0.0.1", boundAll: false}
	if got := only.mediaIP(offer(lan.String())); got != "127.0.0.1" {
		t.Errorf("a phone bound to loopback only advertises %s", got)
	}
	if got := sdpConnectionIP([]byte("c=IN IP4 10.1.1.1\r\nm=audio 1 RTP/AVP 0\r\nc=IN IP4 10.2.2.2\r\n")); !got.Equal(net.ParseIP("10.2.2.2")) {
		t.Errorf("media-level c= not preferred: %v", got)
	}
}

// Attended transfer (RFC 5589 §7) with all three roles played by user agents: Alice talks to Bob
// and to Carol, and hands Bob to Carol. Bob gets a REFER whose Refer-To carries Replaces, calls
// Carol with it, Carol's new call takes the place of her call with Alice (answered at once, the old
// one hung up), and Alice's call with Bob ends as transferred.
func TestAttendedTransfer(t *testing.T) {
	alice, aev, _ := startUA(t, "alice")
	bob, bev, _ := startUA(t, "bob")
	carol, cev, _ := startUA(t, "carol")

	alice.Dial("out-1", "bob@"+bob.Addr(), "")
	bev.want(t, "incoming in-1")
	bob.Answer("in-1")
	aev.want(t, "answered out-1")
	alice.Hold("out-1", true)
	bev.want(t, "remotehold in-1 true")
	alice.Dial("out-2", "carol@"+carol.Addr(), "")
	cev.want(t, "incoming in-1")
	carol.Answer("in-1")
	aev.want(t, "answered out-2")

	alice.AttendedTransfer("out-1", "out-2")
	to := strings.TrimPrefix(bev.want(t, "referred in-1 "), "referred in-1 ")
	if !strings.Contains(to, "carol@") || !strings.Contains(to, "?Replaces=") {
		t.Fatalf("Refer-To %q names no Replaces for Carol's call", to)
	}
	bob.Dial("out-1", to, "in-1")
	cev.wantAll(t, "replaced in-1 by in-2 bob", "ended in-1 replaced 0", "answered in-2")
	aev.wantAll(t, "ended out-2 bye 0", "ended out-1 transferred 0")
	bev.wantAll(t, "answered out-1", "ended in-1 ") // by its own BYE, or Alice's if first

	// A Replaces naming no call of Carol's is refused: 481, and nothing rings.
	bob.Dial("out-3", "carol@"+carol.Addr()+"?Replaces="+url.QueryEscape("nosuchcall;to-tag=a;from-tag=b"), "")
	if got := bev.want(t, "ended out-3"); got != "ended out-3 failed 481" {
		t.Fatalf("bogus Replaces: %q", got)
	}
}
