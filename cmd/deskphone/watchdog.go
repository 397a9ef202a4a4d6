package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/deskphone/deskphone/hw/watchdog"
)

// imageMarker exists only on the appliance image. Without it the service never touches a
// watchdog: on a developer's PC /dev/watchdog would reset the PC.
const imageMarker = "/etc/deskphone-release"

// watchdogTimeout is asked from the driver; bcm2835_wdt allows at most 15 s.
const watchdogTimeout = 15 * time.Second

// startWatchdog arms the hardware watchdog when the service runs on the appliance image and returns
// the function that feeds it until ctx is done, then disarms it. With no watchdog (a PC, QEMU's
// raspi3b which resets as soon as one is started, no driver) the function just waits for ctx.
func startWatchdog(ctx context.Context, log *slog.Logger) (func() error, error) {
	idle := func() error { <-ctx.Done(); return nil }
	if _, err := os.Stat(imageMarker); err != nil {
		return idle, nil
	}
	if reason, emulated := watchdog.Emulated("/"); emulated {
		log.Info("hardware watchdog not armed", "reason", reason)
		return idle, nil
	}
	dev, err := watchdog.Open(watchdog.DefaultPath, watchdogTimeout)
	if errors.Is(err, os.ErrNotExist) {
		log.Warn("no hardware watchdog on this board; a hung service will not reset it", "device", watchdog.DefaultPath)
		return idle, nil
	}
	if err != nil {
		return nil, err
	}
	interval := dev.Timeout() / 4
	if interval < time.Second {
		interval = time.Second
	}
	log.Info("hardware watchdog armed", "device", dev.Path(), "timeout", dev.Timeout(), "feed_every", interval)
	k := &watchdog.Keeper{Dev: dev, Interval: interval, Log: log}
	return func() error {
		err := k.Run(ctx)
		if err != nil {
			dev.Close()
			return err
		}
		return dev.Disarm()
	}, nil
}
