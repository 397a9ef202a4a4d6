package hardware

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDefaultPinMapOnPi boots the image with the Raspberry Pi 3 B+ device tree and opens the
// documented default pin map (hw/README.md) through the GPIO character device: every line name
// exists on the Pi's GPIO controller and takes the requested pull and edge detection.
func TestDefaultPinMapOnPi(t *testing.T) {
	image, kernel, initrd := os.Getenv("DESKPHONE_HW_IMAGE"), os.Getenv("DESKPHONE_HW_KERNEL"), os.Getenv("DESKPHONE_HW_INITRD")
	if image == "" {
		t.Skip("run through test/image/hardware/run.sh")
	}
	dtb := filepath.Join(filepath.Dir(kernel), "bcm2837-rpi-3-b-plus.dtb")
	g := bootPi(t, image, kernel, initrd, dtb)
	g.waitConsole(t, "Please press Enter", 180*time.Second)
	g.conn.Write([]byte("\n"))
	g.must(t, "stty -echo; echo ready", 30*time.Second)
	// No config file: hwcheck uses gpio.DefaultConfig, the documented map (GPIO17, GPIO27, …).
	lines, rc := g.sh(t, "hwcheck buttons -config /nonexistent -seconds 1", 60*time.Second)
	if rc != 0 {
		t.Fatalf("opening the default pin map on the Pi 3 B+ device tree failed:\n%s", strings.Join(lines, "\n"))
	}
	t.Logf("default pin map opened: %s", strings.Join(lines, " | "))
}
