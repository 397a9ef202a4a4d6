package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Calls whose far end vanishes without a BYE (a browser killed mid-call, a softphone killed)
// are hung up: by the proxy for the calls the Pi bridges, by the Pi's own phone after its RTP
// timeout. The survivor gets a BYE, and the call lists say why.

// A browser calls baresip (UDP, plain RTP through the WebRTC bridge) and is killed mid-call:
// baresip gets a BYE from the Pi within seconds, and the call list says the tab closed.
func TestBrowserKilledMidCallHangsUpBaresip(t *testing.T) {
	e := startWeb(t, phoneOptions{})
	page := openSoftphone(t, e, "softphone")
	b := startBaresip(t, baresipOptions{ext: "5004", user: "softphone2", pass: softphonePassword,
		registrar: fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort), answer: "auto"})
	page.Eval(`$("number").value = "5004"; $("call").click()`)
	b.WaitEvent(t, "CALL_ESTABLISHED", 0, 15*time.Second)
	page.WaitFor(`$("status").textContent === "connected"`, 10*time.Second)
	n := b.Events()
	killed := time.Now()
	page.Kill()
	_, closed := b.WaitEvent(t, "CALL_CLOSED", n, 10*time.Second)
	t.Logf("baresip hung up %s after the browser was killed", time.Since(killed).Round(time.Millisecond))
	// baresip (libre's sipsess) closes a call on a received BYE with ECONNRESET.
	if closed["param"] != "Connection reset by peer" {
		t.Errorf("baresip closed the call with %q, want on a BYE (Connection reset by peer)", closed["param"])
	}
	calls := registrarCalls(t, e.api)
	if len(calls) == 0 || calls[0].State != "ended" || !strings.Contains(calls[0].Reason, "browser tab closed") {
		t.Fatalf("call list %+v, want the call ended because the browser tab closed", calls)
	}
	waitFor(t, "the bridge to release the call's media", 5*time.Second, func() bool {
		return strings.Contains(e.Logs(), "webrtc bridge: call closed")
	})
}

// A browser calls baresip and is killed while baresip rings: the Pi cancels the call at once,
// as the browser's CANCEL would have, and baresip stops ringing.
func TestBrowserKilledWhileRingingCancels(t *testing.T) {
	e := startWeb(t, phoneOptions{})
	page := openSoftphone(t, e, "softphone")
	b := startBaresip(t, baresipOptions{ext: "5004", user: "softphone2", pass: softphonePassword,
		registrar: fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort)})
	page.Eval(`$("number").value = "5004"; $("call").click()`)
	n, _ := b.WaitEvent(t, "CALL_INCOMING", 0, 15*time.Second)
	killed := time.Now()
	page.Kill()
	b.WaitEvent(t, "CALL_CLOSED", n, 10*time.Second)
	t.Logf("baresip stopped ringing %s after the browser was killed", time.Since(killed).Round(time.Millisecond))
	waitFor(t, "the call list to show the call failed", 5*time.Second, func() bool {
		calls := registrarCalls(t, e.api)
		return len(calls) > 0 && calls[0].State == "failed"
	})
}

// baresip calls the Pi's handset and is killed mid-call: the phone hears nothing more and hangs
// up after rtp_timeout (3 s here), with the busy tone; the call log says why.
func TestPhoneHangsUpWhenFarEndVanishes(t *testing.T) {
	e := startPhone(t, phoneOptions{phoneTOML: `rtp_timeout = "3s"` + "\n"})
	b := startBaresip(t, baresipOptions{ext: "5003", user: "softphone", pass: softphonePassword,
		registrar: fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort)})
	b.Command(t, "dial", fmt.Sprintf("sip:5002@127.0.0.1:%d", e.RegistrarPort))
	e.waitStatus(t, "call", "ringing", 10*time.Second)
	e.mustPost(t, "answer", "")
	b.WaitEvent(t, "CALL_ESTABLISHED", 0, 10*time.Second)
	time.Sleep(4 * time.Second) // longer than rtp_timeout: a call with audio is kept
	if st := e.status(t); st["call"] != "in_call" {
		t.Fatalf("a call with audio both ways ended: %v", st["call"])
	}
	killed := time.Now()
	b.Kill(t)
	e.waitStatus(t, "call", "idle", 10*time.Second)
	after := time.Since(killed)
	t.Logf("the phone hung up %s after baresip was killed (rtp_timeout 3s)", after.Round(time.Millisecond))
	if after < 2*time.Second {
		t.Errorf("hung up %s after the far end went silent, before rtp_timeout", after)
	}
	calls := e.callLog(t)
	if len(calls) == 0 || calls[0]["reason"] != "no audio from the far end" || calls[0]["outcome"] != "answered" {
		t.Fatalf("call log %v, want the call answered and ended for no audio from the far end", calls)
	}
	if !strings.Contains(e.Logs(), "RTP timeout") {
		t.Error("the log does not say the RTP timeout hung up")
	}
}
