package e2e

import (
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deskphone/deskphone/test/tone"
)

// regBaresip is one baresip softphone registered to the registrar, sending a sine tone and
// recording what it receives (sndfile module) under Rec.
type regBaresip struct {
	Dir, Rec string
	SIPPort  int
	RTP      int // first of its ten RTP ports
}

func newRegBaresip(t *testing.T, e *regEnv, user, pass string, toneHz int) *regBaresip {
	t.Helper()
	requireTool(t, "baresip", "baresip-core")
	b := &regBaresip{Dir: t.TempDir(), SIPPort: freePort(t, "udp")}
	b.Rec = filepath.Join(b.Dir, "rec")
	os.MkdirAll(b.Rec, 0o755)
	// Even: baresip picks an even port in the range after rounding down, so an odd first
	// port would let it take the one below (outside what the tests watch).
	rtp := freePorts(t, "udp", 10)
	b.RTP = rtp
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
	p := startPeer(t, cmd)
	return func() string {
		select {
		case <-p.Done():
		case <-time.After(time.Duration(seconds+10) * time.Second):
			cmd.Process.Kill()
			<-p.Done()
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
	done  <-chan struct{}
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
	l := &regLinphone{t: t, out: &syncBuffer{}, Rx: filepath.Join(dir, "rx.wav")}
	cmd := exec.Command("linphonec", "-c", rcPath, "-d", "0")
	cmd.Env = append(os.Environ(), "HOME="+home)
	cmd.Stdout, cmd.Stderr = l.out, l.out
	var err error
	if l.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	p := startPeer(t, cmd) // its cleanup ends the group after this one asked linphonec to quit
	l.done = p.Done()
	t.Cleanup(func() {
		l.send("quit")
		select {
		case <-l.done:
		case <-time.After(5 * time.Second):
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

func requireRegTone(t *testing.T, who, path string, hz float64) {
	t.Helper()
	samples, rate := tone.ReadFirstChannel(t, path)
	f, rms := tone.Dominant(samples, rate)
	t.Logf("%s received %.1f s of audio, strongest tone %.0f Hz at RMS %.0f", who, float64(len(samples))/float64(rate), f, rms)
	if rms < 300 || math.Abs(f-hz) > 20 {
		t.Fatalf("%s should hear %.0f Hz; it heard %.0f Hz at RMS %.0f (%s)", who, hz, f, rms, path)
	}
}

// baresip and linphonec registered to the registrar call each other through it, and audio
// flows both ways: each side's recording of what it received carries the other's tone.
func TestRegistrarSoftphonesCallWithAudio(t *testing.T) {
	e := startRegistrar(t, "")
	toneWAV := filepath.Join(t.TempDir(), "tone1000.wav")
	tone.WriteSine(t, toneWAV, 1000, 12000, 30*time.Second)
	lp := newRegLinphone(t, e, "rpi", "rpi-secret-22", toneWAV)
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
