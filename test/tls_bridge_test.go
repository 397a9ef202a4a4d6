package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The Pi bridges SRTP and plain RTP: a softphone on TLS with mandatory SRTP and a UDP phone
// without SRTP (as the Alcatel IP Touch is) call each other through the registrar, the Pi
// decrypting on one leg and encrypting on the other. Captures on loopback check what a LAN
// eavesdropper gets: noise on the softphone's leg, the tone on the plain one, no SIP in clear on
// TLS. The call list API says how each leg was protected.

// proxiedCall is one entry of GET /api/v1/registrar/calls.
type proxiedCall struct {
	Caller          string `json:"caller"`
	Callee          string `json:"callee"`
	CallerTransport string `json:"caller_transport"`
	CalleeTransport string `json:"callee_transport"`
	CallerMedia     string `json:"caller_media"`
	CalleeMedia     string `json:"callee_media"`
	Bridge          string `json:"bridge"`
	State           string `json:"state"`
	Reason          string `json:"reason"`
	Status          int    `json:"status"`
	Protection      string `json:"protection"`
}

// registrarCalls fetches GET registrar/calls from the API at api (newest first).
func registrarCalls(t *testing.T, api string) []proxiedCall {
	t.Helper()
	var calls []proxiedCall
	getJSON(t, api+"registrar/calls", &calls)
	return calls
}

// startBridgeCapture records the TLS port and both phones' RTP ports.
func startBridgeCapture(t *testing.T, e *tlsRegEnv, phones ...*regBaresip) *capture {
	t.Helper()
	filter := fmt.Sprintf("tcp port %d", e.TLSPort)
	for _, p := range phones {
		filter += fmt.Sprintf(" or udp portrange %d-%d", p.RTP, p.RTP+9)
	}
	return startCapture(t, filter)
}

// requireBridgedWire checks a capture of a bridged call: the SRTP phone's RTP ports carry only
// noise, the plain phone's carry the tone (so the capture did see audio), and TLS carries no SIP.
func requireBridgedWire(t *testing.T, e *tlsRegEnv, capt *capture, srtpPhone, plainPhone *regBaresip) {
	t.Helper()
	pkts := capt.packets(t)
	requireNoPlainSIP(t, pkts, e.TLSPort)
	share, freq, n := wireAudio(pkts, srtpPhone.RTP, srtpPhone.RTP+9)
	t.Logf("softphone's leg: %d RTP packets, strongest tone %.0f Hz with %.0f%% of the power", n, freq, 100*share)
	if n < 100 {
		t.Fatalf("only %d packets on the softphone's RTP ports: the capture missed its audio", n)
	}
	if share > 0.2 {
		t.Fatalf("the softphone's leg plays back as a %.0f Hz tone (%.0f%% of the power): it is not encrypted", freq, 100*share)
	}
	share, freq, n = wireAudio(pkts, plainPhone.RTP, plainPhone.RTP+9)
	t.Logf("plain phone's leg: %d RTP packets, strongest tone %.0f Hz with %.0f%% of the power", n, freq, 100*share)
	if n < 100 || share < 0.5 {
		t.Fatalf("the plain leg does not carry the tone in clear (%d packets, %.0f%%): the check above proves nothing", n, 100*share)
	}
}

func requireBridgedRecord(t *testing.T, e *regEnv, caller, callee, callerTP, calleeTP, callerMedia, calleeMedia string) {
	t.Helper()
	calls := registrarCalls(t, e.API)
	if len(calls) == 0 {
		t.Fatal("the registrar's call list is empty")
	}
	c := calls[0]
	if c.Caller != caller || c.Callee != callee || c.CallerTransport != callerTP || c.CalleeTransport != calleeTP ||
		c.CallerMedia != callerMedia || c.CalleeMedia != calleeMedia || c.Bridge != "srtp" || !strings.Contains(c.Protection, "bridged by the Pi") {
		t.Fatalf("the call list says %+v", c)
	}
	t.Logf("call list: %s → %s: %s", c.Caller, c.Callee, c.Protection)
}

