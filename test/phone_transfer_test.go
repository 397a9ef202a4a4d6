package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The Pi hands a call to another extension (blind transfer, REFER): the softphone it talked to
// calls 5004, which answers; the Pi hangs up its side once told the transfer worked.
func TestPhoneTransfersCall(t *testing.T) {
	e := startPhone(t, phoneOptions{})
	reg := fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort)
	a := startBaresip(t, baresipOptions{ext: "5003", user: "softphone", pass: softphonePassword, registrar: reg})
	b := startBaresip(t, baresipOptions{ext: "5004", user: "softphone2", pass: softphonePassword, registrar: reg, answer: "auto"})

	e.mustPost(t, "dial", `{"to":"5003"}`)
	a.WaitEvent(t, "CALL_INCOMING", 0, 10*time.Second)
	a.Command(t, "accept", "")
	e.waitStatus(t, "call", "in_call", 10*time.Second)

	e.mustPost(t, "transfer", `{"to":"5004"}`)
	b.WaitEvent(t, "CALL_ESTABLISHED", 0, 15*time.Second)
	e.waitStatus(t, "call", "idle", 15*time.Second)
	e.requireLastCall(t, "out", "5003", "transferred", 0)
	if !strings.Contains(e.Logs(), "transfer accepted") {
		t.Fatal("the Pi did not log the accepted REFER")
	}
}

// A softphone transfers its call with the Pi to 5004: the Pi follows the REFER, calls 5004 and
// ends up talking to it.
func TestPhoneIsTransferred(t *testing.T) {
	e := startPhone(t, phoneOptions{})
	reg := fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort)
	a := startBaresip(t, baresipOptions{ext: "5003", user: "softphone", pass: softphonePassword, registrar: reg})
	b := startBaresip(t, baresipOptions{ext: "5004", user: "softphone2", pass: softphonePassword, registrar: reg, answer: "auto"})

	a.Command(t, "dial", "sip:5002@"+reg)
	e.waitStatus(t, "call", "ringing", 10*time.Second)
	e.mustPost(t, "answer", "")
	a.WaitEvent(t, "CALL_ESTABLISHED", 0, 10*time.Second)

	a.Command(t, "transfer", "sip:5004@"+reg)
	b.WaitEvent(t, "CALL_ESTABLISHED", 0, 15*time.Second)
	st := e.waitStatus(t, "call", "in_call", 10*time.Second)
	if !strings.Contains(fmt.Sprint(st["peer"]), "5004") {
		t.Fatalf("after the transfer the Pi talks to %v, want 5004", st["peer"])
	}
	a.WaitEvent(t, "CALL_CLOSED", 0, 10*time.Second)
	calls := e.callLog(t)
	if len(calls) == 0 || calls[0]["outcome"] != "transferred" || calls[0]["peer"] != "5003" {
		t.Fatalf("call log %v", calls)
	}
	e.mustPost(t, "hangup", "")
	b.WaitEvent(t, "CALL_CLOSED", 0, 10*time.Second)
}

// The far end accepts the Pi's REFER but then reports the transfer failed (NOTIFY with sipfrag
// "400 Bad Request", as Asterisk does): the API caller gets an error in the far end's words, the
// log says so, and the call goes on until the Pi hangs up.
func TestPhoneTransferRefusedByFarEnd(t *testing.T) {
	e := startPhone(t, phoneOptions{})
	uas := freePort(t, "udp")
	e.registerSIPp(t, uas, "5003", "softphone")
	p := newMediaPeer(t)
	s := startSIPpIn(t, "-sf", sippScenario(t, "phone_uas_refer_refused.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(uas),
		"-key", "rtpport", strconv.Itoa(p.port()))
	e.mustPost(t, "dial", `{"to":"5003"}`)
	e.waitStatus(t, "call", "in_call", 10*time.Second)

	code, body := e.post(t, "transfer", `{"to":"5004"}`)
	if code == 200 || !strings.Contains(body, "refused by the far end (400 Bad Request)") {
		t.Fatalf("transfer refused in the NOTIFY answered %d %s", code, body)
	}
	e.WaitLog(t, "refused by the far end (400 Bad Request)", 5*time.Second)
	if strings.Contains(e.Logs(), "did not answer") {
		t.Fatal("the log says the far end did not answer; it refused")
	}
	if st := e.status(t); st["call"] != "in_call" {
		t.Fatalf("after the refused transfer the call is %v, want in_call", st["call"])
	}
	e.mustPost(t, "hangup", "")
	s.wait(t)
	e.waitStatus(t, "call", "idle", 10*time.Second)
}
