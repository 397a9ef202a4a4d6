package watchdog

import (
	"os"
	"path/filepath"
	"strings"
)

// Emulated reports whether the board is a Raspberry Pi emulated by QEMU (machine raspi3b), looking
// below root (normally "/"). QEMU's raspi3b resets the machine as soon as the bcm2835 watchdog is
// started, so it must never be armed there. The evidence is positive, never a missing file: the SD
// card QEMU emulates is named "QEMU!", its USB devices are made by "QEMU", and the kernel command
// line may say deskphone.watchdog=off.
func Emulated(root string) (reason string, emulated bool) {
	if b, err := os.ReadFile(filepath.Join(root, "proc/cmdline")); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if f == "deskphone.watchdog=off" {
				return "kernel command line has deskphone.watchdog=off", true
			}
		}
	}
	model, _ := os.ReadFile(filepath.Join(root, "proc/device-tree/model"))
	if !strings.HasPrefix(string(model), "Raspberry Pi") {
		return "", false
	}
	cards, _ := filepath.Glob(filepath.Join(root, "sys/block/mmcblk*/device/name"))
	for _, c := range cards {
		if b, err := os.ReadFile(c); err == nil && strings.TrimSpace(string(b)) == "QEMU!" {
			return "Raspberry Pi emulated by QEMU (SD card " + strings.TrimSpace(string(b)) + ")", true
		}
	}
	usb, _ := filepath.Glob(filepath.Join(root, "sys/bus/usb/devices/*/manufacturer"))
	for _, m := range usb {
		if b, err := os.ReadFile(m); err == nil && strings.TrimSpace(string(b)) == "QEMU" {
			return "Raspberry Pi emulated by QEMU (USB devices made by QEMU)", true
		}
	}
	return "", false
}
