package registrar

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/firmware/accounts"
)

func TestPlanSRTP(t *testing.T) {
	acct := func(ext, srtp string) accounts.Account { return accounts.Account{Extension: ext, SRTP: srtp} }
	for _, c := range []struct {
		name                 string
		crypto               bool
		in, out              string
		callerPol, calleePol string
		bridgeOn             bool
		want                 srtpPlan
		refuse               string // part of the reason
	}{
		{"TLS softphone with keys to the Alcatel", true, "TLS", "UDP", "", "", true, srtpPlan{bridge: true, callerSRTP: true}, ""},
		{"same, bridging off", true, "TLS", "UDP", "", "", false, srtpPlan{}, "srtp_bridge = false"},
		{"two TLS softphones with keys", true, "TLS", "TLS", "", "", true, srtpPlan{callerSRTP: true, calleeSRTP: true}, ""},
		{"keys to a TLS phone whose account is off", true, "TLS", "TLS", "", "off", true, srtpPlan{bridge: true, callerSRTP: true}, ""},
		{"Alcatel to a TLS softphone, optional", false, "UDP", "TLS", "", "optional", true, srtpPlan{bridge: true, calleeSRTP: true}, ""},
		{"Alcatel to a TLS softphone, mandatory", false, "UDP", "TLS", "", "mandatory", true, srtpPlan{bridge: true, calleeSRTP: true}, ""},
		{"Alcatel to optional, bridging off: plain", false, "UDP", "TLS", "", "optional", false, srtpPlan{}, ""},
		{"Alcatel to mandatory, bridging off", false, "UDP", "TLS", "", "mandatory", false, srtpPlan{}, "srtp_bridge = false"},
		{"Alcatel to a TLS softphone, default", false, "UDP", "TLS", "", "", true, srtpPlan{}, ""},
		{"plain UDP to UDP", false, "UDP", "UDP", "", "", true, srtpPlan{}, ""},
		{"mandatory account registered over UDP", false, "UDP", "UDP", "", "mandatory", true, srtpPlan{}, "registered over UDP"},
		{"mandatory caller over UDP", true, "UDP", "TLS", "mandatory", "", true, srtpPlan{}, "calls over UDP"},
		{"mandatory caller without keys", false, "TLS", "TLS", "mandatory", "", true, srtpPlan{}, "no SRTP key"},
		{"keys over UDP pass as before", true, "UDP", "UDP", "", "", true, srtpPlan{}, ""},
	} {
		p := planSRTP(c.crypto, c.in, c.out, acct("5003", c.callerPol), acct("5001", c.calleePol), c.bridgeOn)
		if c.refuse != "" {
			if !strings.Contains(p.refuse, c.refuse) {
				t.Errorf("%s: refuse %q, want it to say %q", c.name, p.refuse, c.refuse)
			}
			continue
		}
		if p != c.want {
			t.Errorf("%s: plan %+v, want %+v", c.name, p, c.want)
		}
	}
}

func TestCallRecordsSayHowEachLegWasProtected(t *testing.T) {
	var c callRecords
	now := time.Unix(1000, 0)
	c.begin("a", "5003", "5001", "TLS", now)
	c.answered("a", "UDP", []byte("m=audio 1 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n"), []byte("m=audio 2 RTP/AVP 0\r\n"), BridgeSRTP, now)
	c.begin("b", "5001", "5004", "UDP", now)
	c.failed("b", 488, "srtp_bridge = false")
	for i := range maxCallRecords + 5 {
		c.begin(string(rune('c'+i)), "5003", "5004", "ws", now)
	}
	got := c.recent(now.Add(5 * time.Second))
	if len(got) != maxCallRecords {
		t.Fatalf("%d records, want the last %d", len(got), maxCallRecords)
	}
	c = callRecords{}
	c.begin("a", "5003", "5001", "TLS", now)
	c.answered("a", "UDP", []byte("m=audio 1 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n"), []byte("m=audio 2 RTP/AVP 0\r\n"), BridgeSRTP, now)
	c.ended("a", now.Add(7*time.Second))
	rec := c.recent(now)[0]
	if rec.CallerMedia != MediaSRTP || rec.CalleeMedia != MediaRTP || rec.CallerTransport != "TLS" || rec.CalleeTransport != "UDP" ||
		rec.Duration != 7 || !strings.Contains(rec.Protection, "SRTP on 5003's leg, plain RTP to 5001 (bridged by the Pi)") {
		t.Fatalf("record %+v", rec)
	}
}

