//go:build imagetest

package image

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The guests' MAC addresses; dnsmasq gives each a fixed address (.58 and .59).
const (
	virtMAC  = "52:54:00:12:34:56"
	raspiMAC = "52:54:00:12:34:57"
)

// machine is how QEMU runs the image.
type machine string

const (
	// virt: QEMU's generic board with the same kernel, initramfs and card (virtio), one CPU.
	virt machine = "virt"
	// raspi3b: QEMU's Raspberry Pi 3 B with the Pi 3 B+ device tree and the card on the SD slot.
	raspi3b machine = "raspi3b"
)

// guest is one QEMU run. Its serial console is kept whole in memory and in a log file.
type guest struct {
	t       testing.TB
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	started time.Time
	mac     string
	machine machine

	mu      sync.Mutex
	cond    *sync.Cond
	console []byte
	exited  bool
	cursor  int // console offset after the last matched line
	seq     int
	// arrivals[i] is when the console had grown to ends[i] bytes; lastAt is when the last match
	// arrived, so timings do not depend on when the test looked.
	ends     []int
	arrivals []time.Time
	lastAt   time.Time
}

// input is the kernel, initramfs and DTBs the image was built from (the boot partition's files).
func input(name string) string {
	dir := os.Getenv("DESKPHONE_IMAGE_INPUT")
	if dir == "" {
		dir = "../../build/image/input"
	}
	return filepath.Join(dir, name)
}

// boot starts QEMU on card (a copy of the image the test may write to).
func boot(t testing.TB, m machine, card, logName string, extraAppend ...string) *guest {
	t.Helper()
	return bootWith(t, m, card, logName, "", extraAppend...)
}

// bootWith is boot with another initramfs than the image's ("" keeps the image's).
func bootWith(t testing.TB, m machine, card, logName, initrd string, extraAppend ...string) *guest {
	t.Helper()
	return bootQEMU(t, m, card, logName, initrd, nil, extraAppend...)
}

// bootQEMU is bootWith with more QEMU options (qemuExtra).
func bootQEMU(t testing.TB, m machine, card, logName, initrd string, qemuExtra []string, extraAppend ...string) *guest {
	t.Helper()
	if initrd == "" {
		initrd = input("rootfs.cpio.zst")
	}
	cmdline, err := os.ReadFile(input("rpi-firmware/cmdline.txt"))
	if err != nil {
		t.Fatal(err)
	}
	// The card's own command line, with the console moved to the UART this machine wires to us.
	var args []string
	for _, f := range strings.Fields(string(cmdline)) {
		if !strings.HasPrefix(f, "console=") && f != "quiet" {
			args = append(args, f)
		}
	}
	mac := virtMAC
	q := []string{"-nographic", "-no-reboot", "-monitor", "none", "-display", "none",
		"-kernel", input("Image"), "-initrd", initrd}
	switch m {
	case virt:
		args = append(args, "console=ttyAMA0")
		q = append(q, "-M", "virt", "-cpu", "cortex-a53", "-smp", "1", "-m", "512M",
			"-drive", "file="+card+",if=none,format=raw,id=card", "-device", "virtio-blk-pci,drive=card",
			"-netdev", "tap,id=n0,ifname="+tapIface+",script=no,downscript=no",
			"-device", "virtio-net-pci,netdev=n0,romfile=,mac="+mac,
			"-device", "virtio-rng-pci",
			"-device", "i6300esb", "-action", "watchdog=reset",
			"-serial", "stdio")
	case raspi3b:
		mac = raspiMAC
		args = append(args, "console=ttyS1,115200")
		q = append(q, "-M", "raspi3b", "-accel", "tcg,thread=single", "-dtb", input("bcm2837-rpi-3-b-plus.dtb"),
			"-drive", "file="+card+",if=sd,format=raw",
			"-netdev", "tap,id=n0,ifname="+tapIface+",script=no,downscript=no",
			"-device", "usb-net,netdev=n0,mac="+mac,
			"-serial", "null", "-serial", "stdio")
	}
	args = append(args, extraAppend...)
	q = append(q, qemuExtra...)
	q = append(q, "-append", strings.Join(args, " "))
	cmd := exec.Command("qemu-system-aarch64", q...)
	g := &guest{t: t, cmd: cmd, mac: mac, machine: m}
	g.cond = sync.NewCond(&g.mu)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if g.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(logDir(t), logName+".console.log"))
	if err != nil {
		t.Fatal(err)
	}
	g.started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("qemu-system-aarch64 (Debian package qemu-system-arm): %v", err)
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := stdout.Read(buf)
			if n > 0 {
				logf.Write(buf[:n])
				g.mu.Lock()
				g.console = append(g.console, buf[:n]...)
				g.ends = append(g.ends, len(g.console))
				g.arrivals = append(g.arrivals, time.Now())
				g.cond.Broadcast()
				g.mu.Unlock()
			}
			if err != nil {
				break
			}
		}
		cmd.Wait()
		logf.Close()
		g.mu.Lock()
		g.exited = true
		g.cond.Broadcast()
		g.mu.Unlock()
	}()
	t.Cleanup(g.powerOff)
	return g
}

