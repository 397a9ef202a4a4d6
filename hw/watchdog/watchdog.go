// Package watchdog arms and feeds the Linux hardware watchdog (/dev/watchdog) so that a hung
// service resets the board.
//
// The kernel interface is Documentation/watchdog/watchdog-api.rst: opening the device starts the
// countdown, any write restarts it, WDIOC_SETTIMEOUT changes it, and writing 'V' just before
// closing ("magic close") stops it. Closing without 'V' (a crash, kill -9) leaves it running, so the
// board resets unless a restarted service opens the device again in time.
package watchdog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// DefaultPath is the first watchdog device of a Linux system.
const DefaultPath = "/dev/watchdog"

// ErrClosed is returned by Feed after Disarm or Close.
var ErrClosed = errors.New("watchdog device already closed")

// Device is an armed watchdog device. It is not safe for concurrent use; one Keeper feeds it.
type Device struct {
	f       *os.File
	path    string
	timeout time.Duration
}

// Open opens (and so arms) the watchdog at path and asks the driver for timeout; a zero timeout
// keeps the driver's. The driver may round the timeout or cap it (bcm2835_wdt: at most 15 s);
// Timeout reports what it chose.
func Open(path string, timeout time.Duration) (*Device, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("open hardware watchdog: %w", err)
	}
	d := &Device{f: f, path: path, timeout: timeout}
	got, err := setTimeout(f, timeout)
	if err != nil {
		// The device is armed with the driver's default; keep it and say what we could not change.
		got = 0
	}
	d.timeout = got
	return d, nil
}

// Path is the device file.
func (d *Device) Path() string { return d.path }

// Timeout is the driver's countdown, or 0 when the driver did not say.
func (d *Device) Timeout() time.Duration { return d.timeout }

// Feed restarts the countdown.
func (d *Device) Feed() error {
	if d.f == nil {
		return ErrClosed
	}
	if _, err := d.f.Write([]byte{0}); err != nil {
		return fmt.Errorf("feed hardware watchdog %s: %w", d.path, err)
	}
	return nil
}

// Disarm stops the countdown (magic close) and closes the device. Use it on an orderly stop only.
func (d *Device) Disarm() error {
	if d.f == nil {
		return ErrClosed
	}
	_, werr := d.f.Write([]byte("V"))
	cerr := d.f.Close()
	d.f = nil
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("disarm hardware watchdog %s: %w", d.path, err)
	}
	return nil
}

// Close closes the device and leaves the countdown running, as a crash would.
func (d *Device) Close() error {
	if d.f == nil {
		return ErrClosed
	}
	err := d.f.Close()
	d.f = nil
	if err != nil {
		return fmt.Errorf("close hardware watchdog %s: %w", d.path, err)
	}
	return nil
}

// Feeder restarts a watchdog's countdown. *Device and watchdogtest.Device are Feeders.
type Feeder interface {
	Feed() error
}

// Keeper feeds a watchdog at a fixed interval while the service is healthy.
type Keeper struct {
	Dev      Feeder
	Interval time.Duration    // between feeds; well under the device timeout (a quarter of it)
	Healthy  func() error     // nil means always healthy; an error stops feeding until it clears
	Log      *slog.Logger     // nil discards
	Tick     <-chan time.Time // nil: a real ticker every Interval (tests pass their own)
}

// Run feeds the watchdog once at once and then at every tick until ctx is done. While Healthy
// fails it does not feed, so the board resets if the failure outlasts the timeout. A failing
// Feed is returned: the device is gone and nothing can protect the board any more.
func (k *Keeper) Run(ctx context.Context) error {
	log := k.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tick := k.Tick
	if tick == nil {
		if k.Interval <= 0 {
			return errors.New("watchdog keeper: interval must be positive")
		}
		t := time.NewTicker(k.Interval)
		defer t.Stop()
		tick = t.C
	}
	unhealthy := false
	for {
		herr := error(nil)
		if k.Healthy != nil {
			herr = k.Healthy()
		}
		switch {
		case herr != nil && !unhealthy:
			unhealthy = true
			log.Error("service unhealthy, no longer feeding the hardware watchdog; the board resets unless this clears", "err", herr)
		case herr == nil:
			if unhealthy {
				unhealthy = false
				log.Info("service healthy again, feeding the hardware watchdog")
			}
			if err := k.Dev.Feed(); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
		}
	}
}
