package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The Pi puts a call on hold and takes it back (re-INVITEs it sends): the media direction follows
// (sendonly, then sendrecv) and the far end keeps the call.
func TestPhoneLocalHoldResume(t *testing.T) {
	e := startPhone(t, phoneOptions{})
	reg := fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort)
	a := startBaresip(t, baresipOptions{ext: "5003", user: "softphone", pass: softphonePassword, registrar: reg})
	a.Command(t, "dial", "sip:5002@"+reg)
	e.waitStatus(t, "call", "ringing", 10*time.Second)
	e.mustPost(t, "answer", "")
	a.WaitEvent(t, "CALL_ESTABLISHED", 0, 10*time.Second)

	e.mustPost(t, "hold", "") // toggles
	e.waitStatus(t, "call", "held", 5*time.Second)
	waitFor(t, "media direction sendonly", 10*time.Second, func() bool { return e.mediaDirection(t) == "sendonly" })
	if out := e.ctl(t, "hold", "off"); !strings.Contains(out, "call: in_call") {
		t.Fatalf("ctl hold off printed:\n%s", out)
	}
	waitFor(t, "media direction sendrecv", 10*time.Second, func() bool { return e.mediaDirection(t) == "sendrecv" })
	e.mustPost(t, "hangup", "")
	a.WaitEvent(t, "CALL_CLOSED", 0, 10*time.Second)
}

func (e *phoneEnv) mediaDirection(t *testing.T) string {
	m, _ := e.status(t)["media"].(map[string]any)
	return fmt.Sprint(m["direction"])
}

// Do not disturb: a call gets busy at once, never rings, and is logged as missed.
func TestPhoneDoNotDisturb(t *testing.T) {
	e := startPhone(t, phoneOptions{})
	reg := fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort)
	a := startBaresip(t, baresipOptions{ext: "5003", user: "softphone", pass: softphonePassword, registrar: reg})
	e.mustPost(t, "dnd", `{"on":true}`)
	if e.status(t)["dnd"] != true {
		t.Fatal("status does not show do-not-disturb")
	}
	a.Command(t, "dial", "sip:5002@"+reg)
	a.WaitEvent(t, "CALL_CLOSED", 0, 10*time.Second)
	if st := e.status(t); st["call"] != "idle" {
		t.Fatalf("call state %v under do-not-disturb", st["call"])
	}
	e.requireLastCall(t, "in", "5003", "missed", 0)
}

// Call waiting: a second caller gets through during a call; answering it holds the first one,
// hanging it up brings the first one back (held), and resuming it continues the first call.
func TestPhoneCallWaiting(t *testing.T) {
	e := startPhone(t, phoneOptions{phoneTOML: "call_waiting = true\n"})
	reg := fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort)
	a := startBaresip(t, baresipOptions{ext: "5003", user: "softphone", pass: softphonePassword, registrar: reg})
	b := startBaresip(t, baresipOptions{ext: "5004", user: "softphone2", pass: softphonePassword, registrar: reg})

	a.Command(t, "dial", "sip:5002@"+reg)
	e.waitStatus(t, "call", "ringing", 10*time.Second)
	e.mustPost(t, "answer", "")
	a.WaitEvent(t, "CALL_ESTABLISHED", 0, 10*time.Second)

	b.Command(t, "dial", "sip:5002@"+reg)
	st := e.waitStatus(t, "waiting", "5004", 10*time.Second)
	if st["call"] != "in_call" || st["peer"] != "5003" {
		t.Fatalf("a waiting call disturbed the current one: %v", st)
	}
	b.WaitEvent(t, "CALL_RINGING", 0, 10*time.Second)

	e.mustPost(t, "answer", "")
	b.WaitEvent(t, "CALL_ESTABLISHED", 0, 10*time.Second)
	st = e.waitStatus(t, "peer", "5004", 5*time.Second)
	if st["waiting"] != "5003" {
		t.Fatalf("the first call is not parked: %v", st)
	}
	e.mustPost(t, "hangup", "")
	b.WaitEvent(t, "CALL_CLOSED", 0, 10*time.Second)
	st = e.waitStatus(t, "call", "held", 5*time.Second)
	if st["peer"] != "5003" {
		t.Fatalf("after the second call the handset holds %v", st["peer"])
	}
	e.mustPost(t, "resume", "")
	e.waitStatus(t, "call", "in_call", 5*time.Second)
	e.mustPost(t, "hangup", "")
	a.WaitEvent(t, "CALL_CLOSED", 0, 10*time.Second)
	e.waitStatus(t, "call", "idle", 5*time.Second)
}

// Hanging up a ringing call declines it (603); with call waiting off, a second caller during a
// call is told busy (486) and the call goes on.
func TestPhoneDeclineAndBusyWithoutCallWaiting(t *testing.T) {
	e := startPhone(t, phoneOptions{phoneTOML: "call_waiting = false\n"})
	reg := fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort)
	a := startBaresip(t, baresipOptions{ext: "5003", user: "softphone", pass: softphonePassword, registrar: reg})
	b := startBaresip(t, baresipOptions{ext: "5004", user: "softphone2", pass: softphonePassword, registrar: reg})

	a.Command(t, "dial", "sip:5002@"+reg)
	e.waitStatus(t, "call", "ringing", 10*time.Second)
	e.mustPost(t, "hangup", "")
	n, ev := a.WaitEvent(t, "CALL_CLOSED", 0, 10*time.Second)
	if !strings.Contains(fmt.Sprint(ev["param"]), "603") {
		t.Fatalf("declined call closed with %v, want 603", ev["param"])
	}
	e.requireLastCall(t, "in", "5003", "rejected", 0)

	a.Command(t, "dial", "sip:5002@"+reg)
	e.waitStatus(t, "call", "ringing", 10*time.Second)
	e.mustPost(t, "answer", "")
	a.WaitEvent(t, "CALL_ESTABLISHED", n, 10*time.Second)
	b.Command(t, "dial", "sip:5002@"+reg)
	_, ev = b.WaitEvent(t, "CALL_CLOSED", 0, 10*time.Second)
	if !strings.Contains(fmt.Sprint(ev["param"]), "486") {
		t.Fatalf("second caller closed with %v, want 486", ev["param"])
	}
	if st := e.status(t); st["call"] != "in_call" || st["peer"] != "5003" {
		t.Fatalf("the first call was disturbed: %v", st)
	}
	e.mustPost(t, "hangup", "")
}
