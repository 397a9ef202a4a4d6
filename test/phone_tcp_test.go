package e2e

import (
	"fmt"
	"testing"
	"time"
)

// The phone can use TCP to its registrar ([phone] transport = "tcp"): it registers, and calls go
// both ways (the softphone stays on UDP; the registrar bridges the two).
func TestPhoneOverTCP(t *testing.T) {
	e := startPhone(t, phoneOptions{phoneTOML: "transport = \"tcp\"\n"})
	reg := fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort)
	b := startBaresip(t, baresipOptions{ext: "5003", user: "softphone", pass: softphonePassword, registrar: reg, toneHz: 600})

	b.Command(t, "dial", "sip:5002@"+reg)
	e.waitStatus(t, "call", "ringing", 10*time.Second)
	e.mustPost(t, "answer", "")
	n, _ := b.WaitEvent(t, "CALL_ESTABLISHED", 0, 10*time.Second)
	time.Sleep(time.Second)
	e.mustPost(t, "hangup", "")
	b.WaitEvent(t, "CALL_CLOSED", n, 10*time.Second)

	e.mustPost(t, "dial", `{"to":"5003"}`)
	n, _ = b.WaitEvent(t, "CALL_INCOMING", n, 10*time.Second)
	b.Command(t, "accept", "")
	e.waitStatus(t, "call", "in_call", 10*time.Second)
	time.Sleep(time.Second)
	b.Command(t, "hangup", "")
	e.waitStatus(t, "call", "idle", 10*time.Second)
	requireTone(t, e.Speaker, 600)
}
