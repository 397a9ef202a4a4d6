package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// twoLinphones are the registrar accounts of the two linphones of the attended-transfer tests.
const twoLinphones = `
[[registrar.accounts]]
extension = "5005"
username = "linphone"
password = "linphone-pass-5005"

[[registrar.accounts]]
extension = "5006"
username = "linphone2"
password = "linphone-pass-5006"
`

// Attended transfer with the Pi as its target (RFC 5589 §7, RFC 3891): linphone A talks to
// linphone B, then calls the Pi (B is put on hold), then hands B over to the Pi. B gets A's REFER
// naming the Pi and, in Replaces, A's call with the Pi; B's INVITE with Replaces takes that call
// over at once, no ringing: the Pi ends up talking to B, hangs up on A, and logs A's call as
// transferred. The Pi's phone uses TCP: linphone's INVITE with Replaces is larger than the UDP
// MTU, so the registrar must forward it over TCP (RFC 3261 §18.1.1).
func TestPhoneAttendedTransferTarget(t *testing.T) {
	e := startPhone(t, phoneOptions{phoneTOML: "transport = \"tcp\"\n", extra: twoLinphones})
	reg := fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort)
	a := startLinphone(t, "linphone", "linphone-pass-5005", reg)
	b := startLinphone(t, "linphone2", "linphone-pass-5006", reg)
	e.WaitLog(t, "extension=5005", 30*time.Second)
	e.WaitLog(t, "extension=5006", 30*time.Second)

	a.send(t, "call sip:5006@127.0.0.1")
	b.waitOutput(t, "Receiving new incoming call", 15*time.Second)
	b.send(t, "answer")
	a.waitOutput(t, "connected", 10*time.Second)

	a.send(t, "pause 1")
	a.waitOutput(t, "paused", 10*time.Second)
	a.send(t, "call sip:5002@127.0.0.1")
	st := e.waitStatus(t, "call", "ringing", 15*time.Second)
	if st["peer"] != "linphone" {
		t.Fatalf("ringing from %v", st["peer"])
	}
	e.mustPost(t, "answer", "")
	e.waitStatus(t, "call", "in_call", 10*time.Second)
	before := strings.Count(e.Logs(), "call replaces another")

	a.send(t, "transfer 1 --to-call 2")
	waitFor(t, "the Pi's call taken over by linphone2", 20*time.Second, func() bool {
		st := e.status(t)
		return st["call"] == "in_call" && st["peer"] == "linphone2"
	})
	if strings.Count(e.Logs(), "call replaces another") != before+1 {
		t.Fatal("the Pi did not log the replacing call")
	}
	b.waitOutput(t, "Call 2 with", 10*time.Second)
	wav := filepath.Join(t.TempDir(), "tone.wav")
	micWAV(t, wav, 600, 5*time.Second)
	b.send(t, "play "+wav) // linphonec's microphone in "soundcard use files" mode
	waitFor(t, "RTP from linphone2 on the new call", 10*time.Second, func() bool {
		return mediaStat(e.status(t), "packets_received") > 100
	})
	calls := e.callLog(t)
	if len(calls) == 0 || calls[0]["outcome"] != "transferred" || calls[0]["peer"] != "linphone" {
		t.Fatalf("call log %v", calls)
	}
	e.mustPost(t, "hangup", "")
	e.waitStatus(t, "call", "idle", 10*time.Second)
	e.requireLastCall(t, "in", "linphone2", "answered", 0)
	requireTone(t, e.Speaker, 600) // linphone2's audio reached the handset
}