// powerOff kills QEMU at once, like pulling the plug, and waits for it to be gone.
func (g *guest) powerOff() {
	if g.cmd.Process == nil {
		return
	}
	g.cmd.Process.Signal(syscall.SIGKILL)
	g.mu.Lock()
	for !g.exited {
		g.cond.Wait()
	}
	g.mu.Unlock()
}

// waitFor waits until the console, after the cursor, has a line matching re; it moves the cursor
// past that line and returns the submatches.
func (g *guest) waitFor(re string, timeout time.Duration) []string {
	g.t.Helper()
	m, err := g.waitForErr(re, timeout)
	if err != nil {
		g.t.Fatal(err)
	}
	return m
}

func (g *guest) waitForErr(re string, timeout time.Duration) ([]string, error) {
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { g.mu.Lock(); g.cond.Broadcast(); g.mu.Unlock() })
	defer timer.Stop()
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		rest := g.console[g.cursor:]
		if loc := rx.FindSubmatchIndex(rest); loc != nil {
			var out []string
			for i := 0; i < len(loc); i += 2 {
				if loc[i] < 0 {
					out = append(out, "")
					continue
				}
				out = append(out, string(rest[loc[i]:loc[i+1]]))
			}
			abs := g.cursor + loc[1]
			for i, e := range g.ends {
				if e >= abs {
					g.lastAt = g.arrivals[i]
					break
				}
			}
			end := loc[1]
			if nl := strings.IndexByte(string(rest[end:]), '\n'); nl >= 0 {
				end += nl + 1
			}
			g.cursor += end
			return out, nil
		}
		if g.exited {
			return nil, fmt.Errorf("QEMU exited while waiting for %q; console:\n%s", re, lastLines(g.console, 30))
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no console line matching %q within %s; console:\n%s", re, timeout, lastLines(g.console, 30))
		}
		g.cond.Wait()
	}
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitForAll waits for a line matching each pattern, in any order, all after the cursor; it
// leaves the cursor after the last of them.
func (g *guest) waitForAll(timeout time.Duration, res ...string) {
	g.t.Helper()
	g.mu.Lock()
	start := g.cursor
	g.mu.Unlock()
	end := start
	var last time.Time
	for _, re := range res {
		g.mu.Lock()
		g.cursor = start
		g.mu.Unlock()
		g.waitFor(re, timeout)
		g.mu.Lock()
		end = max(end, g.cursor)
		if g.lastAt.After(last) {
			last = g.lastAt
		}
		g.mu.Unlock()
	}
	g.mu.Lock()
	g.cursor, g.lastAt = end, last
	g.mu.Unlock()
}

// waitForAllFind is waitForAll returning the submatches of the first pattern.
func (g *guest) waitForAllFind(timeout time.Duration, res ...string) []string {
	g.t.Helper()
	g.mu.Lock()
	start := g.cursor
	g.mu.Unlock()
	g.waitForAll(timeout, res...)
	g.mu.Lock()
	end, at := g.cursor, g.lastAt
	g.cursor = start
	g.mu.Unlock()
	m := g.waitFor(res[0], time.Second)
	g.mu.Lock()
	g.cursor, g.lastAt = end, at
	g.mu.Unlock()
	return m
}

// find returns the submatches of the first line matching re anywhere on the console so far; the
// cursor does not move.
func (g *guest) find(re string) []string {
	g.t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	m := regexp.MustCompile(re).FindSubmatch(g.console)
	if m == nil {
		g.t.Fatalf("no console line matching %q; console:\n%s", re, lastLines(g.console, 30))
	}
	out := make([]string, len(m))
	for i, b := range m {
		out[i] = string(b)
	}
	return out
}

// shell runs a command on the serial console's root shell and returns its output. The first call
// activates the console (init's "Please press Enter").
func (g *guest) shell(command string, timeout time.Duration) string {
	g.t.Helper()
	g.seq++
	begin, end := fmt.Sprintf("@@B%d@@", g.seq), fmt.Sprintf("@@E%d@@", g.seq)
	if g.seq == 1 {
		io.WriteString(g.stdin, "\n")
		time.Sleep(300 * time.Millisecond)
		io.WriteString(g.stdin, "stty -echo 2>/dev/null\n")
	}
	// The markers are printed, not typed, so the echo of this line never matches them.
	fmt.Fprintf(g.stdin, "printf '@@B%%d@@\\n' %d; %s; printf '@@E%%d@@ rc=%%s\\n' %d $?\n", g.seq, command, g.seq)
	g.waitFor(regexp.QuoteMeta(begin)+`\r?\n`, timeout)
	g.mu.Lock()
	start := g.cursor
	g.mu.Unlock()
	m := g.waitFor(regexp.QuoteMeta(end)+` rc=(\d+)\r?\n`, timeout)
	g.mu.Lock()
	out := string(g.console[start:g.cursor])
	g.mu.Unlock()
	out = out[:strings.LastIndex(out, end)]
	if m[1] != "0" {
		g.t.Logf("guest command %q exited %s:\n%s", command, m[1], out)
	}
	return strings.ReplaceAll(out, "\r", "")
}

// matchedAt is the time from QEMU's start to the arrival of the last matched line.
func (g *guest) matchedAt() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lastAt.Sub(g.started).Round(10 * time.Millisecond)
}

// since is the time since QEMU started.
func (g *guest) since() time.Duration { return time.Since(g.started).Round(10 * time.Millisecond) }
