package e2e

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deskphone/deskphone/test/tone"
)

// vmEnv is a deskphone service running its registrar and voicemail on free loopback ports.
type vmEnv struct {
	*regEnv
	Web string // http://127.0.0.1:port/api/v1/
}

// startVoicemail starts deskphone with the registrar on bind (127.0.0.1, or 0.0.0.0 as on the
// Pi), the voicemail (2 s no-answer, 2 s of silence ends a message) and the test accounts;
// extra is appended to the file.
func startVoicemail(t *testing.T, bind, extra string) *vmEnv {
	t.Helper()
	port := freePort(t, "both")
	web := freePort(t, "tcp")
	var b strings.Builder
	fmt.Fprintf(&b, "[registrar]\nenabled = true\nlisten = \"%s:%d\"\nrealm = \"deskphone\"\nqualify_interval = \"0s\"\nflood_requests = 1000\n", bind, port)
	for _, a := range regAccounts {
		fmt.Fprintf(&b, "[[registrar.accounts]]\nextension = %q\nusername = %q\npassword = %q\n", a.ext, a.user, a.pass)
	}
	fmt.Fprintf(&b, "[voicemail]\nenabled = true\nno_answer = \"2s\"\nsilence = \"2s\"\n")
	fmt.Fprintf(&b, "[provisioning]\nenabled = false\n[web]\nlisten = \"127.0.0.1:%d\"\n%s\n", web, extra)
	if !strings.Contains(extra, "[phone]") {
		b.WriteString("[phone]\nenabled = false\n")
	}
	svc := startService(t, b.String())
	svc.WaitLog(t, "voicemail ready", 5*time.Second)
	return &vmEnv{regEnv: &regEnv{Service: svc, Port: port, Addr: fmt.Sprintf("127.0.0.1:%d", port)}, Web: fmt.Sprintf("http://127.0.0.1:%d/api/v1/", web)}
}

// messages lists the WAV files of a mailbox folder.
func (e *vmEnv) messages(t *testing.T, box, folder string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(e.DataDir, "voicemail", box, folder, "*.wav"))
	return files
}

// pin reads a mailbox PIN from the console.
func (e *vmEnv) pin(t *testing.T, ext string) string {
	t.Helper()
	for _, line := range strings.Split(e.Logs(), "\n") {
		if strings.Contains(line, "mailbox: dial *97") && strings.Contains(line, "extension="+ext+" ") {
			_, p, _ := strings.Cut(line, "pin=")
			return strings.Fields(p)[0]
		}
	}
	t.Fatalf("no PIN for %s on the console", ext)
	return ""
}

// requireMessageTone checks a stored message: long enough, carrying the caller's tone.
func requireMessageTone(t *testing.T, path string, hz float64, minLen time.Duration) {
	t.Helper()
	x, rate := tone.ReadMono(t, path)
	if d := time.Duration(len(x)) * time.Second / time.Duration(rate); d < minLen {
		t.Fatalf("%s holds %s of audio, want at least %s", filepath.Base(path), d, minLen)
	}
	requireTone(t, path, hz)
}

// toneWindows counts the 100 ms windows of x in which hz (±20 Hz) is the strongest frequency
// and the level is audible.
func toneWindows(x []float64, rate int, hz float64) int {
	win, n := rate/10, 0
	for i := 0; i+win <= len(x); i += win {
		var e float64
		for _, v := range x[i : i+win] {
			e += v * v
		}
		if math.Sqrt(e/float64(win)) < 300 {
			continue
		}
		if got := strongest(x[i:i+win], rate); math.Abs(got-hz) <= 20 {
			n++
		}
	}
	return n
}

// strongest is the strongest frequency of x between 100 Hz and 3.5 kHz, in 10 Hz steps.
func strongest(x []float64, rate int) float64 {
	best, power := 0.0, 0.0
	for f := 100.0; f <= 3500; f += 10 {
		if p := tone.Goertzel(x, rate, f); p > power {
			best, power = f, p
		}
	}
	return best
}

// requireBeep fails unless the recording at path holds the voicemail's beep: at least 300 ms
// in which 1 kHz is the strongest frequency.
func requireBeep(t *testing.T, path string) {
	t.Helper()
	x, rate := tone.ReadMono(t, path)
	if n := toneWindows(x, rate, 1000); n < 3 {
		t.Fatalf("the caller heard no beep (1 kHz in %d windows of 100 ms of %s)", n, filepath.Base(path))
	}
}

