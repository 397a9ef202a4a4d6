package e2e

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// linphone is linphonec driven through its standard input.
type linphone struct {
	in  io.WriteCloser
	out *syncBuffer
}

func startLinphone(t *testing.T, ext, pass, registrar string) *linphone {
	t.Helper()
	return startLinphoneOn(t, ext, pass, registrar, "udp")
}

// startLinphoneOn is startLinphone with the transport to the registrar: udp or tcp.
func startLinphoneOn(t *testing.T, ext, pass, registrar, transport string) *linphone {
	t.Helper()
	requireTool(t, "linphonec", "linphone-cli")
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	os.MkdirAll(filepath.Join(home, ".local", "share", "linphone"), 0o755)
	udpPort, tcpPort, proxy := freePort(t, "both"), -1, registrar
	if transport == "tcp" {
		udpPort, tcpPort, proxy = -1, freePort(t, "tcp"), registrar+";transport=tcp"
	}
	rc := fmt.Sprintf(`[sip]
sip_port=%d
sip_tcp_port=%d
sip_tls_port=-1
default_proxy=0
[rtp]
audio_rtp_port=%d
[sound]
echocancellation=0
[video]
enabled=0
[proxy_0]
reg_proxy=<sip:%s>
reg_identity=sip:%s@127.0.0.1
reg_expires=600
reg_sendregister=1
[auth_info_0]
username=%s
passwd=%s
realm=deskphone
`, udpPort, tcpPort, rtpBase(freePort(t, "udp"))+60, proxy, ext, ext, pass)
	os.WriteFile(filepath.Join(dir, "rc"), []byte(rc), 0o600)
	l := &linphone{out: &syncBuffer{}}
	cmd := exec.Command("linphonec", "-c", filepath.Join(dir, "rc"), "-d", "0")
	cmd.Env = append(os.Environ(), "HOME="+home)
	cmd.Stdout, cmd.Stderr = l.out, l.out
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	l.in = in
	p := startPeer(t, cmd) // its cleanup ends the group after this one asked linphonec to quit
	t.Cleanup(func() {
		io.WriteString(in, "quit\n")
		select {
		case <-p.Done():
		case <-time.After(3 * time.Second):
		}
		if t.Failed() {
			t.Logf("linphonec output:\n%s", lastLines(l.out.String(), 30))
		}
	})
	l.send(t, "soundcard use files")
	return l
}

func (l *linphone) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(l.in, line+"\n"); err != nil {
		t.Fatalf("linphonec %q: %v", line, err)
	}
}

func (l *linphone) waitOutput(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	waitFor(t, "linphonec to print "+s, timeout, func() bool { return strings.Contains(l.out.String(), s) })
}

// linphone-cli registers to the built-in registrar, calls the Pi (answered through the API, the
// Pi hears linphone's 600 Hz file) and then answers a call from the Pi.
func TestPhoneLinphone(t *testing.T) {
	e := startPhone(t, phoneOptions{extra: `
[[registrar.accounts]]
extension = "5005"
username = "linphone"
password = "linphone-pass-5005"
`})
	reg := fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort)
	l := startLinphone(t, "linphone", "linphone-pass-5005", reg) // AOR user = account username
	e.WaitLog(t, "extension=5005", 30*time.Second)               // linphone waits a few seconds for the network

	l.send(t, "call sip:5002@127.0.0.1")
	st := e.waitStatus(t, "call", "ringing", 15*time.Second)
	if st["peer"] != "linphone" {
		t.Fatalf("ringing from %v", st["peer"])
	}
	e.mustPost(t, "answer", "")
	l.waitOutput(t, "connected", 10*time.Second)
	wav := filepath.Join(t.TempDir(), "tone.wav")
	micWAV(t, wav, 600, 5*time.Second)
	l.send(t, "play "+wav) // linphonec's microphone in "soundcard use files" mode
	waitFor(t, "RTP from linphone", 10*time.Second, func() bool { return mediaStat(e.status(t), "packets_received") > 100 })
	e.mustPost(t, "hangup", "")
	l.waitOutput(t, "ended", 10*time.Second)
	e.waitStatus(t, "call", "idle", 5*time.Second)

	e.mustPost(t, "dial", `{"to":"5005"}`)
	l.waitOutput(t, "Receiving new incoming call", 10*time.Second)
	l.send(t, "answer")
	e.waitStatus(t, "call", "in_call", 10*time.Second)
	l.send(t, "terminate")
	e.waitStatus(t, "call", "idle", 10*time.Second)
	e.requireLastCall(t, "out", "5005", "answered", 0)
	requireTone(t, e.Speaker, 600)
}
