// Package watchdogtest is a fake hardware watchdog that counts feeds and can be made to fail.
package watchdogtest

import (
	"errors"
	"sync"
)

// ErrGone is what Feed returns after Fail, like a device that disappeared.
var ErrGone = errors.New("watchdogtest: device gone")

// Device records every feed. It is safe for concurrent use.
type Device struct {
	mu     sync.Mutex
	feeds  int
	failed bool
	fed    chan struct{}
}

// New returns a fake device.
func New() *Device { return &Device{fed: make(chan struct{}, 1024)} }

// Feed counts one feed, or fails after Fail.
func (d *Device) Feed() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failed {
		return ErrGone
	}
	d.feeds++
	select {
	case d.fed <- struct{}{}:
	default:
	}
	return nil
}

// Feeds is the number of feeds so far.
func (d *Device) Feeds() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.feeds
}

// Fed receives one value per feed (buffered).
func (d *Device) Fed() <-chan struct{} { return d.fed }

// Fail makes every later Feed return ErrGone.
func (d *Device) Fail() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failed = true
}
