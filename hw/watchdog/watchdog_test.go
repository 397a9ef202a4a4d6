package watchdog_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/deskphone/deskphone/hw/watchdog"
	"github.com/deskphone/deskphone/hw/watchdog/watchdogtest"
)

func TestKeeperFeedsOnEveryTickAndStopsWithContext(t *testing.T) {
	dev := watchdogtest.New()
	tick := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- (&watchdog.Keeper{Dev: dev, Tick: tick}).Run(ctx) }()
	<-dev.Fed() // fed at once, before the first tick
	for i := 0; i < 3; i++ {
		tick <- time.Time{}
		<-dev.Fed()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := dev.Feeds(); got != 4 {
		t.Fatalf("feeds = %d, want 4", got)
	}
}

func TestKeeperStopsFeedingWhileUnhealthy(t *testing.T) {
	dev := watchdogtest.New()
	tick := make(chan time.Time)
	var mu sync.Mutex
	health := error(nil)
	k := &watchdog.Keeper{Dev: dev, Tick: tick, Healthy: func() error { mu.Lock(); defer mu.Unlock(); return health }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- k.Run(ctx) }()
	<-dev.Fed()
	mu.Lock()
	health = errors.New("call loop stuck")
	mu.Unlock()
	tick <- time.Time{}
	tick <- time.Time{} // two ticks: the second proves the first was handled without a feed
	if got := dev.Feeds(); got != 1 {
		t.Fatalf("fed while unhealthy: %d feeds", got)
	}
	mu.Lock()
	health = nil
	mu.Unlock()
	tick <- time.Time{}
	<-dev.Fed()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestKeeperReturnsWhenTheDeviceFails(t *testing.T) {
	dev := watchdogtest.New()
	dev.Fail()
	err := (&watchdog.Keeper{Dev: dev, Interval: time.Hour}).Run(context.Background())
	if !errors.Is(err, watchdogtest.ErrGone) {
		t.Fatalf("err = %v, want ErrGone", err)
	}
}

func TestOpenMissingDeviceSaysSo(t *testing.T) {
	_, err := watchdog.Open(filepath.Join(t.TempDir(), "watchdog"), 15*time.Second)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want not-exist", err)
	}
}

func TestDeviceFeedWritesAndDisarmWritesMagicClose(t *testing.T) {
	// A regular file stands in for the character device: the ioctls fail and are ignored.
	path := filepath.Join(t.TempDir(), "watchdog")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := watchdog.Open(path, 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Feed(); err != nil {
		t.Fatal(err)
	}
	if err := d.Disarm(); err != nil {
		t.Fatal(err)
	}
	if err := d.Feed(); !errors.Is(err, watchdog.ErrClosed) {
		t.Fatalf("feed after disarm: %v", err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "\x00V" {
		t.Fatalf("device got %q, want a feed then the magic 'V'", b)
	}
}

func TestEmulated(t *testing.T) {
	write := func(root, name, content string) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  bool
	}{
		{"real Pi 3 B+", map[string]string{
			"proc/device-tree/model":               "Raspberry Pi 3 Model B Plus Rev 1.3\x00",
			"sys/block/mmcblk0/device/name":        "SC16G\n",
			"sys/bus/usb/devices/1-1/manufacturer": "Microchip\n",
			"proc/cmdline":                         "console=ttyS1,115200\n",
		}, false},
		{"QEMU raspi3b SD card", map[string]string{
			"proc/device-tree/model":        "Raspberry Pi 3 Model B Plus Rev 1.3\x00",
			"sys/block/mmcblk0/device/name": "QEMU!\n",
		}, true},
		{"QEMU raspi3b usb-net", map[string]string{
			"proc/device-tree/model":               "Raspberry Pi 3 Model B Plus Rev 1.3\x00",
			"sys/bus/usb/devices/1-1/manufacturer": "QEMU\n",
		}, true},
		{"QEMU virt keeps its i6300esb", map[string]string{
			"proc/device-tree/model":        "linux,dummy-virt\x00",
			"sys/block/mmcblk0/device/name": "QEMU!\n",
		}, false},
		{"switched off on the command line", map[string]string{
			"proc/cmdline": "console=ttyAMA0 deskphone.watchdog=off\n",
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for n, c := range tc.files {
				write(root, n, c)
			}
			reason, got := watchdog.Emulated(root)
			if got != tc.want {
				t.Fatalf("Emulated = %v (%q), want %v", got, reason, tc.want)
			}
			if got && reason == "" {
				t.Fatal("no reason given")
			}
		})
	}
}
