//go:build imagetest

package image

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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
	tone := filepath.Join(t.TempDir(), "tone1000.wav")
	if err := os.WriteFile(tone, sineWAV(phoneTone, 8000, 20*time.Second), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("mcopy", "-o", "-i", c+"@@4M", tone, "::tone1000.wav")
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mcopy: %v\n%s", err, out)
	}
	g := boot(t, virt, c, "call")
	pi := bootToRegistered(t, g, "eth0")

	p := startBaresip(t, pi)
	p.command(t, "dial", "sip:5002@"+pi)
	waitAPI(t, pi, func(st map[string]any) bool { return st["call"] == "ringing" }, 20*time.Second)
	apiPost(t, pi, "/api/v1/answer")
	p.waitEvent(t, "CALL_ESTABLISHED", 15*time.Second)
	time.Sleep(4 * time.Second)
	apiPost(t, pi, "/api/v1/hangup")
	p.waitEvent(t, "CALL_CLOSED", 15*time.Second)

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
	x, rate, err := decodeWAV(wav)
	if err != nil {
		t.Fatal(err)
	}
	f, share := dominant(x, rate)
	t.Logf("the phone's speaker: %.0f Hz, %.0f%% of the signal", f, 100*share)
	if math.Abs(f-peerTone) > 20 || share < 0.5 {
		t.Errorf("the phone heard %.0f Hz (%.0f%% of the signal), want the peer's %d Hz", f, 100*share, peerTone)
	}
	heard, err := os.ReadFile(p.decodedFile(t))
	if err != nil {
		t.Fatal(err)
	}
	y, rate2, err := decodeWAV(heard)
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

// baresip is a softphone on the LAN (extension 5003 of testdata/call.toml) driven through ctrl_tcp;
// its microphone is a sine and what it hears is written to a WAV file (sndfile module).
type baresip struct {
	dir    string
	cmd    *exec.Cmd
	done   chan struct{}
	conn   net.Conn
	mu     sync.Mutex
	events []string
	notify chan struct{}
}

func startBaresip(t *testing.T, pi string) *baresip {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`poll_method epoll
sip_listen %s:5080
audio_player alsa,null
audio_alert alsa,null
audio_source ausine,%d
ausrc_srate 48000
ausrc_channels 2
rtp_ports 20000-20010
module_path /usr/lib/baresip/modules
module g711.so
module ausine.so
module alsa.so
module sndfile.so
module_app account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:4444
snd_path %s
`, hostIP, peerTone, dir)
	os.WriteFile(filepath.Join(dir, "config"), []byte(cfg), 0o644)
	acct := fmt.Sprintf("<sip:5003@%s>;auth_user=peer;auth_pass=peer-test-password-1618;regint=600;answermode=manual;audio_codecs=PCMU,PCMA\n", pi)
	os.WriteFile(filepath.Join(dir, "accounts"), []byte(acct), 0o600)
	p := &baresip{dir: dir, notify: make(chan struct{}, 1), done: make(chan struct{})}
	logf, _ := os.Create(filepath.Join(logDir(t), "baresip.log"))
	p.cmd = exec.Command("baresip", "-n", hostIP, "-f", dir)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); logf.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(3 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		if p.conn != nil {
			p.conn.Close()
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.Dial("tcp", "127.0.0.1:4444")
		if err == nil {
			p.conn = conn
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip control socket: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	go p.read()
	p.waitEvent(t, "REGISTER_OK", 20*time.Second)
	return p
}

// read collects the event types of ctrl_tcp's netstring JSON messages.
func (p *baresip) read() {
	r := bufio.NewReader(p.conn)
	for {
		s, err := r.ReadString(':')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(s[:len(s)-1]))
		if err != nil || n > 1<<20 {
			return
		}
		buf := make([]byte, n+1)
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		var m map[string]any
		if json.Unmarshal(buf[:n], &m) == nil {
			p.mu.Lock()
			p.events = append(p.events, fmt.Sprint(m["type"]))
			p.mu.Unlock()
			select {
			case p.notify <- struct{}{}:
			default:
			}
		}
	}
}

func (p *baresip) command(t *testing.T, cmd, params string) {
	t.Helper()
	j, _ := json.Marshal(map[string]string{"command": cmd, "params": params, "token": cmd})
	if _, err := fmt.Fprintf(p.conn, "%d:%s,", len(j), j); err != nil {
		t.Fatalf("baresip %s: %v", cmd, err)
	}
}

func (p *baresip) waitEvent(t *testing.T, typ string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		seen := strings.Contains(" "+strings.Join(p.events, " ")+" ", " "+typ+" ")
		p.mu.Unlock()
		if seen {
			return
		}
		select {
		case <-p.notify:
		case <-deadline:
			t.Fatalf("baresip never reported %s within %s (events %v)", typ, timeout, p.events)
		}
	}
}

func (p *baresip) decodedFile(t *testing.T) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(p.dir, "dump-*-dec.wav"))
	if len(files) == 0 {
		t.Fatalf("baresip recorded nothing (no dump-*-dec.wav in %s)", p.dir)
	}
	return files[0]
}

// sineWAV is a 16-bit mono PCM WAV file of a sine at half scale.
func sineWAV(hz, rate int, d time.Duration) []byte {
	n := int(d.Seconds() * float64(rate))
	var b bytes.Buffer
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + 2*n))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1))
	le(uint16(1))
	le(uint32(rate))
	le(uint32(2 * rate))
	le(uint16(2))
	le(uint16(16))
	b.WriteString("data")
	le(uint32(2 * n))
	for i := 0; i < n; i++ {
		le(int16(16383 * math.Sin(2*math.Pi*float64(hz)*float64(i)/float64(rate))))
	}
	return b.Bytes()
}

// decodeWAV returns the first channel of 16-bit PCM WAV data and its sample rate.
func decodeWAV(b []byte) ([]float64, int, error) {
	if len(b) < 12 || !bytes.Equal(b[:4], []byte("RIFF")) || !bytes.Equal(b[8:12], []byte("WAVE")) {
		return nil, 0, fmt.Errorf("not a WAV file")
	}
	var channels, bits, rate int
	for off := 12; off+8 <= len(b); {
		id, size := string(b[off:off+4]), int(binary.LittleEndian.Uint32(b[off+4:]))
		body := b[off+8 : min(len(b), off+8+size)]
		switch id {
		case "fmt ":
			channels = int(binary.LittleEndian.Uint16(body[2:]))
			rate = int(binary.LittleEndian.Uint32(body[4:]))
			bits = int(binary.LittleEndian.Uint16(body[14:]))
		case "data":
			if bits != 16 || channels == 0 {
				return nil, 0, fmt.Errorf("%d-bit %d-channel audio, want 16-bit PCM", bits, channels)
			}
			var x []float64
			for i := 0; i+2*channels <= len(body); i += 2 * channels {
				x = append(x, float64(int16(binary.LittleEndian.Uint16(body[i:]))))
			}
			return x, rate, nil
		}
		off += 8 + size + size%2
	}
	return nil, 0, fmt.Errorf("no data chunk")
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
