package e2e

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// regBaresip is one baresip softphone registered to the registrar, sending a sine tone and
// recording what it receives (sndfile module) under Rec.
type regBaresip struct {
	Dir, Rec string
	SIPPort  int
}

func newRegBaresip(t *testing.T, e *regEnv, user, pass string, toneHz int) *regBaresip {
	t.Helper()
	requireTool(t, "baresip", "baresip-core")
	b := &regBaresip{Dir: t.TempDir(), SIPPort: freePort(t, "udp")}
	b.Rec = filepath.Join(b.Dir, "rec")
	os.MkdirAll(b.Rec, 0o755)
	rtp := freePort(t, "udp")
	cfg := fmt.Sprintf(`poll_method epoll
sip_listen 127.0.0.1:%d
audio_player alsa,null
audio_alert alsa,null
audio_source ausine,%d
ausrc_srate 48000
ausrc_channels 2
auplay_srate 48000
rtp_ports %d-%d
module_path /usr/lib/baresip/modules
module stdio.so
module g711.so
module ausine.so
module alsa.so
module sndfile.so
snd_path %s
module_tmp uuid.so
module_tmp account.so
module_app menu.so
`, b.SIPPort, toneHz, rtp, rtp+9, b.Rec)
	os.WriteFile(filepath.Join(b.Dir, "config"), []byte(cfg), 0o644)
	acct := fmt.Sprintf("<sip:%s@%s>;auth_pass=%s;regint=600;audio_codecs=PCMU;answermode=auto\n", user, e.Addr, pass)
	os.WriteFile(filepath.Join(b.Dir, "accounts"), []byte(acct), 0o600)
	return b
}

// run starts baresip for seconds, executing cmds once started, and returns a wait function.
func (b *regBaresip) run(t *testing.T, seconds int, cmds ...string) func() string {
	t.Helper()
	args := []string{"-f", b.Dir, "-t", fmt.Sprint(seconds)}
	for _, c := range cmds {
		args = append(args, "-e", c)
	}
	cmd := exec.Command("baresip", args...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			<-done
		}
	})
	return func() string {
		select {
		case <-done:
		case <-time.After(time.Duration(seconds+10) * time.Second):
			cmd.Process.Kill()
			<-done
		}
		return out.String()
	}
}

// decoded returns the WAV baresip wrote with the audio it received in its last call.
func (b *regBaresip) decoded(t *testing.T) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(b.Rec, "*-dec.wav"))
	if len(m) == 0 {
		t.Fatal("baresip recorded no received audio")
	}
	return m[len(m)-1]
}

// regLinphone is linphonec (the seed's own Pi client) driven through its console, playing a WAV
// file as its microphone and recording what it receives.
type regLinphone struct {
	t     *testing.T
	stdin io.WriteCloser
	out   *syncBuffer
	done  chan struct{}
	Rx    string
}

func newRegLinphone(t *testing.T, e *regEnv, user, pass, playWAV string) *regLinphone {
	t.Helper()
	requireTool(t, "linphonec", "linphone-cli")
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	os.MkdirAll(filepath.Join(home, ".local", "share", "linphone"), 0o755)
	sip, rtp := freePort(t, "udp"), freePort(t, "udp")
	rc := fmt.Sprintf("[sip]\nsip_port=%d\nsip_tcp_port=0\nsip_tls_port=0\n[rtp]\naudio_rtp_port=%d-%d\n[sound]\nechocancellation=0\n", sip, rtp, rtp+9)
	rcPath := filepath.Join(dir, "linphonerc")
	os.WriteFile(rcPath, []byte(rc), 0o600)
	l := &regLinphone{t: t, out: &syncBuffer{}, done: make(chan struct{}), Rx: filepath.Join(dir, "rx.wav")}
	cmd := exec.Command("linphonec", "-c", rcPath, "-d", "0")
	cmd.Env = append(os.Environ(), "HOME="+home)
	cmd.Stdout, cmd.Stderr = l.out, l.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var err error
	if l.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(l.done) }()
	t.Cleanup(func() {
		l.send("quit")
		select {
		case <-l.done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-l.done
		}
		if t.Failed() {
			t.Logf("linphonec output:\n%s", lastLines(l.out.String(), 40))
		}
	})
	l.send("soundcard use files")
	l.send("play " + playWAV)
	l.send("record " + l.Rx)
	l.send("autoanswer enable")
	l.send(fmt.Sprintf("register sip:%s@%s sip:%s %s", user, e.Addr, e.Addr, pass))
	return l
}

func (l *regLinphone) send(cmd string) { io.WriteString(l.stdin, cmd+"\n") }

// writeRegToneWAV writes a 16-bit mono 8 kHz WAV with a sine of hz for the given seconds.
func writeRegToneWAV(t *testing.T, path string, hz float64, seconds int) {
	t.Helper()
	const rate = 8000
	n := rate * seconds
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	hdr := []any{[4]byte{'R', 'I', 'F', 'F'}, uint32(36 + 2*n), [4]byte{'W', 'A', 'V', 'E'},
		[4]byte{'f', 'm', 't', ' '}, uint32(16), uint16(1), uint16(1), uint32(rate), uint32(2 * rate), uint16(2), uint16(16),
		[4]byte{'d', 'a', 't', 'a'}, uint32(2 * n)}
	for _, v := range hdr {
		binary.Write(w, binary.LittleEndian, v)
	}
	for i := 0; i < n; i++ {
		binary.Write(w, binary.LittleEndian, int16(12000*math.Sin(2*math.Pi*hz*float64(i)/rate)))
	}
	w.Flush()
}

