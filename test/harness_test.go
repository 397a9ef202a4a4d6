package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deskphone/deskphone/test/procgroup"
)

// startPeer starts a peer program (SIPp, baresip, linphonec, Kamailio) as the leader of a process
// group of its own. When the test ends the whole group gets SIGTERM, then SIGKILL after 3 s, and
// the test fails, naming them, if any of its processes (or of the children that left the group)
// is still running: a peer must leave nothing behind (Kamailio's workers, for one).
func startPeer(t testing.TB, cmd *exec.Cmd) *procgroup.Process {
	t.Helper()
	p, err := procgroup.Start(t, cmd, 3*time.Second)
	if err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	return p
}

var build struct {
	once sync.Once
	path string
	err  error
}

// TestMain removes the service binary deskphoneBinary built once the tests are done.
func TestMain(m *testing.M) {
	code := m.Run()
	if build.path != "" {
		os.RemoveAll(filepath.Dir(build.path))
	}
	os.Exit(code)
}

// deskphoneBinary builds ./cmd/deskphone once per test run and returns its path (removed by
// TestMain).
func deskphoneBinary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "deskphone-e2e-bin-")
		if err != nil {
			build.err = err
			return
		}
		build.path = filepath.Join(dir, "deskphone")
		cmd := exec.Command("go", "build", "-o", build.path, "./cmd/deskphone")
		cmd.Dir = repoRoot(t)
		out, err := cmd.CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("go build ./cmd/deskphone: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

func repoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	t.Fatal("go.mod not found above " + wd)
	return ""
}

var portMu sync.Mutex
var portsGiven = map[int]bool{}

// freePort returns a loopback port that is free for network ("udp", "tcp" or "both") right now
// and that no other test of this run has been given.
func freePort(t testing.TB, network string) int {
	t.Helper()
	return freePorts(t, network, 2)
}

// freePorts reserves n consecutive ports from an even one (RTP ranges, and a peer's SIP port
// with the one after it: baresip listens for TLS on its SIP port + 1) and returns the first; no
// other call hands out any of them. The first is checked free for network, the second for TCP.
func freePorts(t testing.TB, network string, n int) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	// Above the kernel's ephemeral range (32768–60999): a port found free there could be handed
	// to some process's outgoing connection before the peer binds it.
	const lo, hi = 61000, 65500
next:
	for i := 0; i < 500; i++ {
		port := (lo + rand.IntN(hi-lo-n+1)) &^ 1
		for p := port; p < port+n; p++ {
			if portsGiven[p] {
				continue next
			}
		}
		if !canBind("udp", port) && network != "tcp" || !canBind("tcp", port) && network != "udp" || !canBind("tcp", port+1) {
			continue
		}
		for p := port; p < port+n; p++ {
			portsGiven[p] = true
		}
		return port
	}
	t.Fatal("no free port")
	return 0
}

// canBind reports whether port is free for network on loopback (TCP: on every address, as
// wide as peers bind).
func canBind(network string, port int) bool {
	if network == "udp" {
		l, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return false
		}
		l.Close()
		return true
	}
	l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// requireTool fails the test (it does not skip: CI installs every peer) when a program is missing.
func requireTool(t testing.TB, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: install the Debian package %s (`make deps` installs every test peer)", name, debianPackage)
	}
	return p
}

// Service is one running deskphone process.
type Service struct {
	Dir        string // scratch folder of this service
	ConfigPath string
	DataDir    string

	t    testing.TB
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startService writes configTOML (with data_dir set to a fresh folder unless the text sets one)
// and runs `deskphone run` on it until the log says `deskphone ready`. The process is stopped when
// the test ends; its log is printed if the test failed.
func startService(t testing.TB, configTOML string) *Service {
	t.Helper()
	dir := t.TempDir()
	s := &Service{Dir: dir, ConfigPath: filepath.Join(dir, "deskphone.toml"), DataDir: filepath.Join(dir, "data"), t: t}
	if !strings.Contains(configTOML, "data_dir") {
		configTOML = fmt.Sprintf("data_dir = %q\n", s.DataDir) + configTOML
	}
	if !strings.Contains(configTOML, "[voicemail]") {
		// Voicemail is on by default; the tests of calls that fail (busy, no answer, unknown
		// extension) see those failures unless they turn it on (test/voicemail_*_test.go).
		configTOML += "\n[voicemail]\nenabled = false\n"
	}
	configTOML = offWellKnownPorts(configTOML)
	if err := os.WriteFile(s.ConfigPath, []byte(configTOML), 0o600); err != nil {
		t.Fatal(err)
	}
	s.logs = &syncBuffer{}
	s.start(t)
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("deskphone log (%s):\n%s", s.ConfigPath, s.Logs())
		}
	})
	return s
}

// offWellKnownPorts keeps a test's service off the machine's well-known ports: SIP over TLS and
// the HTTPS pages default to 0.0.0.0:5061 and 0.0.0.0:443, which two tests (or two test runs at
// once) would fight over. A test that sets either address keeps its own.
func offWellKnownPorts(cfg string) string {
	cfg = setIfUnset(cfg, "registrar", "tls_listen", `"127.0.0.1:0"`)
	return setIfUnset(cfg, "web", "https_listen", `"127.0.0.1:0"`)
}

// setIfUnset adds `key = value` to [table] unless cfg mentions key anywhere: under the table's
// header if it has one, else in a new [table] at the end (TOML allows a table after its
// sub-tables, such as [registrar] after [[registrar.accounts]]).
func setIfUnset(cfg, table, key, value string) string {
	if strings.Contains(cfg, key) {
		return cfg
	}
	line, header := key+" = "+value+"\n", "["+table+"]\n"
	for i := 0; i+len(header) <= len(cfg); i++ {
		if strings.HasPrefix(cfg[i:], header) && (i == 0 || cfg[i-1] == '\n') {
			j := i + len(header)
			return cfg[:j] + line + cfg[j:]
		}
	}
	return cfg + "\n" + header + line
}

func (s *Service) start(t testing.TB) {
	t.Helper()
	mark := len(s.logs.String())
	s.cmd = exec.Command(deskphoneBinary(t), "run", "--config", s.ConfigPath, "--log-level", "debug")
	s.cmd.Stdout = s.logs
	s.cmd.Stderr = s.logs
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		cmd.Wait()
		close(done)
	}(s.cmd, s.done)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(s.logs.String()[mark:], "deskphone ready") {
			return
		}
		select {
		case <-s.done:
			t.Fatalf("deskphone exited before it was ready:\n%s", s.logs.String()[mark:])
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("deskphone not ready after 30 s:\n%s", s.logs.String()[mark:])
}

// Logs returns everything the service printed so far (all runs of it).
func (s *Service) Logs() string { return s.logs.String() }

// Stop ends the service with SIGTERM (SIGKILL after 5 s) and waits for it.
func (s *Service) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// Kill ends the service at once with SIGKILL, as a crash or a power cut would.
func (s *Service) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.done
	}
}

// Restart stops the service (gracefully) and starts it again on the same config and data.
func (s *Service) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	s.start(t)
}

// WaitLog waits until the service's log contains substr.
func (s *Service) WaitLog(t testing.TB, substr string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !strings.Contains(s.Logs(), substr) {
		select {
		case <-ctx.Done():
			t.Fatalf("log never showed %q within %s", substr, timeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