// A call to an account with srtp = "mandatory" whose phone registered over UDP is refused with
// 488 and a Warning saying why, before any phone rings.
func TestMandatorySRTPOverUDPIsRefusedWithWarning(t *testing.T) {
	accts := mapAccounts{
		"alcatel":   {Extension: "5001", Username: "alcatel", Password: "alcatel-secret-1", SRTP: srtpMandatory},
		"guillaume": {Extension: "5003", Username: "guillaume", Password: "guillaume-secret-3"},
	}
	r, _ := startTest(t, Config{}, accts)
	if res := register(t, r, "alcatel", "alcatel-secret-1"); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("REGISTER: %.80q", res)
	}
	c, err := net.Dial("udp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	host := r.Addr().String()
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
	invite := func(cseq int, auth string) []byte {
		s := fmt.Sprintf("INVITE sip:5001@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKinv%d;rport\r\nFrom: <sip:guillaume@%s>;tag=7\r\nTo: <sip:5001@%s>\r\nCall-ID: srtp-unit\r\nCSeq: %d INVITE\r\nContact: <sip:guillaume@%s>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\n",
			host, c.LocalAddr(), cseq, host, host, cseq, c.LocalAddr())
		if auth != "" {
			s += "Proxy-Authorization: " + auth + "\r\n"
		}
		return []byte(fmt.Sprintf("%sContent-Length: %d\r\n\r\n%s", s, len(sdp), sdp))
	}
	read := func() string {
		for {
			buf := make([]byte, 4096)
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("no answer from the registrar: %v", err)
			}
			if res := string(buf[:n]); !strings.HasPrefix(res, "SIP/2.0 100") {
				return res
			}
		}
	}
	c.Write(invite(1, ""))
	res := read()
	i := strings.Index(res, `nonce="`)
	if i < 0 {
		t.Fatalf("no challenge: %.80q", res)
	}
	nonce := res[i+7:]
	nonce = nonce[:strings.IndexByte(nonce, '"')]
	cred := credentials{Username: "guillaume", Realm: "deskphone", Nonce: nonce, URI: "sip:5001@" + host, QOP: "auth", NC: "00000001", Cnonce: "abc"}
	resp := expectedResponse(cred, ha1("guillaume", "deskphone", "guillaume-secret-3"), "INVITE")
	c.Write(invite(2, fmt.Sprintf(`Digest username="guillaume", realm="deskphone", nonce="%s", uri="sip:5001@%s", response="%s", qop=auth, nc=00000001, cnonce="abc", algorithm=MD5`, nonce, host, resp)))
	res = read()
	if !strings.HasPrefix(res, "SIP/2.0 488") || !strings.Contains(res, `Warning: 399 deskphone "extension 5001 must have encrypted media (srtp = mandatory), but its phone registered over UDP, not TLS"`) {
		t.Fatalf("want 488 with a Warning, got:\n%s", res)
	}
	if calls := r.RecentCalls(); len(calls) != 1 || calls[0].Status != 488 || calls[0].State != "failed" {
		t.Fatalf("call list %+v", calls)
	}
}

// recordingSRTP is an SRTPBridge that records what the proxy asks of it.
type recordingSRTP struct {
	mu      sync.Mutex
	started []string
	expect  map[bool]netip.Addr
	closed  []string
	refuse  error // what Answer returns
	answers int
}

func (f *recordingSRTP) Start(callID string, _, _ bool, _, _ netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = append(f.started, callID)
	return nil
}

func (f *recordingSRTP) Expect(_ string, fromCaller bool, src netip.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.expect == nil {
		f.expect = map[bool]netip.Addr{}
	}
	f.expect[fromCaller] = src
}

