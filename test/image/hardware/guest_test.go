package hardware

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// guest is the emulated Pi: QEMU's virt machine booting the image's kernel and root file system,
// with the SD card image as a disk, a tap NIC on the test LAN and a shell on the serial console.
type guest struct {
	cmd  *exec.Cmd
	done chan struct{}
	conn net.Conn

	mu    sync.Mutex
	out   strings.Builder // everything the console printed
	grew  chan struct{}
	seq   int
	dirty bool
}

func bootGuest(t *testing.T, image, kernel, initrd string) *guest {
	t.Helper()
	return bootQEMU(t, func(sock string) []string {
		return []string{"-M", "virt", "-cpu", "cortex-a53", "-m", "1G", "-smp", "1",
			"-nographic", "-no-reboot", "-kernel", kernel, "-initrd", initrd,
			"-append", "console=ttyAMA0 rdinit=/sbin/init panic=-1 loglevel=3 deskphone.watchdog=off",
			"-drive", "if=none,id=sd,format=raw,snapshot=on,file=" + image,
			"-device", "virtio-blk-pci,drive=sd,romfile=",
			"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
			"-device", "virtio-net-pci,netdev=n0,romfile=",
			"-device", "virtio-rng-pci,romfile=",
			"-chardev", "socket,id=con,path=" + sock + ",server=on,wait=on",
			"-serial", "chardev:con", "-monitor", "none", "-display", "none"}
	})
}

// bootPi boots the same image on QEMU's raspi3b machine with the Pi 3 B+ device tree: the SoC's
// GPIO controller carries the line names of a real Pi. The console is the mini UART (ttyS1).
func bootPi(t *testing.T, image, kernel, initrd, dtb string) *guest {
	t.Helper()
	return bootQEMU(t, func(sock string) []string {
		return []string{"-M", "raspi3b", "-accel", "tcg,thread=single", "-nographic", "-no-reboot",
			"-kernel", kernel, "-dtb", dtb, "-initrd", initrd,
			"-append", "console=ttyS1,115200 rdinit=/sbin/init panic=-1 loglevel=3",
			"-drive", "if=sd,format=raw,snapshot=on,file=" + image,
			"-chardev", "socket,id=con,path=" + sock + ",server=on,wait=on",
			"-serial", "null", "-serial", "chardev:con", "-monitor", "none", "-display", "none"}
	})
}

func bootQEMU(t *testing.T, args func(sock string) []string) *guest {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "console.sock")
	g := &guest{done: make(chan struct{}), grew: make(chan struct{}, 1)}
	g.cmd = exec.Command("qemu-system-aarch64", args(sock)...)
	qlog, _ := os.Create(filepath.Join(dir, "qemu.log"))
	g.cmd.Stdout, g.cmd.Stderr = qlog, qlog
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("start qemu: %v", err)
	}
	go func() { g.cmd.Wait(); qlog.Close(); close(g.done) }()
	t.Cleanup(func() {
		g.cmd.Process.Kill()
		<-g.done
		if t.Failed() {
			q, _ := os.ReadFile(filepath.Join(dir, "qemu.log"))
			t.Logf("qemu:\n%s\nconsole (last 150 lines):\n%s", q, lastLines(g.console(), 150))
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			g.conn = c
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("qemu console socket: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	go g.read()
	return g
}

func (g *guest) read() {
	r := bufio.NewReader(g.conn)
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			g.mu.Lock()
			g.out.Write(buf[:n])
			g.mu.Unlock()
			select {
			case g.grew <- struct{}{}:
			default:
			}
		}
		if err != nil {
			return
		}
	}
}

func (g *guest) console() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.out.String()
}

// waitConsole waits until the console has printed s.
func (g *guest) waitConsole(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for !strings.Contains(g.console(), s) {
		select {
		case <-g.grew:
		case <-g.done:
			t.Fatalf("qemu exited before the console printed %q", s)
		case <-deadline:
			t.Fatalf("console never printed %q within %v", s, timeout)
		}
	}
}

// sh runs a shell command on the guest's console and returns its output lines (stdout and
// stderr) and exit status. The service's log lines, which share the console, are filtered out
// by tagging each output line.
func (g *guest) sh(t *testing.T, cmd string, timeout time.Duration) ([]string, int) {
	t.Helper()
	g.mu.Lock()
	g.seq++
	n := g.seq
	g.mu.Unlock()
	// The quotes keep the echoed command line from matching the markers it prints.
	line := fmt.Sprintf("( %s ) 2>&1 | sed 's/^/@@''O%d /'; echo @@''E%d $?\n", cmd, n, n)
	if _, err := g.conn.Write([]byte(line)); err != nil {
		t.Fatalf("console write: %v", err)
	}
	end := fmt.Sprintf("@@E%d ", n)
	deadline := time.After(timeout)
	for {
		out := g.console()
		if i := strings.LastIndex(out, end); i >= 0 && strings.Contains(out[i:], "\n") {
			var lines []string
			tag := fmt.Sprintf("@@O%d ", n)
			for _, l := range strings.Split(out, "\n") {
				if j := strings.Index(l, tag); j >= 0 {
					lines = append(lines, strings.TrimRight(l[j+len(tag):], "\r"))
				}
			}
			var rc int
			fmt.Sscanf(strings.TrimSpace(out[i+len(end):]), "%d", &rc)
			return lines, rc
		}
		select {
		case <-g.grew:
		case <-g.done:
			t.Fatalf("qemu exited during %q", cmd)
		case <-deadline:
			t.Fatalf("%q did not finish within %v", cmd, timeout)
		}
	}
}

// must runs cmd and fails the test if it exits non-zero.
func (g *guest) must(t *testing.T, cmd string, timeout time.Duration) []string {
	t.Helper()
	lines, rc := g.sh(t, cmd, timeout)
	if rc != 0 {
		t.Fatalf("%q exited %d:\n%s", cmd, rc, strings.Join(lines, "\n"))
	}
	return lines
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
