//go:build imagetest

package image

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkImage prints the image's figures: QEMU start -> registered on both machines, the same
// kernel booting a bare BusyBox for comparison, card sizes, RAM in use and the service's RSS.
// Run with `make bench-image` (-benchtime 1x: each figure is one boot).
func BenchmarkImage(b *testing.B) {
	rows := [][2]string{}
	add := func(k, v string) { rows = append(rows, [2]string{k, v}) }

	if fi, err := os.Stat(imagePath()); err == nil {
		add("card image", fmt.Sprintf("%.0f MiB", float64(fi.Size())/(1<<20)))
	}
	if fi, err := os.Stat(imagePath() + ".xz"); err == nil {
		add("card image, xz", fmt.Sprintf("%.1f MiB", float64(fi.Size())/(1<<20)))
		b.ReportMetric(float64(fi.Size())/(1<<20), "MiB-xz")
	}
	if fi, err := os.Stat(input("rootfs.cpio.gz")); err == nil {
		add("root file system (cpio.gz)", fmt.Sprintf("%.1f MiB", float64(fi.Size())/(1<<20)))
	}

	bare := bareInitramfs(b)
	for _, m := range []machine{virt, raspi3b} {
		iface := map[machine]string{virt: "eth0", raspi3b: "usb0"}[m]
		c := benchCard(b)
		g := bootWith(b, m, c, "bench-"+string(m), "")
		g.waitFor(`deskphone: `+iface+` has address`, 120*time.Second)
		c0 := g.cursor
		g.waitFor(`msg="deskphone ready"`, 60*time.Second)
		ready := g.matchedAt()
		g.cursor = c0
		g.waitFor(`msg=registered `, 60*time.Second)
		reg := g.matchedAt()
		g.powerOff()
		// Second boot of the same card: the data partition exists, as on every boot but the first.
		g = bootWith(b, m, c, "bench-"+string(m)+"-2", "")
		g.waitFor(`msg=registered `, 120*time.Second)
		reg2 := g.matchedAt()
		time.Sleep(2 * time.Second)
		mem := g.shell("free -k | awk '/Mem:/ {print \"USED\", $3}'; grep VmRSS /proc/$("+servicePID+")/status", 20*time.Second)
		g.powerOff()
		usedKB := regexp.MustCompile(`USED (\d+)`).FindStringSubmatch(mem)
		rss := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindStringSubmatch(mem)

		gb := bootWith(b, m, c, "bench-"+string(m)+"-bare", bare, "rdinit=/init")
		gb.waitFor(`BARE-BUSYBOX-READY`, 120*time.Second)
		bareT := gb.matchedAt()
		gb.powerOff()

		add(string(m)+": QEMU start -> deskphone ready (first boot)", ready.String())
		add(string(m)+": QEMU start -> registered (first boot, mkfs)", reg.String())
		add(string(m)+": QEMU start -> registered (next boots)", reg2.String())
		add(string(m)+": QEMU start -> bare BusyBox shell, same kernel", bareT.String())
		add(string(m)+": ratio registered / bare", fmt.Sprintf("%.2f", reg2.Seconds()/bareT.Seconds()))
		b.ReportMetric(reg2.Seconds(), "s-registered-"+string(m))
		if usedKB != nil {
			n, _ := strconv.Atoi(usedKB[1])
			add(string(m)+": RAM in use after boot", fmt.Sprintf("%.1f MiB", float64(n)/1024))
		}
		if rss != nil {
			n, _ := strconv.Atoi(rss[1])
			add(string(m)+": service RSS", fmt.Sprintf("%.1f MiB", float64(n)/1024))
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%-55s %s\n", "deskphone image (QEMU TCG on this machine)", "value")
	for _, r := range rows {
		fmt.Fprintf(&sb, "%-55s %s\n", r[0], r[1])
	}
	b.Log(sb.String())
}

// benchCard is a fresh copy of the image.
func benchCard(b *testing.B) string {
	path := filepath.Join(b.TempDir(), "card.img")
	if out, err := exec.Command("cp", "--sparse=always", imagePath(), path).CombinedOutput(); err != nil {
		b.Fatalf("cp: %v %s", err, out)
	}
	return path
}

// bareInitramfs is the image's BusyBox and C library with an /init that prints a marker: what the
// same kernel needs to reach a shell.
func bareInitramfs(b *testing.B) string {
	root := filepath.Join(b.TempDir(), "root")
	src := filepath.Join(filepath.Dir(input("Image")), "..", "rootfs")
	for _, d := range []string{"bin", "lib", "lib/aarch64-linux-gnu", "proc"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	cp := exec.Command("sh", "-c", `cp -a "$1/bin/busybox" "$2/bin/" && cp -a "$1"/lib/aarch64-linux-gnu/libc.so* "$1"/lib/aarch64-linux-gnu/ld-linux* "$1"/lib/aarch64-linux-gnu/libresolv* "$2/lib/aarch64-linux-gnu/" && cp -a "$1/lib/ld-linux-aarch64.so.1" "$2/lib/"`, "sh", src, root)
	if out, err := cp.CombinedOutput(); err != nil {
		b.Fatalf("bare root: %v %s", err, out)
	}
	init := "#!/bin/busybox sh\n/bin/busybox mount -t proc proc /proc\necho BARE-BUSYBOX-READY $(/bin/busybox cut -d' ' -f1 /proc/uptime)\nexec /bin/busybox sh\n"
	os.WriteFile(filepath.Join(root, "init"), []byte(init), 0o755)
	out := filepath.Join(b.TempDir(), "bare.cpio.gz")
	cmd := exec.Command("sh", "-c", `cd "$1" && find . | cpio --quiet -o -H newc -R 0:0 | gzip -1 > "$2"`, "sh", root, out)
	if o, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("bare cpio: %v %s", err, o)
	}
	return out
}
