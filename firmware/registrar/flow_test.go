package registrar

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeBridge stands in for the WebRTC media bridge: it marks the SDP it passes on and records
// what the proxy asked.
type fakeBridge struct {
	mu    sync.Mutex
	calls []string
}

func (b *fakeBridge) note(s string) {
	b.mu.Lock()
	b.calls = append(b.calls, s)
	b.mu.Unlock()
}

func (b *fakeBridge) Offer(_ context.Context, callID, _, toTag string, fromBrowser bool, sdp []byte) ([]byte, error) {
	b.note(fmt.Sprintf("offer browser=%v", fromBrowser))
	return []byte(fmt.Sprintf("v=0\r\ns=bridged offer from browser=%v\r\n", fromBrowser)), nil
}

func (b *fakeBridge) Answer(_ context.Context, callID, _, _ string, fromBrowser bool, sdp []byte) ([]byte, error) {
	b.note(fmt.Sprintf("answer browser=%v", fromBrowser))
	return []byte(fmt.Sprintf("v=0\r\ns=bridged answer from browser=%v\r\n", fromBrowser)), nil
}

func (b *fakeBridge) Close(callID string) { b.note("close " + callID) }

func (b *fakeBridge) log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.calls, ", ")
}

// udpUA is a raw SIP phone on UDP.
type udpUA struct {
	t *testing.T
	c net.PacketConn
	r *Registrar
}

func (u *udpUA) send(msg string) {
	u.t.Helper()
	if _, err := u.c.WriteTo([]byte(msg), u.r.Addr()); err != nil {
		u.t.Fatal(err)
	}
}

// read returns the next message that is not a 100 Trying.
func (u *udpUA) read() string {
	u.t.Helper()
	buf := make([]byte, 8192)
	for {
		u.c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, _, err := u.c.ReadFrom(buf)
		if err != nil {
			u.t.Fatalf("no message from the registrar: %v", err)
		}
		if s := string(buf[:n]); !strings.HasPrefix(s, "SIP/2.0 100") {
			return s
		}
	}
}

func header(msg, name string) []string {
	var out []string
	for _, l := range strings.Split(msg, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

func body(msg string) string {
	_, b, _ := strings.Cut(msg, "\r\n\r\n")
	return b
}

// A plain phone calls a browser: the SDP goes through the bridge both ways, the Record-Route
// facing the browser names the WebSocket port and its flow, and the BYE reaches the browser over
// its connection although its binding is gone by then.
func TestBrowserCallRoutedByFlow(t *testing.T) {
	call := ringBrowser(t)
	r, bridge, browser, site, bob, host, in := call.r, call.bridge, call.browser, call.site, call.bob, call.host, call.invite
	c := bob.c
	if !strings.Contains(body(in), "bridged offer from browser=false") {
		t.Errorf("the browser's offer did not come from the bridge:\n%s", in)
	}
	rr := header(in, "Record-Route")
	wsPort := fmt.Sprint(site.srv.Listener.Addr().(*net.TCPAddr).Port)
	if len(rr) != 2 || !strings.Contains(rr[0], ":"+wsPort+";transport=ws") || !strings.Contains(rr[0], "dpf=") {
		t.Errorf("Record-Route %q: want the browser's side on top, with the WebSocket port, transport=ws and a flow token", rr)
	}
	// The browser answers.
	answer := "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"
	var vias string
	for _, v := range header(in, "Via") {
		vias += "Via: " + v + "\r\n"
	}
	var rrs string
	for _, v := range rr {
		rrs += "Record-Route: " + v + "\r\n"
	}
	browser.send(fmt.Sprintf("SIP/2.0 200 OK\r\n%s%sFrom: %s\r\nTo: %s;tag=browsertag\r\nCall-ID: gone-call\r\nCSeq: 2 INVITE\r\nContact: <sip:tab@xtab.invalid;transport=ws;ob>\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		vias, rrs, header(in, "From")[0], header(in, "To")[0], len(answer), answer))
	ok200 := bob.read()
	if !strings.HasPrefix(ok200, "SIP/2.0 200") || !strings.Contains(body(ok200), "bridged answer from browser=true") {
		t.Fatalf("bob got %q, want the 200 OK with the bridged answer", ok200)
	}
	// The browser's binding goes (another tab replaced it, say); the BYE still reaches it.
	r.loc.update("alcatel", func([]Binding) ([]Binding, bool) { return nil, true })
	var routes string
	rrBob := header(ok200, "Record-Route")
	for i := len(rrBob) - 1; i >= 0; i-- {
		routes += "Route: " + rrBob[i] + "\r\n"
	}
	bob.send(fmt.Sprintf("BYE sip:tab@xtab.invalid;transport=ws;ob SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKbye;rport\r\n%sMax-Forwards: 70\r\nFrom: <sip:bob@%s>;tag=bobtag\r\nTo: %s\r\nCall-ID: gone-call\r\nCSeq: 3 BYE\r\nContent-Length: 0\r\n\r\n",
		c.LocalAddr(), routes, host, header(ok200, "To")[0]))
	bye, ok := browser.next(3 * time.Second)
	if !ok || !strings.HasPrefix(bye, "BYE ") {
		t.Fatalf("the browser got %q, want the BYE over its connection", bye)
	}
	if got := bridge.log(); got != "offer browser=false, answer browser=true" {
		t.Errorf("bridge calls: %s", got)
	}
	byeVias := ""
	for _, v := range header(bye, "Via") {
		byeVias += "Via: " + v + "\r\n"
	}
	browser.send(fmt.Sprintf("SIP/2.0 200 OK\r\n%sFrom: %s\r\nTo: %s\r\nCall-ID: gone-call\r\nCSeq: 3 BYE\r\nContent-Length: 0\r\n\r\n", byeVias, header(bye, "From")[0], header(bye, "To")[0]))
	if res := bob.read(); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Errorf("BYE: bob got %q", res)
	}
	// The media is closed once the BYE's answer is on its way back: give it a moment.
	for deadline := time.Now().Add(2 * time.Second); !strings.HasSuffix(bridge.log(), "close gone-call"); {
		if time.Now().After(deadline) {
			t.Fatalf("the BYE did not end the bridged media: %s", bridge.log())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