// readRegWAV returns the first channel of a 16-bit PCM WAV file and its sample rate.
func readRegWAV(t *testing.T, path string) ([]float64, int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		t.Fatalf("%s is not a WAV file", path)
	}
	var rate, channels, bits int
	var data []byte
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:]))
		body := b[p+8 : min(p+8+size, len(b))]
		switch id {
		case "fmt ":
			channels = int(binary.LittleEndian.Uint16(body[2:]))
			rate = int(binary.LittleEndian.Uint32(body[4:]))
			bits = int(binary.LittleEndian.Uint16(body[14:]))
		case "data":
			data = body
		}
		p += 8 + size + size%2
	}
	if bits != 16 || channels < 1 || rate == 0 {
		t.Fatalf("%s: unsupported WAV format (%d bits, %d channels, %d Hz)", path, bits, channels, rate)
	}
	frame := 2 * channels
	out := make([]float64, 0, len(data)/frame)
	for i := 0; i+frame <= len(data); i += frame {
		out = append(out, float64(int16(binary.LittleEndian.Uint16(data[i:]))))
	}
	return out, rate
}

// regDominantFrequency returns the strongest frequency (10 Hz steps, 100–3500 Hz) of the loudest
// second of samples, and that second's RMS level.
func regDominantFrequency(samples []float64, rate int) (float64, float64) {
	win := rate
	best, bestRMS := 0, 0.0
	for s := 0; s+win <= len(samples); s += win / 2 {
		var sum float64
		for _, v := range samples[s : s+win] {
			sum += v * v
		}
		if rms := math.Sqrt(sum / float64(win)); rms > bestRMS {
			best, bestRMS = s, rms
		}
	}
	if bestRMS == 0 || len(samples) < win {
		return 0, 0
	}
	seg := samples[best : best+win]
	peakF, peakP := 0.0, 0.0
	for f := 100.0; f <= 3500; f += 10 {
		// Goertzel
		k := 2 * math.Cos(2*math.Pi*f/float64(rate))
		var s1, s2 float64
		for _, x := range seg {
			s0 := x + k*s1 - s2
			s2, s1 = s1, s0
		}
		if p := s1*s1 + s2*s2 - k*s1*s2; p > peakP {
			peakF, peakP = f, p
		}
	}
	return peakF, bestRMS
}

func requireRegTone(t *testing.T, who, path string, hz float64) {
	t.Helper()
	samples, rate := readRegWAV(t, path)
	f, rms := regDominantFrequency(samples, rate)
	t.Logf("%s received %.1f s of audio, strongest tone %.0f Hz at RMS %.0f", who, float64(len(samples))/float64(rate), f, rms)
	if rms < 300 || math.Abs(f-hz) > 20 {
		t.Fatalf("%s should hear %.0f Hz; it heard %.0f Hz at RMS %.0f (%s)", who, hz, f, rms, path)
	}
}

// baresip and linphonec registered to the registrar call each other through it, and audio
// flows both ways: each side's recording of what it received carries the other's tone.
func TestRegistrarSoftphonesCallWithAudio(t *testing.T) {
	e := startRegistrar(t, "")
	tone := filepath.Join(t.TempDir(), "tone1000.wav")
	writeRegToneWAV(t, tone, 1000, 30)
	lp := newRegLinphone(t, e, "rpi", "rpi-secret-22", tone)
	e.WaitLog(t, `msg="phone registered" component=registrar aor=rpi`, 15*time.Second)
	bs := newRegBaresip(t, e, "alcatel", "alcatel-secret-1", 440)

	t.Run("baresip calls linphone", func(t *testing.T) {
		wait := bs.run(t, 9, "/dial sip:5002@"+e.Addr)
		out := wait()
		if !strings.Contains(out, "Call established") && !strings.Contains(out, "established") {
			t.Fatalf("baresip's call was not established:\n%s", lastLines(out, 30))
		}
		requireRegTone(t, "baresip (caller)", bs.decoded(t), 1000)
		lp.send("record " + lp.Rx) // close the recording by starting a new one on the next call
		time.Sleep(500 * time.Millisecond)
		requireRegTone(t, "linphonec (callee)", lp.Rx, 440)
	})
	t.Run("linphone calls baresip", func(t *testing.T) {
		os.RemoveAll(bs.Rec)
		os.MkdirAll(bs.Rec, 0o755)
		os.Remove(lp.Rx)
		lp.send("record " + lp.Rx)
		wait := bs.run(t, 12)
		e.WaitLog(t, `aor=alcatel`, 10*time.Second)
		time.Sleep(time.Second)
		lp.send("call sip:5001@" + e.Addr)
		time.Sleep(6 * time.Second)
		lp.send("terminate")
		out := wait()
		if !strings.Contains(out, "established") {
			t.Fatalf("linphone's call to baresip was not established:\n%s", lastLines(out, 30))
		}
		requireRegTone(t, "baresip (callee)", bs.decoded(t), 1000)
		requireRegTone(t, "linphonec (caller)", lp.Rx, 440)
	})
}
