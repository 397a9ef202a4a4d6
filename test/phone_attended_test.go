package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Attended transfer with the Pi as its target (RFC 5589 §7, RFC 3891): linphone A talks to
// linphone B, then calls the Pi (B is put on hold), then hands B over to the Pi. B gets A's REFER
// naming the Pi and, in Replaces, A's call with the Pi; B's INVITE with Replaces takes that call
// over at once, no ringing: the Pi ends up talking to B, hangs up on A, and logs A's call as
// transferred. The Pi's phone uses TCP: linphone's INVITE with Replaces is larger than the UDP
// MTU, so the registrar must forward it over TCP (RFC 3261 §18.1.1).
func TestPhoneAttendedTransferTarget(t *testing.T) {
	e := startPhone(t, phoneOptions{phoneTOML: "transport = \"tcp\"\n", extra: `
[[registrar.accounts]]
extension = "5005"
username = "linphone"
password = "linphone-pass-5005"

[[registrar.accounts]]
extension = "5006"
username = "linphone2"
password = "linphone-pass-5006"
`})
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
