package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// REGISTER with digest authentication, RFC 3261 §10.3 and §22, against SIPp: the right password
// is accepted, a wrong one, an unknown user and another account's AOR are refused.
func TestRegistrarSIPpRegister(t *testing.T) {
	e := startRegistrar(t, "")
	reg := sippScenario(t, "register_ok.xml")
	t.Run("accepted", func(t *testing.T) {
		runSIPp(t, e.Addr, "-sf", reg, "-key", "aor", "alcatel", "-key", "expires", "3600", "-au", "alcatel", "-ap", "alcatel-secret-1", "-i", "127.0.0.1")
		e.WaitLog(t, "phone registered", 5*time.Second)
	})
	t.Run("by extension", func(t *testing.T) {
		runSIPp(t, e.Addr, "-sf", reg, "-key", "aor", "5002", "-key", "expires", "3600", "-au", "5002", "-ap", "rpi-secret-22", "-i", "127.0.0.1")
	})
	t.Run("wrong password gets 401 again", func(t *testing.T) {
		runSIPp(t, e.Addr, "-sf", sippScenario(t, "register_401.xml"), "-key", "aor", "alcatel", "-key", "expires", "3600", "-au", "alcatel", "-ap", "wrong-password", "-i", "127.0.0.1")
	})
	t.Run("unknown user gets 401 again", func(t *testing.T) {
		runSIPp(t, e.Addr, "-sf", sippScenario(t, "register_401.xml"), "-key", "aor", "mallory", "-key", "expires", "3600", "-au", "mallory", "-ap", "whatever-1", "-i", "127.0.0.1")
	})
	t.Run("another account's AOR gets 403", func(t *testing.T) {
		runSIPp(t, e.Addr, "-sf", sippScenario(t, "register_403.xml"), "-key", "aor", "alcatel", "-key", "expires", "3600", "-au", "rpi", "-ap", "rpi-secret-22", "-i", "127.0.0.1")
	})
	if !strings.Contains(e.Logs(), "authentication failed") || !strings.Contains(e.Logs(), "credentials belong to another account") {
		t.Errorf("the log does not say why registrations were refused")
	}
}

// A UAC calls a registered UAS through the registrar (RFC 3261 §16): 407, 180, 200, ACK and
// BYE along the Record-Route set, over UDP and over TCP.
func TestRegistrarSIPpCall(t *testing.T) {
	e := startRegistrar(t, "")
	for _, tp := range []struct{ name, flag string }{{"UDP", "u1"}, {"TCP", "t1"}} {
		t.Run(tp.name, func(t *testing.T) {
			uas := freePort(t, "both")
			runSIPp(t, e.Addr, "-t", tp.flag, "-sf", sippScenario(t, "register_ok.xml"), "-key", "aor", "rpi", "-key", "expires", "3600",
				"-au", "rpi", "-ap", "rpi-secret-22", "-i", "127.0.0.1", "-p", strconv.Itoa(uas))
			wait := startSIPp(t, "-t", tp.flag, "-sf", sippScenario(t, "uas_answer.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(uas))
			runSIPp(t, e.Addr, "-t", tp.flag, "-sf", sippScenario(t, "uac_call.xml"), "-s", "5002", "-key", "aor", "alcatel", "-au", "alcatel", "-ap", "alcatel-secret-1", "-i", "127.0.0.1")
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			e.WaitLog(t, "transport="+tp.name, 2*time.Second)
		})
	}
	e.WaitLog(t, "call answered", 2*time.Second)
}

// The caller hangs up while the callee rings: the CANCEL reaches the callee (RFC 3261 §16.10).
func TestRegistrarSIPpCancelWhileRinging(t *testing.T) {
	e := startRegistrar(t, "")
	uas := freePort(t, "udp")
	e.sippRegister(t, "rpi", "rpi-secret-22", uas)
	wait := startSIPp(t, "-sf", sippScenario(t, "uas_ring.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(uas))
	runSIPp(t, e.Addr, "-sf", sippScenario(t, "uac_cancel.xml"), "-s", "rpi", "-key", "aor", "alcatel", "-au", "alcatel", "-ap", "alcatel-secret-1", "-i", "127.0.0.1")
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	e.WaitLog(t, "call cancelled by caller", 2*time.Second)
}

// Unknown extension → 404; a known one with no phone registered → 480; a phone that rings past
// ring_timeout → 480 and the phone gets a CANCEL.
func TestRegistrarSIPpCallFailures(t *testing.T) {
	e := startRegistrar(t, `ring_timeout = "2s"`)
	caller := []string{"-key", "aor", "alcatel", "-au", "alcatel", "-ap", "alcatel-secret-1", "-i", "127.0.0.1"}
	t.Run("404", func(t *testing.T) {
		runSIPp(t, append([]string{e.Addr, "-sf", sippScenario(t, "uac_404.xml"), "-s", "5999"}, caller...)...)
		e.WaitLog(t, "call failed: no such extension", 2*time.Second)
	})
	t.Run("480 not registered", func(t *testing.T) {
		runSIPp(t, append([]string{e.Addr, "-sf", sippScenario(t, "uac_480.xml"), "-s", "5003"}, caller...)...)
		e.WaitLog(t, "call failed: extension has no reachable phone", 2*time.Second)
	})
	t.Run("480 ring timeout", func(t *testing.T) {
		uas := freePort(t, "udp")
		e.sippRegister(t, "rpi", "rpi-secret-22", uas)
		wait := startSIPp(t, "-sf", sippScenario(t, "uas_ring.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(uas))
		runSIPp(t, append([]string{e.Addr, "-sf", sippScenario(t, "uac_noanswer.xml"), "-s", "5002"}, caller...)...)
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		e.WaitLog(t, "call failed: no answer", 2*time.Second)
	})
}
