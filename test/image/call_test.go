//go:build imagetest

package image

import (
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deskphone/deskphone/test/baresip"
	"github.com/deskphone/deskphone/test/tone"
)

const (
	callToken = "image-test-token" // testdata/call.toml
	peerTone  = 600                // the peer's microphone
	phoneTone = 1000               // the phone's microphone (testdata/tone1000.wav)
)

// TestCallAnsweredThroughAPIWithToneBothWays: baresip on the LAN calls extension 5002, the test
// answers through the HTTP API, and each side hears the other's tone.
func TestCallAnsweredThroughAPIWithToneBothWays(t *testing.T) {
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Skip("baresip not installed (Debian package baresip-core)")
	}
	c := card(t, "call.toml")
	toneWAV := filepath.Join(t.TempDir(), "tone1000.wav")
	if err := os.WriteFile(toneWAV, tone.WAV(tone.Sine(phoneTone, 8000, 20*time.Second, 16383), 8000), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("mcopy", "-o", "-i", c+"@@4M", toneWAV, "::tone1000.wav")
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mcopy: %v\n%s", err, out)
	}
	g := boot(t, virt, c, "call")
	pi := bootToRegistered(t, g, "eth0")

	p := startBaresip(t, pi)
	p.Command(t, "dial", "sip:5002@"+pi)
	waitAPI(t, pi, func(st map[string]any) bool { return st["call"] == "ringing" }, 20*time.Second)
	apiPost(t, pi, "/api/v1/answer")
	p.WaitEvent(t, "CALL_ESTABLISHED", 0, 15*time.Second)
	time.Sleep(4 * time.Second)
	apiPost(t, pi, "/api/v1/hangup")
	p.WaitEvent(t, "CALL_CLOSED", 0, 15*time.Second)

	// The phone's speaker file, fetched over the console.
	out := g.shell("base64 /tmp/speaker.wav | tr -d '\\n'; echo", 60*time.Second)
	var b64 string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "UklGR") { // "RIFF"
			b64 = strings.TrimSpace(l)
		}
	}
	wav, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(wav) < 1000 {
		t.Fatalf("the phone's speaker recording (%d bytes): %v", len(wav), err)
	}
	x, rate, err := tone.DecodeFirstChannel(wav)
	if err != nil {
		t.Fatal(err)
	}
	f, share := dominant(x, rate)
	t.Logf("the phone's speaker: %.0f Hz, %.0f%% of the signal", f, 100*share)
	if math.Abs(f-peerTone) > 20 || share < 0.5 {
		t.Errorf("the phone heard %.0f Hz (%.0f%% of the signal), want the peer's %d Hz", f, 100*share, peerTone)
	}
	heard, err := os.ReadFile(p.Received(t))
	if err != nil {
		t.Fatal(err)
	}
	y, rate2, err := tone.DecodeFirstChannel(heard)
	if err != nil {
		t.Fatal(err)
	}
	f, share = dominant(y, rate2)
	t.Logf("the peer's earpiece: %.0f Hz, %.0f%% of the signal", f, 100*share)
	if math.Abs(f-phoneTone) > 20 || share < 0.5 {
		t.Errorf("the peer heard %.0f Hz (%.0f%% of the signal), want the phone's %d Hz", f, 100*share, phoneTone)
	}
}

func apiPost(t *testing.T, pi, path string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+pi+path, strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+callToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("POST %s: %s %s", path, res.Status, b)
	}
}

func waitAPI(t *testing.T, pi string, ok func(map[string]any) bool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var st map[string]any
	for time.Now().Before(deadline) {
		_, st = status(t, pi, callToken)
		if ok(st) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("status never reached the expected state: %v", st)
}

// startBaresip runs a softphone on the LAN (extension 5003 of testdata/call.toml), driven through
// ctrl_tcp, and waits until it is registered; its microphone is a sine and what it hears is
// written to a WAV file (sndfile module).
func startBaresip(t *testing.T, pi string) *baresip.Phone {
	t.Helper()
	logf, err := os.Create(filepath.Join(logDir(t), "baresip.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() }) // after baresip has stopped
	p := baresip.Start(t, baresip.Config{ListenIP: hostIP, SIPPort: 5080, CtrlPort: 4444, RTPMin: 20000, RTPMax: 20010,
		ToneHz: peerTone, Output: logf,
		Account: fmt.Sprintf("<sip:5003@%s>;auth_user=peer;auth_pass=peer-test-password-1618;regint=600;answermode=manual;audio_codecs=PCMU,PCMA", pi)})
	p.WaitLog(t, "200 OK", 20*time.Second) // registered
	return p
}

// dominant finds the strongest frequency (50 Hz to 3.5 kHz, 10 Hz steps, Goertzel) in the loudest
// second of x and the share of that second's energy it carries.
func dominant(x []float64, rate int) (freq, share float64) {
	n := rate
	if len(x) < n {
		n = len(x)
	}
	best, bestE := 0, -1.0
	for start := 0; start+n <= len(x); start += n / 2 {
		e := 0.0
		for _, v := range x[start : start+n] {
			e += v * v
		}
		if e > bestE {
			best, bestE = start, e
		}
	}
	w := x[best : best+n]
	total := 0.0
	for _, v := range w {
		total += v * v
	}
	if total == 0 {
		return 0, 0
	}
	var bestP float64
	for f := 50.0; f <= 3500; f += 10 {
		k := 2 * math.Cos(2*math.Pi*f/float64(rate))
		var s1, s2 float64
		for _, v := range w {
			s1, s2 = v+k*s1-s2, s1
		}
		p := s1*s1 + s2*s2 - k*s1*s2
		if p > bestP {
			bestP, freq = p, f
		}
	}
	// A pure tone's Goertzel power is (N/2)·Σx²; neighbours within ±10 Hz share it.
	share = bestP / (float64(n) / 2 * total)
	return freq, math.Min(share, 1)
}
