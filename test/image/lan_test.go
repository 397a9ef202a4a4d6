//go:build imagetest

package image

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The test LAN, inside the namespace the test made for itself.
const (
	hostIP   = "192.168.77.1"
	bridge   = "br0"
	tapIface = "tap0"
)

// lan is the namespace's bridge, tap and DHCP server.
type lan struct {
	dnsmasq *exec.Cmd
	mu      sync.Mutex
	leases  map[string]string // MAC -> address, from dnsmasq's DHCPACK lines
	done    chan struct{}
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// startLAN builds the bridge and tap and starts dnsmasq on them. It runs once per test binary.
func startLAN(t testing.TB, logDir string) *lan {
	run(t, "ip", "link", "set", "lo", "up")
	run(t, "ip", "link", "add", bridge, "type", "bridge")
	run(t, "ip", "addr", "add", hostIP+"/24", "dev", bridge)
	run(t, "ip", "tuntap", "add", "dev", tapIface, "mode", "tap")
	run(t, "ip", "link", "set", tapIface, "master", bridge)
	run(t, "ip", "link", "set", tapIface, "up")
	run(t, "ip", "link", "set", bridge, "up")
	l := &lan{leases: map[string]string{}, done: make(chan struct{})}
	l.dnsmasq = exec.Command("dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--interface="+bridge,
		"--bind-interfaces", "--port=0", "--dhcp-range=192.168.77.50,192.168.77.99,1h",
		// Fixed leases, so that a test config can name the Pi's address.
		"--dhcp-host=52:54:00:12:34:56,192.168.77.58", "--dhcp-host=52:54:00:12:34:57,192.168.77.59",
		"--dhcp-leasefile="+filepath.Join(logDir, "dnsmasq.leases"), "--log-dhcp", "--dhcp-authoritative")
	stderr, err := l.dnsmasq.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.dnsmasq.Start(); err != nil {
		t.Fatalf("dnsmasq (Debian package dnsmasq-base): %v", err)
	}
	logf, _ := os.Create(filepath.Join(logDir, "dnsmasq.log"))
	ack := regexp.MustCompile(`DHCPACK\(` + bridge + `\) (\S+) (\S+)`)
	go func() {
		defer close(l.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if m := ack.FindStringSubmatch(sc.Text()); m != nil {
				l.mu.Lock()
				l.leases[strings.ToLower(m[2])] = m[1]
				l.mu.Unlock()
			}
		}
		logf.Close()
	}()
	return l
}

// lease is the address dnsmasq gave to mac, or "".
func (l *lan) lease(mac string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leases[strings.ToLower(mac)]
}

// forget drops what the LAN knows of mac's leases.
func (l *lan) forget(mac string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.leases, strings.ToLower(mac))
}

func (l *lan) stop() {
	if l.dnsmasq.Process != nil {
		l.dnsmasq.Process.Kill()
		<-l.done
		l.dnsmasq.Wait()
	}
}

// peer runs a SIP peer (sipp, baresip, kamailio) in the namespace, its output kept in a log file.
type peer struct {
	cmd  *exec.Cmd
	done chan error
}

func startPeer(ctx context.Context, t testing.TB, logPath string, dir string, name string, args ...string) *peer {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Stdin = nil
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	p := &peer{cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); f.Close() }()
	return p
}

func (p *peer) wait(timeout time.Duration) error {
	select {
	case err := <-p.done:
		return err
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s still running after %s", filepath.Base(p.cmd.Path), timeout)
	}
}

func (p *peer) kill() {
	if p.cmd.ProcessState == nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
		<-p.done
	}
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var _ = io.Discard