func (f *recordingSRTP) Offer(_ context.Context, _ string, _ bool, sdp []byte) ([]byte, error) {
	return sdp, nil
}

func (f *recordingSRTP) Answer(_ context.Context, _ string, _ bool, sdp []byte) ([]byte, error) {
	f.mu.Lock()
	f.answers++
	f.mu.Unlock()
	if f.refuse != nil {
		return nil, f.refuse
	}
	return sdp, nil
}

func (f *recordingSRTP) Close(callID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = append(f.closed, callID)
}

// bridgedInvite is an INVITE from a plain phone at src with Call-ID id and From tag tag.
func bridgedInvite(id, tag, src string) *sip.Request {
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "5001", Host: "127.0.0.1"})
	params := sip.NewParams()
	params.Add("tag", tag)
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "5003", Host: "127.0.0.1"}, Params: params})
	cid := sip.CallIDHeader(id)
	req.AppendHeader(&cid)
	req.SetBody([]byte("v=0\r\nc=IN IP4 10.0.0.3\r\nm=audio 4000 RTP/AVP 0\r\n"))
	req.SetTransport("UDP")
	req.SetSource(src)
	return req
}

// The bridge learns each phone's signalling address (its media may come from there), and a new
// INVITE from another caller reusing a bridged call's Call-ID is not bridged: it would take
// over that call's media.
func TestSRTPBridgeLegsAndCallIDReuse(t *testing.T) {
	fake := &recordingSRTP{}
	r, _ := startTest(t, Config{}, testAccounts, WithSRTPBridge(fake))
	caller := accounts.Account{Extension: "5003"}
	callee := accounts.Account{Extension: "5001", SRTP: srtpMandatory}
	phone := Binding{Contact: "sip:alcatel@10.0.0.1", Source: "10.0.0.1:5061", Transport: "TLS"}

	o := r.newSRTPOffer(bridgedInvite("shared", "victim", "10.0.0.3:5060"), caller, callee)
	fwd := bridgedInvite("shared", "victim", "10.0.0.3:5060")
	if bridged, err := o.apply(fwd, phone); !bridged || err != nil {
		t.Fatalf("apply = %v, %v; want the call bridged", bridged, err)
	}
	if fake.expect[true] != netip.MustParseAddr("10.0.0.3") || fake.expect[false] != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("the bridge expects media from %v, want the caller 10.0.0.3 and the callee 10.0.0.1", fake.expect)
	}

	o = r.newSRTPOffer(bridgedInvite("shared", "intruder", "10.0.0.9:5060"), caller, callee)
	if bridged, err := o.apply(bridgedInvite("shared", "intruder", "10.0.0.9:5060"), phone); bridged || err == nil {
		t.Fatal("a second caller's INVITE with a bridged call's Call-ID was bridged")
	}
	if len(fake.started) != 1 || len(fake.closed) != 0 {
		t.Errorf("bridge started %v, closed %v; want the first call alone, untouched", fake.started, fake.closed)
	}
	if got := r.srtpCalls.callerTag("shared"); got != "victim" {
		t.Errorf("the bridged call's caller is now %q, want %q", got, "victim")
	}
}

// An answer the bridge cannot take (it accepts none of the Pi's keys, say) is not passed on as
// the phone wrote it: the other phone would get the answerer's own address, and its SRTP key
// over a leg that may be plain UDP. The body goes; the call is left without media.
func TestRefusedAnswerIsNotForwardedAsIs(t *testing.T) {
	fake := &recordingSRTP{refuse: errors.New("the answer accepts none of our a=crypto keys")}
	r, _ := startTest(t, Config{}, testAccounts, WithSRTPBridge(fake))
	r.srtpCalls.add("ans", "caller-tag", "5003")
	res := sip.NewResponse(200, "OK")
	params := sip.NewParams()
	params.Add("tag", "caller-tag")
	res.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "5003", Host: "127.0.0.1"}, Params: params})
	cid := sip.CallIDHeader("ans")
	res.AppendHeader(&cid)
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	res.SetBody([]byte("v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/SAVP 0\r\na=crypto:9 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj\r\n"))
	if err := r.srtpSDP(res, false, true); err == nil {
		t.Fatal("the refused answer is not an error")
	}
	if len(res.Body()) != 0 || strings.Contains(res.String(), "Content-Type") {
		t.Fatalf("the refused answer goes on with its body:\n%s", res)
	}
}