// A caller whose callee has no phone registered gets the greeting and a beep, and what it says
// is stored as a WAV in the callee's mailbox, with its number in the name; the caller hears
// the greeting (speech, then the 1 kHz beep).
func TestVoicemailDepositBaresipUnreachable(t *testing.T) {
	// The registrar listens on every address, as on the Pi: the voicemail is on loopback, the
	// caller on another address, so the call is record-routed twice.
	e := startVoicemail(t, "0.0.0.0", "")
	lan := lanAddress(t)
	b := startBaresip(t, baresipOptions{ext: "5003", user: "guillaume", pass: "guillaume-secret-3",
		registrar: fmt.Sprintf("%s:%d", lan, e.Port), toneHz: 600, listenIP: lan})
	n := b.Events()
	b.Command(t, "dial", "5001")
	b.WaitEvent(t, "CALL_ESTABLISHED", n, 10*time.Second)
	e.WaitLog(t, "msg=\"call to voicemail\"", 5*time.Second)
	time.Sleep(10 * time.Second) // greeting (~5 s), beep, then about 4 s of message
	b.Command(t, "hangup", "")
	e.WaitLog(t, "ended=\"caller hung up\"", 5*time.Second) // the BYE found its way through the registrar
	msgs := e.messages(t, "5001", "new")
	if len(msgs) != 1 {
		t.Fatalf("mailbox 5001 holds %d new messages, want 1", len(msgs))
	}
	if !strings.HasSuffix(msgs[0], "-5003.wav") && !strings.HasSuffix(msgs[0], "-guillaume.wav") {
		t.Fatalf("message %s does not name the caller", filepath.Base(msgs[0]))
	}
	requireMessageTone(t, msgs[0], 600, 2*time.Second)
	requireBeep(t, b.Received(t))
	if _, err := os.Stat(filepath.Join(e.DataDir, "voicemail", "5001", "tmp")); err == nil {
		if left, _ := filepath.Glob(filepath.Join(e.DataDir, "voicemail", "5001", "tmp", "*")); len(left) > 0 {
			t.Fatalf("recording left in tmp: %v", left)
		}
	}
}

