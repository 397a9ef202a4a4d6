//go:build imagetest

package image

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkImage prints the image's figures: QEMU start -> registered on both machines with the
// boot timeline (each phase the init and the service recorded, in seconds of guest uptime), the
// same kernel booting a bare BusyBox for comparison, both again counted in instructions (-icount),
// card sizes, RAM in use and the service's RSS.
// Run with `make bench-image` (-benchtime 1x). Each figure is BENCH_BOOTS boots (default 3),
// shown as a range; BENCH_MACHINES picks the machines (default "virt raspi3b").
func BenchmarkImage(b *testing.B) {
	rows := [][2]string{}
	add := func(k, v string) { rows = append(rows, [2]string{k, v}) }
	boots := 3
	if n, err := strconv.Atoi(os.Getenv("BENCH_BOOTS")); err == nil && n > 0 {
		boots = n
	}
	machines := []machine{virt, raspi3b}
	if m := strings.Fields(os.Getenv("BENCH_MACHINES")); len(m) > 0 {
		machines = nil
		for _, name := range m {
			machines = append(machines, machine(name))
		}
	}

	if fi, err := os.Stat(imagePath()); err == nil {
		add("card image", fmt.Sprintf("%.0f MiB", float64(fi.Size())/(1<<20)))
	}
	if fi, err := os.Stat(imagePath() + ".xz"); err == nil {
		add("card image, xz", fmt.Sprintf("%.1f MiB", float64(fi.Size())/(1<<20)))
		b.ReportMetric(float64(fi.Size())/(1<<20), "MiB-xz")
	}
	if fi, err := os.Stat(input("rootfs.cpio.zst")); err == nil {
		add("root file system (cpio.zst)", fmt.Sprintf("%.1f MiB", float64(fi.Size())/(1<<20)))
	}

	bare := bareInitramfs(b)
	var timelines []string
	for _, m := range machines {
		c := benchCard(b)
		g := bootWith(b, m, c, "bench-"+string(m), "")
		g.waitFor(`msg=registered `, 120*time.Second)
		first := g.matchedAt()
		g.powerOff()

		// Next boots of the same card: the data partition exists, as on every boot but the first.
		var reg, bareT []time.Duration
		phases := map[string][]float64{}
		var order []string
		var mem string
		for i := 0; i < boots; i++ {
			g = bootWith(b, m, c, fmt.Sprintf("bench-%s-%d", m, i+2), "")
			g.waitFor(`msg=registered `, 120*time.Second)
			reg = append(reg, g.matchedAt())
			// DHCP and the clock may come after the registration; give them a moment.
			time.Sleep(2 * time.Second)
			out := g.shell("cat /run/boot-timeline; free -k | awk '/Mem:/ {print \"USED\", $3}'; grep VmRSS /proc/$("+servicePID+")/status", 20*time.Second)
			for _, l := range regexp.MustCompile(`(?m)^([a-z-]+) ([0-9.]+)$`).FindAllStringSubmatch(out, -1) {
				v, _ := strconv.ParseFloat(l[2], 64)
				if _, ok := phases[l[1]]; !ok {
					order = append(order, l[1])
				}
				phases[l[1]] = append(phases[l[1]], v)
			}
			mem = out
			g.powerOff()

			gb := bootWith(b, m, c, fmt.Sprintf("bench-%s-bare-%d", m, i+1), bare, "rdinit=/init")
			gb.waitFor(`BARE-BUSYBOX-READY`, 120*time.Second)
			bareT = append(bareT, gb.matchedAt())
			gb.powerOff()
		}
		// Once more each, counted: with -icount shift=0 the guest's clock advances a nanosecond an
		// instruction and skips idle time, so its uptime measures the work the guest does rather
		// than what emulating it costs this machine — mostly translating code the first time it
		// runs, which dominates the wall-clock figures above. The same to ±0.01 s every time.
		icount := []string{"-icount", "shift=0,sleep=off"}
		gi := bootQEMU(b, m, c, fmt.Sprintf("bench-%s-icount", m), "", icount)
		workReg := guestSeconds(gi.waitFor(`phase=registered at=([0-9.]+)s`, 120*time.Second))
		workPhases := gi.waitFor(`msg="boot timeline" phases="([^"]*)"`, 10*time.Second)[1]
		gi.powerOff()
		gi = bootQEMU(b, m, c, fmt.Sprintf("bench-%s-bare-icount", m), bare, icount, "rdinit=/init")
		workBare := guestSeconds(gi.waitFor(`BARE-BUSYBOX-READY ([0-9.]+)`, 120*time.Second))
		gi.powerOff()

		usedKB := regexp.MustCompile(`USED (\d+)`).FindStringSubmatch(mem)
		rss := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindStringSubmatch(mem)

		add(string(m)+": QEMU start -> registered (first boot, mkfs)", first.String())
		add(string(m)+": QEMU start -> registered (next boots)", durRange(reg))
		add(string(m)+": QEMU start -> bare BusyBox shell, same kernel", durRange(bareT))
		add(string(m)+": ratio registered / bare (medians)", fmt.Sprintf("%.2f", median(reg).Seconds()/median(bareT).Seconds()))
		b.ReportMetric(median(reg).Seconds(), "s-registered-"+string(m))
		add(string(m)+": registered, counted (-icount, guest uptime)", fmt.Sprintf("%.2fs", workReg))
		add(string(m)+": bare BusyBox shell, counted (-icount, guest uptime)", fmt.Sprintf("%.2fs", workBare))
		add(string(m)+": ratio registered / bare, counted", fmt.Sprintf("%.2f", workReg/workBare))
		if usedKB != nil {
			n, _ := strconv.Atoi(usedKB[1])
			add(string(m)+": RAM in use after boot", fmt.Sprintf("%.1f MiB", float64(n)/1024))
		}
		if rss != nil {
			n, _ := strconv.Atoi(rss[1])
			add(string(m)+": service RSS", fmt.Sprintf("%.1f MiB", float64(n)/1024))
		}

		var tl strings.Builder
		bareMed := median(bareT).Seconds()
		fmt.Fprintf(&tl, "\n%s boot timeline, %d boots (guest uptime, s)   %-13s %s\n", m, boots, "range", "median / bare card")
		for _, p := range order {
			v := phases[p]
			sort.Float64s(v)
			fmt.Fprintf(&tl, "  %-42s %5.2f–%-6.2f %.2f\n", p, v[0], v[len(v)-1], v[len(v)/2]/bareMed)
		}
		fmt.Fprintf(&tl, "  %-42s %-13s %.2f\n", "QEMU start -> registered (wall)", durRange(reg), median(reg).Seconds()/bareMed)
		fmt.Fprintf(&tl, "  %-42s %-13s %.2f\n", "QEMU start -> bare BusyBox shell (wall)", durRange(bareT), 1.0)
		fmt.Fprintf(&tl, "  %-42s %-13s %.2f\n", "registered, counted (-icount)", fmt.Sprintf("%.2f", workReg), workReg/workBare)
		fmt.Fprintf(&tl, "  %-42s %-13s %.2f\n", "bare BusyBox shell, counted (-icount)", fmt.Sprintf("%.2f", workBare), 1.0)
		fmt.Fprintf(&tl, "  counted timeline: %s\n", workPhases)
		timelines = append(timelines, tl.String())
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%-55s %s\n", "deskphone image (QEMU TCG on this machine)", "value")
	for _, r := range rows {
		fmt.Fprintf(&sb, "%-55s %s\n", r[0], r[1])
	}
	for _, t := range timelines {
		sb.WriteString(t)
	}
	b.Log(sb.String())
}

// guestSeconds is the first submatch of a waitFor, a guest uptime in seconds.
func guestSeconds(m []string) float64 {
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func durRange(d []time.Duration) string {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 1 || s[0] == s[len(s)-1] {
		return fmt.Sprintf("%.2fs", s[0].Seconds())
	}
	return fmt.Sprintf("%.2f–%.2fs", s[0].Seconds(), s[len(s)-1].Seconds())
}

// benchCard is a fresh copy of the image.
func benchCard(b *testing.B) string {
	path := filepath.Join(b.TempDir(), "card.img")
	if out, err := exec.Command("cp", "--sparse=always", imagePath(), path).CombinedOutput(); err != nil {
		b.Fatalf("cp: %v %s", err, out)
	}
	return path
}

// bareInitramfs is the image's BusyBox (and the C library, if it needs one) with an /init that
// prints a marker: what the same kernel needs to reach a shell.
func bareInitramfs(b *testing.B) string {
	root := filepath.Join(b.TempDir(), "root")
	src := filepath.Join(filepath.Dir(input("Image")), "..", "rootfs")
	for _, d := range []string{"bin", "lib", "lib/aarch64-linux-gnu", "proc"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	// The C library only for a dynamically linked BusyBox (the image has the static one).
	cp := exec.Command("sh", "-c", `cp -a "$1/bin/busybox" "$2/bin/" || exit 1
aarch64-linux-gnu-readelf -l "$1/bin/busybox" | grep -q interpreter || exit 0
cp -a "$1"/lib/aarch64-linux-gnu/libc.so* "$1"/lib/aarch64-linux-gnu/ld-linux* "$2/lib/aarch64-linux-gnu/" &&
	cp -a "$1/lib/ld-linux-aarch64.so.1" "$2/lib/" || exit 1
for f in "$1"/lib/aarch64-linux-gnu/libresolv*; do [ ! -e "$f" ] || cp -a "$f" "$2/lib/aarch64-linux-gnu/"; done`, "sh", src, root)
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
