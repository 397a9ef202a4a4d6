// Package baresip runs and drives a baresip softphone for tests: it writes its configuration,
// controls it over ctrl_tcp (netstring JSON), waits for its events and finds the audio it received.
package baresip

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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

	"github.com/deskphone/deskphone/test/procgroup"
)

// Config describes one baresip instance. Its microphone is an ausine sine (48 kHz stereo source)
// and what it decodes from a call is dumped to Dir/dump-*-dec.wav (sndfile module).
type Config struct {
	ListenIP string // the address it listens on and puts in its SDP
	SIPPort  int
	CtrlPort int // ctrl_tcp listens on 127.0.0.1:CtrlPort
	RTPMin   int // its RTP ports: RTPMin to RTPMax
	RTPMax   int
	ToneHz   int       // the sine it sends
	Account  string    // its accounts line, e.g. <sip:5003@host:port>;auth_user=...;answermode=manual
	Output   io.Writer // also gets what baresip prints (optional)
	Extra    string    // more config lines (e.g. "sip_cafile …\nmodule srtp.so\n")
	Modules  []string  // more modules to load, e.g. "mwi.so" (before the others)
}

// Phone is a running baresip process.
type Phone struct {
	Dir  string // its configuration folder and snd_path
	cmd  *exec.Cmd
	done chan struct{}
	conn net.Conn
	log  *logBuffer

	mu     sync.Mutex
	events []map[string]any
	notify chan struct{}
}

// Start runs baresip with c until the test ends and connects to its control socket. It does not
// wait for the account to register (see WaitLog and WaitEvent).
func Start(t testing.TB, c Config) *Phone {
	t.Helper()
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Skip("baresip not installed (Debian package baresip-core)")
	}
	dir := t.TempDir()
	p := &Phone{Dir: dir, log: &logBuffer{}, notify: make(chan struct{}, 1), done: make(chan struct{})}
	// Extra modules load first. baresip 1.0's mwi module walks its subscriptions 1 ms after it
	// starts and re-subscribes each, appending to the list it walks: if the account registered
	// within that millisecond (account.so sends the REGISTER as it loads, and the built-in
	// registrar answers in well under a millisecond) it loops for ever, sending thousands of
	// SUBSCRIBEs a second. Loaded before the codecs and sound modules, its millisecond is over
	// before the REGISTER goes out.
	var extra string
	for _, m := range c.Modules {
		extra += "module " + m + "\n"
	}
	cfg := fmt.Sprintf(`poll_method epoll
sip_listen %s:%d
audio_player alsa,null
audio_alert alsa,null
audio_source ausine,%d
ausrc_srate 48000
ausrc_channels 2
rtp_ports %d-%d
module_path /usr/lib/baresip/modules
%smodule g711.so
module ausine.so
module alsa.so
module sndfile.so
module_app account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:%d
snd_path %s
%s`, c.ListenIP, c.SIPPort, c.ToneHz, c.RTPMin, c.RTPMax, extra, c.CtrlPort, dir, c.Extra)
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(c.Account+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command("baresip", "-n", c.ListenIP, "-f", dir)
	var out io.Writer = p.log
	if c.Output != nil {
		out = io.MultiWriter(p.log, c.Output)
	}
	p.cmd.Stdout, p.cmd.Stderr = out, out
	// Cleanups run last-in first-out: the log is printed after the group is stopped.
	t.Cleanup(func() {
		if p.conn != nil {
			p.conn.Close()
		}
		if t.Failed() {
			t.Logf("baresip log:\n%s", lastLines(p.log.String(), 60))
		}
	})
	proc, err := procgroup.Start(t, p.cmd, 3*time.Second) // the whole group is stopped when t ends
	if err != nil {
		t.Fatal(err)
	}
	go func() { <-proc.Done(); close(p.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", c.CtrlPort))
		if err == nil {
			p.conn = conn
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip control socket: %v\n%s", err, p.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	go p.read()
	return p
}

// Kill ends baresip at once with SIGKILL, as a crash or a pulled plug would: no BYE, no more
// RTP or RTCP.
func (p *Phone) Kill(t testing.TB) {
	t.Helper()
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill baresip: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Fatal("baresip still runs after SIGKILL")
	}
}

// Log is everything baresip printed so far.
func (p *Phone) Log() string { return p.log.String() }

// WaitLog waits until baresip has printed s.
func (p *Phone) WaitLog(t testing.TB, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.log.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("baresip never logged %q:\n%s", s, p.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// read collects netstring JSON messages from ctrl_tcp.
func (p *Phone) read() {
	r := bufio.NewReader(p.conn)
	for {
		lenStr, err := r.ReadString(':')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(lenStr[:len(lenStr)-1]))
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

// Command sends a ctrl_tcp command (dial, accept, hangup, hold, resume, transfer, sndcode).
func (p *Phone) Command(t testing.TB, cmd, params string) {
	t.Helper()
	j, _ := json.Marshal(map[string]string{"command": cmd, "params": params, "token": cmd})
	if _, err := fmt.Fprintf(p.conn, "%d:%s,", len(j), j); err != nil {
		t.Fatalf("baresip %s: %v", cmd, err)
	}
}

// Events is the number of messages received so far, to wait for events after it.
func (p *Phone) Events() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.events)
}

// WaitEvent waits for an event of type typ (REGISTER_OK, CALL_INCOMING, CALL_ESTABLISHED,
// CALL_CLOSED, ...) that arrived after the first `after` messages, and returns its index.
func (p *Phone) WaitEvent(t testing.TB, typ string, after int, timeout time.Duration) (int, map[string]any) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		for i := after; i < len(p.events); i++ {
			if p.events[i]["type"] == typ {
				ev := p.events[i]
				p.mu.Unlock()
				return i, ev
			}
		}
		p.mu.Unlock()
		select {
		case <-p.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			p.mu.Lock()
			var types []string
			for _, e := range p.events {
				types = append(types, fmt.Sprint(e["type"]))
			}
			p.mu.Unlock()
			t.Fatalf("baresip: no %s event within %s (got %v)", typ, timeout, types)
		}
	}
}

// Received is the WAV file of the audio baresip decoded from its latest call.
func (p *Phone) Received(t testing.TB) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(p.Dir, "dump-*-dec.wav"))
	if len(files) == 0 {
		t.Fatalf("baresip recorded no audio (no dump-*-dec.wav in %s)", p.Dir)
	}
	return files[len(files)-1]
}

// logBuffer collects the output of the process, safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(b)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