// (b) A TLS+SRTP softphone calls the plain UDP phone.
func TestSRTPBridgeSoftphoneCallsPlainPhone(t *testing.T) {
	e := startTLSRegistrar(t, "")
	soft := newRegBaresip(t, e.regEnv, "guillaume", "guillaume-secret-3", 440)
	soft.useTLS(t, e, "guillaume", "guillaume-secret-3", "srtp-mand")
	plain := newRegBaresip(t, e.regEnv, "alcatel", "alcatel-secret-1", 1000)
	capt := startBridgeCapture(t, e, soft, plain)

	waitPlain := plain.run(t, 14)
	e.WaitLog(t, `aor=alcatel`, 10*time.Second)
	waitSoft := soft.run(t, 10, "/dial sip:5001@"+e.TLSAddr+";transport=tls")
	softOut, plainOut := waitSoft(), waitPlain()
	if !strings.Contains(softOut, "established") || !strings.Contains(plainOut, "established") {
		t.Fatalf("the call was not established:\nsoftphone:\n%s\nplain phone:\n%s\nregistrar:\n%s", lastLines(softOut, 40), lastLines(plainOut, 30), lastLines(e.Logs(), 30))
	}
	if !strings.Contains(e.Logs(), "call media bridged by the Pi") {
		t.Fatalf("the registrar did not bridge the call:\n%s", e.Logs())
	}
	requireRegTone(t, "softphone (caller, SRTP)", soft.decoded(t), 1000)
	requireRegTone(t, "plain phone (callee, RTP)", plain.decoded(t), 440)
	requireBridgedWire(t, e, capt, soft, plain)
	requireBridgedRecord(t, e.regEnv, "5003", "5001", "TLS", "UDP", "SRTP", "RTP")
	e.WaitLog(t, "SRTP bridge: call closed", 10*time.Second)
}

// The reverse: the plain UDP phone calls the softphone, whose account says srtp = "mandatory".
func TestSRTPBridgePlainPhoneCallsSoftphone(t *testing.T) {
	e := startTLSRegistrarSRTP(t, "", map[string]string{"5003": "mandatory"})
	soft := newRegBaresip(t, e.regEnv, "guillaume", "guillaume-secret-3", 440)
	soft.useTLS(t, e, "guillaume", "guillaume-secret-3", "srtp-mand")
	plain := newRegBaresip(t, e.regEnv, "alcatel", "alcatel-secret-1", 1000)
	capt := startBridgeCapture(t, e, soft, plain)

	waitSoft := soft.run(t, 14)
	e.WaitLog(t, `aor=guillaume`, 10*time.Second)
	waitPlain := plain.run(t, 10, "/dial sip:5003@"+e.Addr)
	plainOut, softOut := waitPlain(), waitSoft()
	if !strings.Contains(softOut, "established") || !strings.Contains(plainOut, "established") {
		t.Fatalf("the call was not established:\nsoftphone:\n%s\nplain phone:\n%s\nregistrar:\n%s", lastLines(softOut, 40), lastLines(plainOut, 30), lastLines(e.Logs(), 30))
	}
	requireRegTone(t, "plain phone (caller, RTP)", plain.decoded(t), 440)
	requireRegTone(t, "softphone (callee, SRTP)", soft.decoded(t), 1000)
	requireBridgedWire(t, e, capt, soft, plain)
	requireBridgedRecord(t, e.regEnv, "5001", "5003", "UDP", "TLS", "RTP", "SRTP")
}

