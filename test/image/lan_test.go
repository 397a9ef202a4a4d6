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
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	l.dnsmasq.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
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
		syscall.Kill(-l.dnsmasq.Process.Pid, syscall.SIGKILL)
		<-l.done
		l.dnsmasq.Wait()
	}
}

// peer runs a SIP peer (sipp, baresip, kamailio) in the namespace, its output kept in a log file.
// It runs in a process group of its own, so that stopping it also stops every process it forked
// (Kamailio's workers).
type peer struct {
	t      testing.TB
	cmd    *exec.Cmd
	exited chan struct{} // closed when the peer's own process has exited; err is then its status
	err    error
	once   sync.Once
}

func startPeer(ctx context.Context, t testing.TB, logPath string, dir string, name string, args ...string) *peer {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Stdin = nil
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	p := &peer{t: t, cmd: cmd, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); f.Close(); close(p.exited) }()
	t.Cleanup(p.kill)
	return p
}

func (p *peer) wait(timeout time.Duration) error {
	select {
	case <-p.exited:
		p.kill()
		return p.err
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("%s still running after %s", filepath.Base(p.cmd.Path), timeout)
	}
}

// kill stops the peer's whole process group and fails the test if any of its processes survive.
func (p *peer) kill() { p.once.Do(p.killGroup) }

func (p *peer) killGroup() {
	pgid := p.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.t.Errorf("%s (pid %d) did not exit after SIGKILL", filepath.Base(p.cmd.Path), pgid)
	}
	if left := groupSurvivors(pgid, 5*time.Second); len(left) > 0 {
		p.t.Errorf("%s left processes running after its process group was killed: %s",
			filepath.Base(p.cmd.Path), strings.Join(left, ", "))
	}
}

// groupSurvivors waits up to timeout for process group pgid to be empty and returns what is
// still in it ("pid name"); zombies, already dead, do not count.
func groupSurvivors(pgid int, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	for {
		var left []string
		stats, _ := filepath.Glob("/proc/[0-9]*/stat")
		for _, st := range stats {
			b, err := os.ReadFile(st)
			if err != nil {
				continue
			}
			// pid (comm) state ppid pgrp ...; comm may hold spaces, so split after its ')'.
			s := string(b)
			i := strings.LastIndexByte(s, ')')
			if i < 0 {
				continue
			}
			f := strings.Fields(s[i+1:])
			if len(f) < 3 || f[0] == "Z" || f[0] == "X" || f[2] != strconv.Itoa(pgid) {
				continue
			}
			left = append(left, strings.Fields(s)[0]+" "+s[strings.IndexByte(s, '(')+1:i])
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(100 * time.Millisecond)
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