// One extension may have at most maxSRTPCallsPerCaller calls through the SRTP bridge at once,
// so that a single phone (or stolen credentials) cannot take all of the bridge's calls; others
// still get through, and a call ending makes room again.
func TestSRTPBridgeCallsPerCaller(t *testing.T) {
	fake := &recordingSRTP{}
	r, _ := startTest(t, Config{}, testAccounts, WithSRTPBridge(fake))
	callee := accounts.Account{Extension: "5001", SRTP: srtpMandatory}
	phone := Binding{Contact: "sip:alcatel@10.0.0.1", Source: "10.0.0.1:5061", Transport: "TLS"}
	call := func(ext, id string) error {
		req := bridgedInvite(id, "t-"+id, "10.0.0.3:5060")
		_, err := r.newSRTPOffer(req, accounts.Account{Extension: ext}, callee).apply(bridgedInvite(id, "t-"+id, "10.0.0.3:5060"), phone)
		return err
	}
	for i := range maxSRTPCallsPerCaller {
		if err := call("5003", fmt.Sprint("c", i)); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	err := call("5003", "one-too-many")
	if err == nil || !strings.Contains(err.Error(), "5003") {
		t.Fatalf("call %d of one extension: err = %v, want a refusal naming it", maxSRTPCallsPerCaller+1, err)
	}
	if err := call("5004", "other"); err != nil {
		t.Fatalf("another extension's call: %v", err)
	}
	r.closeSRTP("c0")
	if err := call("5003", "after"); err != nil {
		t.Fatalf("a call after one ended: %v", err)
	}
}

// A bridged call the registrar kept no dialog of (so it cannot hang it up) is forgotten when
// its bridge reports the media dead: it no longer counts against its caller.
func TestDeadMediaOfUnanchoredCallIsForgotten(t *testing.T) {
	fake := &recordingSRTP{}
	reports := make(chan MediaReport)
	r, _ := startTest(t, Config{}, testAccounts, WithSRTPBridge(fake), WithMediaReports(reports))
	r.srtpCalls.add("lost", "tag", "5003")
	reports <- MediaReport{CallID: "lost", Silent: time.Minute}
	reports <- MediaReport{CallID: "sync"} // the first is handled once the second is taken
	if r.srtpCalls.has("lost") || r.srtpCalls.byCaller("5003") != 0 {
		t.Fatal("the dead call still counts as bridged")
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.closed) != 1 || fake.closed[0] != "lost" {
		t.Errorf("bridge closed %v, want the dead call", fake.closed)
	}
}

// When two phones of a forked call answer, the bridge keeps the first: the second 2xx does not
// reach the bridge (it would move the media to that phone) and goes on without its SDP.
func TestSecondAnswerOfForkedCallLeavesTheBridge(t *testing.T) {
	fake := &recordingSRTP{}
	r, _ := startTest(t, Config{}, testAccounts, WithSRTPBridge(fake))
	r.srtpCalls.add("fork", "caller-tag", "5003")
	res := sip.NewResponse(200, "OK")
	cid := sip.CallIDHeader("fork")
	res.AppendHeader(&cid)
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	res.SetBody([]byte("v=0\r\nc=IN IP4 10.0.0.8\r\nm=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj\r\n"))
	r.srtpBranchAnswer(res, true)
	if len(res.Body()) != 0 || strings.Contains(res.String(), "Content-Type") {
		t.Fatalf("the second answer goes on with its SDP:\n%s", res)
	}
	if fake.answers != 0 {
		t.Error("the second phone's answer was passed to the bridge")
	}
}