// ulawTone writes d of a sine at hz as raw µ-law, the format SIPp's rtp_stream sends.
func ulawTone(t *testing.T, hz float64, d time.Duration) string {
	t.Helper()
	pcm := tone.Sine(hz, 8000, d, 8000)
	b := make([]byte, len(pcm))
	for i, s := range pcm {
		b[i] = muEncode(s)
	}
	p := filepath.Join(t.TempDir(), fmt.Sprintf("tone-%.0f.ulaw", hz))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// depositScenario is voicemail_deposit.xml streaming audio (SIPp does not expand keys in
// rtp_stream).
func depositScenario(t *testing.T, audio string) string {
	t.Helper()
	b, err := os.ReadFile(sippScenario(t, "voicemail_deposit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "voicemail_deposit.xml")
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "[audio]", audio)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// SIPp callers reach the mailbox when the phone is busy (486, what the Pi's phone answers in
// do-not-disturb) and when it rings past no_answer (the phone gets a CANCEL); what each
// caller streams is in the stored message.
func TestVoicemailDepositSIPp(t *testing.T) {
	e := startVoicemail(t, "127.0.0.1", "")
	for _, c := range []struct {
		name, uas, logged string
		hz                float64
	}{
		{"busy", "phone_uas_busy.xml", "why=busy", 700},
		{"no answer", "uas_ring.xml", `why="no answer"`, 900},
	} {
		t.Run(c.name, func(t *testing.T) {
			uas := freePort(t, "udp")
			e.sippRegister(t, "rpi", "rpi-secret-22", uas)
			before := len(e.messages(t, "5002", "new"))
			wait := startSIPp(t, "-sf", sippScenario(t, c.uas), "-i", "127.0.0.1", "-p", strconv.Itoa(uas))
			runSIPp(t, e.Addr, "-sf", depositScenario(t, ulawTone(t, c.hz, 11*time.Second)), "-s", "5002",
				"-key", "aor", "alcatel", "-au", "alcatel", "-ap", "alcatel-secret-1", "-i", "127.0.0.1",
				"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePorts(t, "udp", 4)))
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			e.WaitLog(t, c.logged, 2*time.Second)
			e.WaitLog(t, "voicemail message left", 5*time.Second)
			msgs := e.messages(t, "5002", "new")
			if len(msgs) != before+1 {
				t.Fatalf("mailbox 5002 holds %d new messages, want %d", len(msgs), before+1)
			}
			requireMessageTone(t, msgs[len(msgs)-1], c.hz, 3*time.Second)
		})
	}
}

// The power fails (SIGKILL) in the middle of a message: at the next start the part recorded so
// far is a new message with a valid header, carrying the caller's tone.
func TestVoicemailPowerCutKeepsMessage(t *testing.T) {
	e := startVoicemail(t, "127.0.0.1", "")
	wait := startSIPp(t, e.Addr, "-sf", depositScenario(t, ulawTone(t, 800, 11*time.Second)), "-s", "5001",
		"-key", "aor", "rpi", "-au", "rpi", "-ap", "rpi-secret-22", "-i", "127.0.0.1",
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePorts(t, "udp", 4)), "-m", "1", "-timeout", "14s")
	e.WaitLog(t, "media negotiated", 5*time.Second)
	time.Sleep(9500 * time.Millisecond) // greeting (5.5 s), beep, about 3.5 s of message
	e.Kill()
	defer wait() // the caller gives up: its BYE goes unanswered
	if got := e.messages(t, "5001", "new"); len(got) != 0 {
		t.Fatalf("a message in progress was already filed: %v", got)
	}
	e.start(t)
	e.WaitLog(t, "kept a recording interrupted by a restart or power cut", 5*time.Second)
	msgs := e.messages(t, "5001", "new")
	if len(msgs) != 1 {
		t.Fatalf("mailbox 5001 holds %d new messages after the power cut, want 1", len(msgs))
	}
	requireMessageTone(t, msgs[0], 800, 2*time.Second)
}

// The Pi's own phone in do-not-disturb answers 486: the caller (baresip) reaches the Pi's
// mailbox and its message is stored, and the Pi's phone never rang.
func TestVoicemailPiPhoneDoNotDisturb(t *testing.T) {
	e := startPhone(t, phoneOptions{extra: "[voicemail]\nenabled = true\nno_answer = \"2s\"\nsilence = \"2s\"\n"})
	e.WaitLog(t, "voicemail ready", 5*time.Second)
	reg := fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort)
	a := startBaresip(t, baresipOptions{ext: "5003", user: "softphone", pass: softphonePassword, registrar: reg, toneHz: 600})
	e.mustPost(t, "dnd", `{"on":true}`)
	n := a.Events()
	a.Command(t, "dial", "sip:5002@"+reg)
	a.WaitEvent(t, "CALL_ESTABLISHED", n, 10*time.Second)
	e.WaitLog(t, "why=busy", 5*time.Second)
	time.Sleep(10 * time.Second)
	a.Command(t, "hangup", "")
	e.WaitLog(t, "voicemail message left", 5*time.Second)
	msgs, _ := filepath.Glob(filepath.Join(e.DataDir, "voicemail", "5002", "new", "*.wav"))
	if len(msgs) != 1 {
		t.Fatalf("the Pi's mailbox holds %d new messages, want 1", len(msgs))
	}
	requireMessageTone(t, msgs[0], 600, 2*time.Second)
	e.requireLastCall(t, "in", "5003", "missed", 0)
}

// A full mailbox store (quota_mb = 1, already holding 70 s of messages): the caller hears that
// it is full, nothing is recorded, and the log says why.
func TestVoicemailQuotaFull(t *testing.T) {
	e := startVoicemail(t, "127.0.0.1", "")
	e.Stop()
	cfg, _ := os.ReadFile(e.ConfigPath)
	os.WriteFile(e.ConfigPath, []byte(strings.Replace(string(cfg), "[voicemail]\n", "[voicemail]\nquota_mb = 1\n", 1)), 0o600)
	e.seedMessage(t, "5002", "saved", "20261201T100000.000Z-5001", 440, 70*time.Second)
	e.start(t)
	// The voicemail says so and hangs up: SIPp gets a BYE in the middle of its message.
	err := trySIPp(t, 30*time.Second, e.Addr, "-sf", depositScenario(t, ulawTone(t, 700, 11*time.Second)), "-s", "5001",
		"-key", "aor", "rpi", "-au", "rpi", "-ap", "rpi-secret-22", "-i", "127.0.0.1",
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePorts(t, "udp", 4)))
	if err == nil || !strings.Contains(err.Error(), "BYE") {
		t.Fatalf("the full mailbox did not hang up on the caller: %v", err)
	}
	e.WaitLog(t, "voicemail full: the caller could not leave a message", 2*time.Second)
	if got := e.messages(t, "5001", "new"); len(got) != 0 {
		t.Fatalf("recorded over the quota: %v", got)
	}
}
