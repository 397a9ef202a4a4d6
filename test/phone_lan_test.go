package e2e

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// lanAddress is one of this machine's non-loopback IPv4 addresses: the "LAN" a softphone is on.
func lanAddress(t *testing.T) string {
	t.Helper()
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
			return ipn.IP.String()
		}
	}
	t.Fatal("this machine has no non-loopback IPv4 address to stand for the LAN")
	return ""
}

// The appliance's default setup: registrar and phone listen on every interface and the phone
// registers to its own registrar over loopback, while a softphone on the LAN calls it. The audio
// must flow both ways between the LAN addresses (a loopback address in the phone's SDP leaves the
// softphone mute) and the phone's hang-up must reach the softphone.
func TestPhoneAnswersLANSoftphoneWhenRegisteredOverLoopback(t *testing.T) {
	lan := lanAddress(t)
	e := startPhone(t, phoneOptions{allIfaces: true})
	b := startBaresip(t, baresipOptions{ext: "5003", user: "softphone", pass: softphonePassword,
		registrar: fmt.Sprintf("%s:%d", lan, e.RegistrarPort), toneHz: 600, listenIP: lan})

	b.Command(t, "dial", fmt.Sprintf("sip:5002@%s:%d", lan, e.RegistrarPort))
	e.waitStatus(t, "call", "ringing", 10*time.Second)
	e.mustPost(t, "answer", "")
	b.WaitEvent(t, "CALL_ESTABLISHED", 0, 10*time.Second)
	time.Sleep(talkTime)
	e.mustPost(t, "hangup", "")
	b.WaitEvent(t, "CALL_CLOSED", 0, 10*time.Second)
	e.waitStatus(t, "call", "idle", 5*time.Second)

	requireTone(t, e.Speaker, 600)
	requireTone(t, b.Received(t), 1000)
}

// The same setup, the other way: the Pi calls the LAN softphone, which hangs up.
func TestPhoneCallsLANSoftphoneWhenRegisteredOverLoopback(t *testing.T) {
	lan := lanAddress(t)
	e := startPhone(t, phoneOptions{allIfaces: true})
	b := startBaresip(t, baresipOptions{ext: "5003", user: "softphone", pass: softphonePassword,
		registrar: fmt.Sprintf("%s:%d", lan, e.RegistrarPort), toneHz: 600, listenIP: lan, answer: "auto"})
	waitFor(t, "the softphone registered", 10*time.Second, func() bool {
		for _, b := range e.bindings(t) {
			if b == "5003" {
				return true
			}
		}
		return false
	})
	e.mustPost(t, "dial", `{"to":"5003"}`)
	b.WaitEvent(t, "CALL_ESTABLISHED", 0, 10*time.Second)
	time.Sleep(talkTime)
	b.Command(t, "hangup", "")
	e.waitStatus(t, "call", "idle", 10*time.Second)

	requireTone(t, e.Speaker, 600)
	requireTone(t, b.Received(t), 1000)
}

// bindings lists the extensions registered to the built-in registrar.
func (e *phoneEnv) bindings(t *testing.T) []string {
	st := e.status(t)
	reg, _ := st["registrar"].(map[string]any)
	list, _ := reg["bindings"].([]any)
	var out []string
	for _, b := range list {
		if m, ok := b.(map[string]any); ok {
			out = append(out, fmt.Sprint(m["extension"]))
		}
	}
	return out
}
