package hardware

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
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

// peer is a baresip softphone on the host side of the test LAN, driven over ctrl_tcp. Its
// microphone is a sine; what it hears is dumped to a WAV file (sndfile module).
type peer struct {
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	conn net.Conn
	log  *lockedBuffer

	mu     sync.Mutex
	events []map[string]any
	notify chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startPeer starts baresip at addr, registered to the phone's registrar as extension 5003.
func startPeer(t *testing.T, addr, registrar string, toneHz int) *peer {
	t.Helper()
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Skip("baresip not installed (Debian package baresip-core)")
	}
	dir := t.TempDir()
	p := &peer{dir: dir, log: &lockedBuffer{}, notify: make(chan struct{}, 1), done: make(chan struct{})}
	cfg := fmt.Sprintf(`poll_method epoll
sip_listen %s:5070
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
`, addr, toneHz, dir)
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	acct := fmt.Sprintf("<sip:5003@%s>;auth_user=peer;auth_pass=peer-test-password-2718;regint=600;answermode=manual;audio_codecs=PCMU,PCMA\n", registrar)
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(acct), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command("baresip", "-n", addr, "-f", dir)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
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
		if t.Failed() {
			t.Logf("baresip:\n%s", lastLines(p.log.String(), 80))
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:4444")
		if err == nil {
			p.conn = c
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip control socket: %v\n%s", err, p.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	go p.read()
	deadline = time.Now().Add(20 * time.Second)
	for !strings.Contains(p.log.String(), "200 OK") { // registered
		if time.Now().After(deadline) {
			t.Fatalf("baresip did not register to %s:\n%s", registrar, p.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p
}

// read collects ctrl_tcp's netstring JSON messages.
func (p *peer) read() {
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
			p.events = append(p.events, m)
			p.mu.Unlock()
			select {
			case p.notify <- struct{}{}:
			default:
			}
		}
	}
}

func (p *peer) command(t *testing.T, cmd, params string) {
	t.Helper()
	j, _ := json.Marshal(map[string]string{"command": cmd, "params": params, "token": cmd})
	if _, err := fmt.Fprintf(p.conn, "%d:%s,", len(j), j); err != nil {
		t.Fatalf("baresip %s: %v", cmd, err)
	}
}

// has reports whether an event of type typ arrived.
func (p *peer) has(typ string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.events {
		if e["type"] == typ {
			return true
		}
	}
	return false
}

func (p *peer) waitEvent(t *testing.T, typ string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for !p.has(typ) {
		select {
		case <-p.notify:
		case <-deadline:
			t.Fatalf("the peer never saw %s within %v", typ, timeout)
		}
	}
}

// heard is what the peer received in the call (its decoded audio), mono, with its rate.
func (p *peer) heard(t *testing.T) ([]float64, int) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(p.dir, "dump-*-dec.wav"))
	if len(files) == 0 {
		t.Fatalf("the peer recorded nothing (no dump-*-dec.wav in %s)", p.dir)
	}
	x, rate, err := readWAV(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return x, rate
}

// readWAV reads the first channel of a 16-bit PCM WAV file.
func readWAV(path string) ([]float64, int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, fmt.Errorf("%s: not a WAV file", path)
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
				return nil, 0, fmt.Errorf("%s: %d-bit %d-channel audio, want 16-bit PCM", path, bits, channels)
			}
			step := 2 * channels
			x := make([]float64, 0, len(body)/step)
			for i := 0; i+1 < len(body); i += step {
				x = append(x, float64(int16(binary.LittleEndian.Uint16(body[i:])))/32768)
			}
			return x, rate, nil
		}
		off += 8 + size + size%2
	}
	return nil, 0, errors.New(path + ": no data chunk")
}

// dominant returns the strongest frequency (10 Hz steps, 100–3900 Hz) and the RMS of x.
func dominant(x []float64, rate int) (float64, float64) {
	var sum float64
	for _, v := range x {
		sum += v * v
	}
	rms := math.Sqrt(sum / float64(max(1, len(x))))
	best, bestP := 0.0, -1.0
	for f := 100.0; f < 3900; f += 10 {
		c := 2 * math.Cos(2*math.Pi*f/float64(rate))
		var s1, s2 float64
		for _, v := range x {
			s0 := v + c*s1 - s2
			s2, s1 = s1, s0
		}
		if pw := s1*s1 + s2*s2 - c*s1*s2; pw > bestP {
			best, bestP = f, pw
		}
	}
	return best, rms
}

// windows splits x into pieces of d and returns each piece's dominant frequency, or 0 when the
// piece is nearly silent.
func windows(x []float64, rate int, d time.Duration) []float64 {
	n := int(float64(rate) * d.Seconds())
	var out []float64
	for i := 0; i+n <= len(x); i += n {
		f, rms := dominant(x[i:i+n], rate)
		if rms < 0.01 {
			f = 0
		}
		out = append(out, f)
	}
	return out
}
