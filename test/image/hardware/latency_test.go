package hardware

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestLoopbackLatency measures, on the emulated Pi, how long audio takes from the ALSA backend's
// WriteFrame through snd-aloop back to its ReadFrame (the backend's playback plus capture
// latency). It is a measurement for test/bench/audio.sh, run only with DESKPHONE_HW_BENCH=1.
func TestLoopbackLatency(t *testing.T) {
	image, kernel, initrd := os.Getenv("DESKPHONE_HW_IMAGE"), os.Getenv("DESKPHONE_HW_KERNEL"), os.Getenv("DESKPHONE_HW_INITRD")
	if image == "" || os.Getenv("DESKPHONE_HW_BENCH") == "" {
		t.Skip("a measurement: run test/bench/audio.sh")
	}
	g := bootGuest(t, image, kernel, initrd)
	g.waitConsole(t, "Please press Enter", 90*time.Second)
	g.conn.Write([]byte("\n"))
	g.must(t, "stty -echo; echo ready", 20*time.Second)
	// Substream 2 of the loopback: the phone service uses 0 and 1.
	lines := g.must(t, "hwcheck latency -playback hw:Loopback,0,2 -capture hw:Loopback,1,2", 120*time.Second)
	for _, l := range lines {
		if strings.HasPrefix(l, "round trip") {
			t.Logf("BENCH qemu-aloop %s", l)
			return
		}
	}
	t.Fatalf("no measurement:\n%s", strings.Join(lines, "\n"))
}
