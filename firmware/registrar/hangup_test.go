package registrar

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/firmware/accounts"
	"github.com/deskphone/deskphone/firmware/sipcheck"
)

// browserCall sets up a call from bob (a plain phone on UDP) to a browser through the media
// bridge, answered; it returns bob's 200 OK.
type browserCall struct {
	r       *Registrar
	bridge  *fakeBridge
	browser *wsPeer
	site    *wsSite
	bob     *udpUA
	host    string
	ok200   string
	invite  string // as the browser got it
}

func startBrowserCall(t *testing.T, opts ...Option) *browserCall {
	t.Helper()
	call := ringBrowser(t, opts...)
	in := call.invite
	answer := "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"
	var vias, rrs string
	for _, v := range header(in, "Via") {
		vias += "Via: " + v + "\r\n"
	}
	for _, v := range header(in, "Record-Route") {
		rrs += "Record-Route: " + v + "\r\n"
	}
	call.browser.send(fmt.Sprintf("SIP/2.0 200 OK\r\n%s%sFrom: %s\r\nTo: %s;tag=browsertag\r\nCall-ID: gone-call\r\nCSeq: 2 INVITE\r\nContact: <sip:tab@xtab.invalid;transport=ws;ob>\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		vias, rrs, header(in, "From")[0], header(in, "To")[0], len(answer), answer))
	call.ok200 = call.bob.read()
	if !strings.HasPrefix(call.ok200, "SIP/2.0 200") {
		t.Fatalf("bob got %q, want the 200 OK", call.ok200)
	}
	return call
}

// ringBrowser has bob call the browser, up to the INVITE reaching it.
func ringBrowser(t *testing.T, opts ...Option) *browserCall {
	t.Helper()
	accts := mapAccounts{"alcatel": testAccounts["alcatel"], "bob": accounts.Account{Extension: "5003", Username: "bob", Password: "bob-secret-2"}}
	bridge := &fakeBridge{}
	r, _ := startTest(t, DefaultConfig(), accts, append([]Option{WithMediaBridge(bridge)}, opts...)...)
	site := &wsSite{r: r}
	site.srv = newWSServer(t, r)
	browser, err := site.dial(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if res := browser.register("tab", "b1", "alcatel-secret-1", 600); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("browser REGISTER: %q", res)
	}
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	bob := &udpUA{t: t, c: c, r: r}
	host := r.Addr().String()
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
	invite := func(cseq int, auth string) string {
		return fmt.Sprintf("INVITE sip:5001@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKinv%d;rport\r\nMax-Forwards: 70\r\nFrom: \"Bob\" <sip:bob@%s>;tag=bobtag\r\nTo: <sip:5001@%s>\r\nCall-ID: gone-call\r\nCSeq: %d INVITE\r\nContact: <sip:bob@%s;line=1>\r\n%sContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
			host, c.LocalAddr(), cseq, host, host, cseq, c.LocalAddr(), auth, len(sdp), sdp)
	}
	bob.send(invite(1, ""))
	res := bob.read()
	m := regexp.MustCompile(`nonce="([^"]+)"`).FindStringSubmatch(res)
	if m == nil {
		t.Fatalf("INVITE: %q, want a 407 challenge", res)
	}
	bob.send("ACK sip:5001@" + host + " SIP/2.0\r\nVia: SIP/2.0/UDP " + c.LocalAddr().String() + ";branch=z9hG4bKinv1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:bob@" + host + ">;tag=bobtag\r\nTo: " + header(res, "To")[0] + "\r\nCall-ID: gone-call\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n")
	cred := credentials{Username: "bob", Realm: "deskphone", Nonce: m[1], URI: "sip:5001@" + host, QOP: "auth", NC: "00000001", Cnonce: "abc"}
	resp := expectedResponse(cred, ha1("bob", "deskphone", "bob-secret-2"), "INVITE")
	bob.send(invite(2, fmt.Sprintf("Proxy-Authorization: Digest username=\"bob\", realm=\"deskphone\", nonce=\"%s\", uri=\"sip:5001@%s\", response=\"%s\", qop=auth, nc=00000001, cnonce=\"abc\", algorithm=MD5\r\n", m[1], host, resp)))
	in, ok := browser.next(3 * time.Second)
	if !ok || !strings.HasPrefix(in, "INVITE ") {
		t.Fatalf("the browser got %q, want the INVITE", in)
	}
	return &browserCall{r: r, bridge: bridge, browser: browser, site: site, bob: bob, host: host, invite: in}
}

func (b *browserCall) callState(t *testing.T) CallRecord {
	t.Helper()
	for _, c := range b.r.RecentCalls() {
		if c.callID == "gone-call" {
			return c
		}
	}
	t.Fatal("the call is not in the call list")
	return CallRecord{}
}

// The browser's tab closes mid-call (its WebSocket goes without a BYE): bob gets a BYE that
// names the dialog as he knows it, the bridged media is released and the call list says why.
func TestBrowserGoneHangsUpTheOtherPhone(t *testing.T) {
	call := startBrowserCall(t)
	call.browser.c.Close()
	bye := call.bob.read()
	if !strings.HasPrefix(bye, "BYE sip:bob@"+call.bob.c.LocalAddr().String()+";line=1 SIP/2.0") {
		t.Fatalf("bob got %q, want a BYE to his Contact", bye)
	}
	if from := header(bye, "From")[0]; !strings.Contains(from, "tag=browsertag") {
		t.Errorf("From %q: want the browser's side with its tag", from)
	}
	if to := header(bye, "To")[0]; !strings.Contains(to, "tag=bobtag") || !strings.Contains(to, "sip:bob@") {
		t.Errorf("To %q: want bob's own address and tag", to)
	}
	if cseq := header(bye, "CSeq")[0]; cseq != "1 BYE" {
		t.Errorf("CSeq %q: the browser sent no request, want 1 BYE", cseq)
	}
	if reason := header(bye, "Reason"); len(reason) != 1 || !strings.Contains(reason[0], "browser tab closed") {
		t.Errorf("Reason %q: want it to say the browser tab closed", reason)
	}
	if cid := header(bye, "Call-ID")[0]; cid != "gone-call" {
		t.Errorf("Call-ID %q", cid)
	}
	var vias string
	for _, v := range header(bye, "Via") {
		vias += "Via: " + v + "\r\n"
	}
	call.bob.send(fmt.Sprintf("SIP/2.0 200 OK\r\n%sFrom: %s\r\nTo: %s\r\nCall-ID: gone-call\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n", vias, header(bye, "From")[0], header(bye, "To")[0]))
	if got := call.bridge.log(); !strings.HasSuffix(got, "close gone-call") {
		t.Errorf("the media was not released: %s", got)
	}
	if rec := call.callState(t); rec.State != "ended" || !strings.Contains(rec.Reason, "browser tab closed") {
		t.Errorf("call list: %s (%s), want ended because the browser tab closed", rec.State, rec.Reason)
	}
}

// A bridge reports the media dead: both legs get a BYE (the browser over its connection, with
// a CSeq above bob's last request to it) and the call list names the silent phone.
func TestDeadMediaHangsUpBothLegs(t *testing.T) {
	reports := make(chan MediaReport)
	call := startBrowserCall(t, WithMediaReports(reports))
	reports <- MediaReport{CallID: "gone-call", Leg: LegBrowser, Silent: 30 * time.Second}
	bye := call.bob.read()
	if !strings.HasPrefix(bye, "BYE ") || !strings.Contains(header(bye, "Reason")[0], "no audio from 5001 for 30 s") {
		t.Fatalf("bob got %q, want a BYE saying the browser (5001) went silent", bye)
	}
	toBrowser, ok := call.browser.next(3 * time.Second)
	if !ok || !strings.HasPrefix(toBrowser, "BYE sip:tab@xtab.invalid") {
		t.Fatalf("the browser got %q, want a BYE to its Contact", toBrowser)
	}
	if cseq := header(toBrowser, "CSeq")[0]; cseq != "3 BYE" {
		t.Errorf("CSeq to the browser %q, want 3 BYE (bob's INVITE was 2)", cseq)
	}
	if from, to := header(toBrowser, "From")[0], header(toBrowser, "To")[0]; !strings.Contains(from, "tag=bobtag") || !strings.Contains(to, "tag=browsertag") {
		t.Errorf("From %q To %q: want bob's tag in From, the browser's in To", from, to)
	}
	if rec := call.callState(t); !strings.Contains(rec.Reason, "no audio from 5001") {
		t.Errorf("call list reason %q", rec.Reason)
	}
	// A second report of the same call finds nothing to end.
	if call.r.endCall("gone-call", -1, "again") {
		t.Error("the call was ended twice")
	}
}

// The browser's tab closes while it rings: its branch ends at once (not after Timer B), and bob,
// who called only it, gets a final answer.
func TestBrowserGoneWhileRinging(t *testing.T) {
	call := ringBrowser(t)
	call.browser.c.Close()
	res := call.bob.read()
	if code := statusCode(res); code < 400 {
		t.Fatalf("bob got %q, want a final failure", res)
	}
	// The call list is written once the answer is on its way to bob: give it a moment.
	for deadline := time.Now().Add(2 * time.Second); call.callState(t).State != "failed"; {
		if time.Now().After(deadline) {
			t.Fatalf("call list: %s, want failed", call.callState(t).State)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func statusCode(res string) int {
	var code int
	fmt.Sscanf(res, "SIP/2.0 %d", &code)
	return code
}

// A BYE through the proxy forgets the call: a later closed tab ends nothing.
func TestByeForgetsAnchoredCall(t *testing.T) {
	call := startBrowserCall(t)
	var routes string
	rr := header(call.ok200, "Record-Route")
	for i := len(rr) - 1; i >= 0; i-- {
		routes += "Route: " + rr[i] + "\r\n"
	}
	call.bob.send(fmt.Sprintf("BYE sip:tab@xtab.invalid;transport=ws;ob SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKbye;rport\r\n%sMax-Forwards: 70\r\nFrom: <sip:bob@%s>;tag=bobtag\r\nTo: %s\r\nCall-ID: gone-call\r\nCSeq: 3 BYE\r\nContent-Length: 0\r\n\r\n",
		call.bob.c.LocalAddr(), routes, call.host, header(call.ok200, "To")[0]))
	if bye, ok := call.browser.next(3 * time.Second); !ok || !strings.HasPrefix(bye, "BYE ") {
		t.Fatalf("the browser got %q, want the BYE", bye)
	}
	if c := call.r.anchored.peek("gone-call"); c != nil {
		t.Error("the call is still watched after its BYE")
	}
}

func parseMsg(t *testing.T, raw string) sip.Message {
	t.Helper()
	m, err := sipcheck.NewParser().ParseSIP([]byte(strings.ReplaceAll(raw, "\n", "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The dialog of each leg as a BYE names it: tags swapped per side, the route set beyond this
// proxy on each side, CSeq above the other side's last request, and target refreshes.
func TestAnchoredDialogLegs(t *testing.T) {
	ours := func(u sip.Uri) bool { return u.Host == "pi.lan" }
	resolve := func(u sip.Uri) (string, string, bool) { return u.Host + ":5060", "UDP", true }
	inv := parseMsg(t, `INVITE sip:5001@pi.lan SIP/2.0
Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKa
Record-Route: <sip:edge.lan;lr>
From: "Alice" <sip:5003@pi.lan>;tag=atag
To: <sip:5001@pi.lan>
Call-ID: legs
CSeq: 10 INVITE
Contact: <sip:alice@10.0.0.9:5070>
Content-Length: 0

`).(*sip.Request)
	inv.SetSource("10.0.0.9:5060")
	inv.SetTransport("UDP")
	ok := parseMsg(t, `SIP/2.0 200 OK
Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKa
Record-Route: <sip:desk.lan;lr>
Record-Route: <sip:pi.lan;lr;dpr=x>
Record-Route: <sip:edge.lan;lr>
From: "Alice" <sip:5003@pi.lan>;tag=atag
To: <sip:5001@pi.lan>;tag=btag
Call-ID: legs
CSeq: 10 INVITE
Contact: <sip:alcatel@10.0.0.5:5060>
Content-Length: 0

`).(*sip.Response)
	c, err := newAnchoredCall(inv, ok, Binding{Source: "10.0.0.5:5060", Transport: "UDP"}, "5003", "5001", ours, resolve)
	if err != nil {
		t.Fatal(err)
	}
	caller, callee := c.legs[0], c.legs[1]
	uris := func(us []sip.Uri) string {
		var out []string
		for _, u := range us {
			out = append(out, u.String())
		}
		return strings.Join(out, ", ")
	}
	for _, x := range []struct{ name, got, want string }{
		{"caller target", caller.target.String(), "sip:alice@10.0.0.9:5070"},
		{"caller From (the callee's)", caller.from.Value(), "<sip:5001@pi.lan>;tag=btag"},
		{"caller To (its own)", caller.to.Value(), "\"Alice\" <sip:5003@pi.lan>;tag=atag"},
		{"caller routes", uris(caller.routes), "sip:edge.lan;lr"},
		{"caller hop", caller.dest, "edge.lan:5060"},
		{"callee target", callee.target.String(), "sip:alcatel@10.0.0.5:5060"},
		{"callee From (the caller's)", callee.from.Value(), "\"Alice\" <sip:5003@pi.lan>;tag=atag"},
		{"callee To (its own)", callee.to.Value(), "<sip:5001@pi.lan>;tag=btag"},
		{"callee routes", uris(callee.routes), "sip:desk.lan;lr"},
		{"callee hop", callee.dest, "desk.lan:5060"},
		{"CSeq toward the callee", fmt.Sprint(callee.cseq), "10"},
		{"CSeq toward the caller", fmt.Sprint(caller.cseq), "0"},
	} {
		if x.got != x.want {
			t.Errorf("%s: %s, want %s", x.name, x.got, x.want)
		}
	}
	var set anchoredCalls
	set.add(c)
	reinv := parseMsg(t, `INVITE sip:alice@10.0.0.9:5070 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKb
From: <sip:5001@pi.lan>;tag=btag
To: <sip:5003@pi.lan>;tag=atag
Call-ID: legs
CSeq: 41 INVITE
Contact: <sip:alcatel@10.0.0.6:5060>
Content-Length: 0

`).(*sip.Request)
	set.saw(reinv)
	if caller.cseq != 41 || callee.target.String() != "sip:alcatel@10.0.0.6:5060" {
		t.Errorf("after the callee's re-INVITE: CSeq toward the caller %d (want 41), callee target %s (want its new Contact)", caller.cseq, callee.target.String())
	}
	r := &Registrar{cfg: DefaultConfig(), listenPort: 5060}
	bye := r.byeRequest("legs", caller, `a "quoted" reason`)
	if got := bye.CSeq().Value(); got != "42 BYE" {
		t.Errorf("BYE CSeq %s, want 42 BYE", got)
	}
	if got := bye.Route(); got == nil || got.Address.Host != "edge.lan" {
		t.Errorf("BYE Route %v, want the caller-side proxy", got)
	}
	if got := bye.GetHeader("Reason").Value(); got != `SIP;cause=408;text="a 'quoted' reason"` {
		t.Errorf("Reason %s", got)
	}
	if bye.Recipient.String() != "sip:alice@10.0.0.9:5070" || bye.Destination() != "edge.lan:5060" {
		t.Errorf("BYE goes to %s via %s", bye.Recipient.String(), bye.Destination())
	}
}

func TestReportReason(t *testing.T) {
	c := &anchoredCall{legs: [2]*dialogLeg{{ext: "5003", ws: true}, {ext: "5001"}}}
	for _, x := range []struct {
		rep  MediaReport
		want string
	}{
		{MediaReport{Leg: LegCaller, Silent: 30 * time.Second}, "no audio from 5003 for 30 s"},
		{MediaReport{Leg: LegPhone, Silent: 120 * time.Second}, "no audio from 5001 for 120 s"},
		{MediaReport{Leg: LegBrowser, Cause: "ICE connectivity lost"}, "media of 5003 failed: ICE connectivity lost"},
		{MediaReport{Silent: time.Minute}, "no audio from either phone for 60 s"},
	} {
		if got := reportReason(c, x.rep); got != x.want {
			t.Errorf("%+v: %q, want %q", x.rep, got, x.want)
		}
	}
}

// A browser whose WebSocket closed just before its ringing call was watched (it got the INVITE
// and its tab closed at once) still cancels the call: nothing waits for a close already past.
func TestBrowserGoneBeforeRingingIsWatched(t *testing.T) {
	r, _ := startTest(t, DefaultConfig(), testAccounts)
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "5001", Host: "127.0.0.1"})
	req.SetTransport("WS")
	req.SetSource("127.0.0.1:40999") // no WebSocket connection from there any more
	cancelled := make(chan struct{}, 1)
	stop := r.watchRinging(req, nil, cancelled)
	defer stop()
	select {
	case <-cancelled:
	default:
		t.Fatal("the call of a browser already gone was not cancelled")
	}
}

// A BYE for another dialog of the same Call-ID (a second phone of a forked call answered too,
// and the caller hangs that one up, RFC 3261 §16.7) leaves the anchored call alone: its media
// stays up and it is still watched.
func TestByeOfAnotherDialogKeepsTheAnchoredCall(t *testing.T) {
	call := startBrowserCall(t)
	var routes string
	rr := header(call.ok200, "Record-Route")
	for i := len(rr) - 1; i >= 0; i-- {
		routes += "Route: " + rr[i] + "\r\n"
	}
	call.bob.send(fmt.Sprintf("BYE sip:other@127.0.0.1:9 SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKbye2;rport\r\n%sMax-Forwards: 70\r\nFrom: <sip:bob@%s>;tag=bobtag\r\nTo: <sip:5001@%s>;tag=second-phone\r\nCall-ID: gone-call\r\nCSeq: 3 BYE\r\nContent-Length: 0\r\n\r\n",
		call.bob.c.LocalAddr(), routes, call.host, call.host))
	time.Sleep(100 * time.Millisecond) // nothing to wait for: the BYE must change nothing
	if c := call.r.anchored.peek("gone-call"); c == nil {
		t.Error("the answered call is no longer watched after another dialog's BYE")
	}
	if strings.Contains(call.bridge.log(), "close gone-call") {
		t.Errorf("another dialog's BYE closed the call's media: %s", call.bridge.log())
	}
	if rec := call.callState(t); rec.State != "answered" {
		t.Errorf("call list: %s, want answered", rec.State)
	}
}
