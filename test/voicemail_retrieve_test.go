package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/deskphone/deskphone/test/tone"
)

// seedMessage puts a message of d of a tone at hz in a mailbox folder, as a deposit would.
func (e *vmEnv) seedMessage(t *testing.T, box, folder, id string, hz float64, d time.Duration) string {
	t.Helper()
	dir := filepath.Join(e.DataDir, "voicemail", box, folder)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, id+".wav")
	tone.WriteSine(t, p, hz, 8000, d)
	return p
}

// sendKeys presses keys on baresip's keypad (RFC 4733 events), one at a time.
func sendKeys(t *testing.T, b interface {
	Command(testing.TB, string, string)
}, keys string) {
	t.Helper()
	for _, k := range keys {
		b.Command(t, "sndcode", string(k))
		time.Sleep(250 * time.Millisecond)
	}
}

// *97 from baresip: a wrong PIN is refused, the right one opens the mailbox; message 1 plays
// (its tone reaches the caller), 7 deletes it and message 2 plays, # hangs up. The heard
// message is no longer new; the deleted one is gone.
func TestVoicemailRetrieveBaresip(t *testing.T) {
	e := startVoicemail(t, "127.0.0.1", "")
	first := e.seedMessage(t, "5002", "new", "20261201T100000.000Z-5001", 700, 2*time.Second)
	second := e.seedMessage(t, "5002", "new", "20261201T110000.000Z-5003", 1300, 2*time.Second)
	pin := e.pin(t, "5002")
	b := startBaresip(t, baresipOptions{ext: "5002", user: "rpi", pass: "rpi-secret-22", registrar: e.Addr, toneHz: 400})
	n := b.Events()
	b.Command(t, "dial", "*97")
	b.WaitEvent(t, "CALL_ESTABLISHED", n, 10*time.Second)
	e.WaitLog(t, "msg=\"to voicemail\" component=registrar method=INVITE user=5002", 5*time.Second)

	wrong := "000000"
	if pin == wrong {
		wrong = "111111"
	}
	time.Sleep(time.Second)
	sendKeys(t, b, wrong+"#")
	e.WaitLog(t, "voicemail: wrong PIN", 5*time.Second)
	sendKeys(t, b, pin+"#")
	e.WaitLog(t, "voicemail retrieval", 10*time.Second)
	e.WaitLog(t, "message=20261201T100000.000Z-5001", 15*time.Second)
	time.Sleep(3 * time.Second) // "message one", then the message
	sendKeys(t, b, "7")
	e.WaitLog(t, "voicemail deleted", 5*time.Second)
	e.WaitLog(t, "message=20261201T110000.000Z-5003", 10*time.Second)
	time.Sleep(4 * time.Second)
	sendKeys(t, b, "#")
	b.WaitEvent(t, "CALL_CLOSED", n, 10*time.Second)

	if _, err := os.Stat(first); !os.IsNotExist(err) {
		t.Fatalf("deleted message still there: %v", err)
	}
	if _, err := os.Stat(second); !os.IsNotExist(err) {
		t.Fatalf("heard message still new: %v", err)
	}
	if saved := e.messages(t, "5002", "saved"); len(saved) != 1 || filepath.Base(saved[0]) != filepath.Base(second) {
		t.Fatalf("saved folder = %v, want the heard message", saved)
	}
	// Both messages reached the caller: each tone dominates some 100 ms windows of what it heard.
	x, rate := tone.ReadMono(t, b.Received(t))
	for _, hz := range []float64{700, 1300} {
		n := toneWindows(x, rate, hz)
		if n < 10 {
			t.Errorf("the caller heard %d×100 ms of the %.0f Hz message, want ≥ 1 s", n, hz)
		}
	}
}

// Key 0 in the *97 menu records the mailbox's own greeting (an empty mailbox still offers the
// menu); the next caller hears it instead of the default one.
func TestVoicemailOwnGreetingBaresip(t *testing.T) {
	e := startVoicemail(t, "127.0.0.1", "")
	pin := e.pin(t, "5002")
	owner := startBaresip(t, baresipOptions{ext: "5002", user: "rpi", pass: "rpi-secret-22", registrar: e.Addr, toneHz: 500})
	n := owner.Events()
	owner.Command(t, "dial", "*97")
	owner.WaitEvent(t, "CALL_ESTABLISHED", n, 10*time.Second)
	time.Sleep(time.Second)
	sendKeys(t, owner, pin+"#")
	e.WaitLog(t, "voicemail retrieval", 10*time.Second)
	time.Sleep(2 * time.Second) // "no messages", then the menu starts
	sendKeys(t, owner, "0")
	time.Sleep(8 * time.Second) // the prompt and the beep, then about 4 s of 500 Hz
	sendKeys(t, owner, "#")
	e.WaitLog(t, "voicemail greeting changed", 5*time.Second)
	owner.Command(t, "hangup", "")
	owner.WaitEvent(t, "CALL_CLOSED", n, 10*time.Second)
	requireMessageTone(t, filepath.Join(e.DataDir, "voicemail", "5002", "greeting.wav"), 500, 2*time.Second)

	caller := startBaresip(t, baresipOptions{ext: "5003", user: "guillaume", pass: "guillaume-secret-3", registrar: e.Addr, toneHz: 700})
	m := caller.Events()
	caller.Command(t, "dial", "5002")
	caller.WaitEvent(t, "CALL_ESTABLISHED", m, 10*time.Second) // after no_answer: the mailbox
	time.Sleep(5 * time.Second)
	caller.Command(t, "hangup", "")
	caller.WaitEvent(t, "CALL_CLOSED", m, 10*time.Second)
	x, rate := tone.ReadMono(t, caller.Received(t))
	if n := toneWindows(x, rate, 500); n < 20 {
		t.Fatalf("the caller heard %d×100 ms of the own greeting's 500 Hz, want ≥ 2 s", n)
	}
}
