package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// talkTime is how long the calls of these tests carry audio before hanging up.
const talkTime = 3 * time.Second

// callLog fetches GET /api/v1/calls.
func (e *phoneEnv) callLog(t *testing.T) []map[string]any {
	t.Helper()
	res, err := http.Get(e.api + "calls")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var calls []map[string]any
	if err := json.NewDecoder(res.Body).Decode(&calls); err != nil {
		t.Fatal(err)
	}
	return calls
}

// requireLastCall checks the newest call-log entry.
func (e *phoneEnv) requireLastCall(t *testing.T, direction, peer, outcome string, minSeconds float64) {
	t.Helper()
	calls := e.callLog(t)
	if len(calls) == 0 {
		t.Fatal("call log is empty")
	}
	c := calls[0]
	if c["direction"] != direction || c["peer"] != peer || c["outcome"] != outcome {
		t.Fatalf("last call %v, want %s %s %s", c, direction, peer, outcome)
	}
	if d, _ := c["duration"].(float64); d < minSeconds {
		t.Fatalf("last call lasted %.0f s, want ≥ %.0f s", d, minSeconds)
	}
}

// ctl runs `deskphone ctl` against this phone.
func (e *phoneEnv) ctl(t *testing.T, args ...string) string {
	t.Helper()
	full := append([]string{"ctl", "--url", fmt.Sprintf("http://127.0.0.1:%d", e.WebPort)}, args...)
	out, err := exec.Command(deskphoneBinary(t), full...).CombinedOutput()
	if err != nil {
		t.Fatalf("deskphone ctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// A softphone registered to the built-in registrar calls the Pi; the call is answered through the
// API, and each side hears the other's tone: the Pi's 1 kHz microphone at baresip, baresip's
// 600 Hz sine in speaker.wav.
func TestPhoneAnswersBaresipThroughRegistrar(t *testing.T) {
	e := startPhone(t, phoneOptions{})
	b := startBaresip(t, baresipOptions{ext: "5003", user: "softphone", pass: softphonePassword,
		registrar: fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort), toneHz: 600})

	b.Command(t, "dial", fmt.Sprintf("sip:5002@127.0.0.1:%d", e.RegistrarPort))
	st := e.waitStatus(t, "call", "ringing", 10*time.Second)
	if st["peer"] != "5003" || st["direction"] != "in" {
		t.Fatalf("ringing status %v", st)
	}
	if out := e.ctl(t, "answer"); !strings.Contains(out, "call: in_call from 5003") {
		t.Fatalf("ctl answer printed:\n%s", out)
	}
	b.WaitEvent(t, "CALL_ESTABLISHED", 0, 10*time.Second)
	time.Sleep(talkTime)
	st = e.status(t)
	if got := mediaStat(st, "packets_received"); got < 50 {
		t.Fatalf("the phone received %v RTP packets in %s", got, talkTime)
	}
	e.mustPost(t, "hangup", "")
	b.WaitEvent(t, "CALL_CLOSED", 0, 10*time.Second)
	e.waitStatus(t, "call", "idle", 5*time.Second)

	requireTone(t, e.Speaker, 600)
	requireTone(t, b.Received(t), 1000)
	e.requireLastCall(t, "in", "5003", "answered", 2)
}

// The Pi calls a softphone through the built-in registrar with `deskphone ctl dial`; the softphone
// answers and later hangs up; audio goes both ways.
func TestPhoneCallsBaresipThroughRegistrar(t *testing.T) {
	e := startPhone(t, phoneOptions{})
	b := startBaresip(t, baresipOptions{ext: "5003", user: "softphone", pass: softphonePassword,
		registrar: fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort), toneHz: 600})

	if out := e.ctl(t, "dial", "5003"); !strings.Contains(out, "call: dialing to 5003") {
		t.Fatalf("ctl dial printed:\n%s", out)
	}
	b.WaitEvent(t, "CALL_INCOMING", 0, 10*time.Second)
	b.Command(t, "accept", "")
	e.waitStatus(t, "call", "in_call", 10*time.Second)
	time.Sleep(talkTime)
	if out := e.ctl(t, "status"); !strings.Contains(out, "call: in_call to 5003") || !strings.Contains(out, "registration: registered") {
		t.Fatalf("ctl status printed:\n%s", out)
	}
	b.Command(t, "hangup", "")
	e.waitStatus(t, "call", "idle", 10*time.Second)

	requireTone(t, e.Speaker, 600)
	requireTone(t, b.Received(t), 1000)
	e.requireLastCall(t, "out", "5003", "answered", 2)
}