// Attended transfer with the Pi as the transferor: the Pi talks to linphone A, holds it, calls
// linphone B (a consultation call), then hands A to B (POST /api/v1/transfer/attended). A gets
// the Pi's REFER naming B with Replaces for the Pi's call with B, calls B with it, and B swaps
// its call with the Pi for A's: the Pi's two calls end (A's as transferred, B's by B's BYE) and
// the request returns once A reported success. The linphones use TCP: their INVITE with Replaces
// is larger than the UDP MTU.
func TestPhoneAttendedTransferor(t *testing.T) {
	e := startPhone(t, phoneOptions{extra: twoLinphones})
	reg := fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort)
	a := startLinphoneOn(t, "linphone", "linphone-pass-5005", reg, "tcp")
	b := startLinphoneOn(t, "linphone2", "linphone-pass-5006", reg, "tcp")
	e.WaitLog(t, "extension=5005", 30*time.Second)
	e.WaitLog(t, "extension=5006", 30*time.Second)

	if code, _ := e.post(t, "transfer/attended", ""); code == 200 {
		t.Fatal("attended transfer without calls accepted")
	}
	e.mustPost(t, "dial", `{"to":"5005"}`)
	a.waitOutput(t, "Receiving new incoming call", 15*time.Second)
	a.send(t, "answer")
	e.waitStatus(t, "call", "in_call", 10*time.Second)
	e.mustPost(t, "hold", `{"on":true}`)
	e.waitStatus(t, "call", "held", 10*time.Second)
	e.mustPost(t, "dial", `{"to":"5006"}`)
	b.waitOutput(t, "Receiving new incoming call", 15*time.Second)
	b.send(t, "answer")
	st := e.waitStatus(t, "call", "in_call", 10*time.Second)
	if st["peer"] != "5006" || st["waiting"] != "5005" {
		t.Fatalf("consultation call: status %v", st)
	}

	e.mustPost(t, "transfer/attended", "")
	e.waitStatus(t, "call", "idle", 15*time.Second)
	b.waitOutput(t, "Call 2 with", 10*time.Second) // B's new call, with A
	calls := e.callLog(t)
	if len(calls) < 2 {
		t.Fatalf("call log %v", calls)
	}
	outcomes := map[any]any{calls[0]["peer"]: calls[0]["outcome"], calls[1]["peer"]: calls[1]["outcome"]}
	if outcomes["5005"] != "transferred" {
		t.Fatalf("the call with A ended as %v, want transferred (log %v)", outcomes["5005"], calls)
	}
	if !strings.Contains(e.Logs(), "transfer done") {
		t.Fatal("the Pi did not log the transfer's success")
	}
}

// Attended transfer with the Pi as the transferee: linphone A talks to the Pi, puts it on hold,
// calls linphone B, then hands the Pi to B. The Pi follows A's REFER: its INVITE to B carries
// Replaces, B swaps its call with A for the Pi's, and the Pi ends up talking to B with A's call
// logged as transferred. Everyone uses TCP: linphone's INVITEs are larger than the UDP MTU.
func TestPhoneAttendedTransferee(t *testing.T) {
	e := startPhone(t, phoneOptions{phoneTOML: "transport = \"tcp\"\n", extra: twoLinphones})
	reg := fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort)
	a := startLinphoneOn(t, "linphone", "linphone-pass-5005", reg, "tcp")
	b := startLinphoneOn(t, "linphone2", "linphone-pass-5006", reg, "tcp")
	e.WaitLog(t, "extension=5005", 30*time.Second)
	e.WaitLog(t, "extension=5006", 30*time.Second)

	a.send(t, "call sip:5002@127.0.0.1")
	e.waitStatus(t, "call", "ringing", 15*time.Second)
	e.mustPost(t, "answer", "")
	a.waitOutput(t, "connected", 10*time.Second)
	a.send(t, "pause 1")
	e.waitStatus(t, "remote_hold", "true", 10*time.Second)
	a.send(t, "call sip:5006@127.0.0.1")
	b.waitOutput(t, "Receiving new incoming call", 15*time.Second)
	b.send(t, "answer")
	a.waitOutput(t, "Call 2 with sip:5006@127.0.0.1 connected", 10*time.Second)

	a.send(t, "transfer 1 --to-call 2")
	e.WaitLog(t, "far end transfers us", 10*time.Second)
	waitFor(t, "the Pi talking to linphone2", 20*time.Second, func() bool {
		st := e.status(t)
		return st["call"] == "in_call" && strings.Contains(fmt.Sprint(st["peer"]), "5006") && st["direction"] == "out"
	})
	if !strings.Contains(e.Logs(), "replaces=") {
		t.Fatal("the Pi's INVITE to linphone2 carried no Replaces")
	}
	calls := e.callLog(t)
	if len(calls) == 0 || calls[0]["outcome"] != "transferred" || calls[0]["peer"] != "linphone" {
		t.Fatalf("call log %v", calls)
	}
	e.mustPost(t, "hangup", "")
	e.waitStatus(t, "call", "idle", 10*time.Second)
}