// Calls the Pi may not bridge are refused with 488 and a reason: with srtp_bridge = false, an
// SRTP offer to a plain phone; an account with srtp = "mandatory" whose phone is on UDP.
func TestSRTPBridgeRefusals(t *testing.T) {
	e := startTLSRegistrarSRTP(t, "srtp_bridge = false", map[string]string{"5001": "mandatory"})
	soft := newRegBaresip(t, e.regEnv, "guillaume", "guillaume-secret-3", 440)
	soft.useTLS(t, e, "guillaume", "guillaume-secret-3", "srtp-mand")
	mand := newRegBaresip(t, e.regEnv, "alcatel", "alcatel-secret-1", 1000)
	plain := newRegBaresip(t, e.regEnv, "rpi", "rpi-secret-22", 1000)
	waitMand, waitPlain := mand.run(t, 14), plain.run(t, 14)
	e.WaitLog(t, `aor=alcatel`, 10*time.Second)
	e.WaitLog(t, `aor=rpi`, 10*time.Second)

	for _, c := range []struct{ ext, why string }{
		{"5002", "bridging SRTP to RTP is off (srtp_bridge = false)"},
		{"5001", "extension 5001 must have encrypted media (srtp = mandatory), but its phone registered over UDP"},
	} {
		out := soft.run(t, 4, "/dial sip:"+c.ext+"@"+e.TLSAddr+";transport=tls")()
		if strings.Contains(out, "established") || !strings.Contains(out, "488") {
			t.Fatalf("call to %s: want 488, softphone says:\n%s", c.ext, lastLines(out, 30))
		}
		calls := registrarCalls(t, e.API)
		if len(calls) == 0 || calls[0].Callee != c.ext || calls[0].Status != 488 || !strings.Contains(calls[0].Reason, c.why) {
			t.Fatalf("call to %s: the call list says %+v, want 488 because %q", c.ext, calls, c.why)
		}
		if !strings.Contains(e.Logs(), c.why) {
			t.Fatalf("the log does not say why the call to %s was refused:\n%s", c.ext, e.Logs())
		}
	}
	for _, out := range []string{waitMand(), waitPlain()} {
		if strings.Contains(out, "Incoming call") || strings.Contains(out, "established") {
			t.Fatalf("a refused call rang a phone:\n%s", lastLines(out, 20))
		}
	}
}

// The plain UDP phone calls the Pi's own phone, which is on TLS with srtp = "mandatory": the
// registrar bridges the call to SRTP on the Pi's leg, and the Pi's call log says TLS and SRTP.
func TestSRTPBridgePlainPhoneCallsMandatoryPiPhone(t *testing.T) {
	e, _, _ := startTLSPhone(t, "mandatory")
	udp := startBaresip(t, baresipOptions{ext: "5003", user: "softphone", pass: softphonePassword,
		registrar: fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort), toneHz: 600})
	udp.Command(t, "dial", fmt.Sprintf("sip:5002@127.0.0.1:%d", e.RegistrarPort))
	e.waitStatus(t, "call", "ringing", 10*time.Second)
	e.mustPost(t, "answer", "")
	udp.WaitEvent(t, "CALL_ESTABLISHED", 0, 10*time.Second)
	time.Sleep(talkTime)
	st := e.status(t)
	if fmt.Sprint(mediaField(st, "srtp")) == "" || mediaStat(st, "packets_received") < 50 {
		t.Fatalf("the Pi's phone has no SRTP audio: %v", st)
	}
	// Hold and resume: the re-INVITEs go through the bridge, the keys stay, the audio comes back.
	e.mustPost(t, "hold", "")
	e.waitStatus(t, "call", "held", 5*time.Second)
	waitFor(t, "media direction sendonly", 10*time.Second, func() bool { return e.mediaDirection(t) == "sendonly" })
	if out := e.ctl(t, "hold", "off"); !strings.Contains(out, "call: in_call") {
		t.Fatalf("ctl hold off printed:\n%s", out)
	}
	waitFor(t, "media direction sendrecv", 10*time.Second, func() bool { return e.mediaDirection(t) == "sendrecv" })
	before := mediaStat(e.status(t), "packets_received")
	waitFor(t, "audio after resume", 10*time.Second, func() bool { return mediaStat(e.status(t), "packets_received") > before+50 })
	if st := e.status(t); mediaStat(st, "srtp_rejected") > 0 {
		t.Fatalf("SRTP packets rejected after hold and resume: %v", st)
	}
	e.mustPost(t, "hangup", "")
	udp.WaitEvent(t, "CALL_CLOSED", 0, 10*time.Second)
	e.waitStatus(t, "call", "idle", 10*time.Second)
	requireTone(t, e.Speaker, 600)
	requireTone(t, udp.Received(t), 1000)
	if !strings.Contains(e.Logs(), "call media bridged by the Pi") {
		t.Fatalf("the registrar did not bridge the call:\n%s", e.Logs())
	}
	c := e.callLog(t)[0]
	if c["transport"] != "TLS" || !strings.HasPrefix(fmt.Sprint(c["media"]), "SRTP (AES_CM_128_HMAC_SHA1_") {
		t.Fatalf("the Pi's call log says %v, want transport TLS and SRTP", c)
	}
}
