// Package audiotest is a fake handset for tests: scripted microphone audio, recorded speaker
// audio and an optional injected clock.
package audiotest

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"
)

// ErrClosed is returned by ReadFrame on a Device closed before its real ticker started.
var ErrClosed = errors.New("audiotest: device closed")

// Device is a fake audio device. The zero value captures silence, paced by a real 20 ms ticker.
type Device struct {
	// Source fills captured frame number n (counting from 0); nil captures silence.
	Source func(n int, frame []int16)
	// Tick paces ReadFrame; nil means a real 20 ms ticker started on the first read.
	Tick <-chan time.Time
	// OnWrite, if set, sees every played frame once it is recorded (Played includes it).
	OnWrite func(frame []int16)

	mu       sync.Mutex
	once     sync.Once
	ticker   *time.Ticker
	captured int
	played   []int16
}

// ReadFrame waits for the next tick and fills frame from Source.
func (d *Device) ReadFrame(ctx context.Context, frame []int16) error {
	tick := d.Tick
	if tick == nil {
		d.once.Do(func() { d.ticker = time.NewTicker(20 * time.Millisecond) })
		if d.ticker == nil {
			return ErrClosed
		}
		tick = d.ticker.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tick:
	}
	d.mu.Lock()
	n := d.captured
	d.captured++
	d.mu.Unlock()
	clear(frame)
	if d.Source != nil {
		d.Source(n, frame)
	}
	return nil
}

// WriteFrame records frame.
func (d *Device) WriteFrame(frame []int16) error {
	d.mu.Lock()
	d.played = append(d.played, frame...)
	d.mu.Unlock()
	if d.OnWrite != nil {
		d.OnWrite(frame)
	}
	return nil
}

// Played returns a copy of everything written so far.
func (d *Device) Played() []int16 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]int16(nil), d.played...)
}

// Captured returns how many frames were read.
func (d *Device) Captured() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.captured
}

// Close stops the ticker, if one was started.
func (d *Device) Close() error {
	d.once.Do(func() {})
	if d.ticker != nil {
		d.ticker.Stop()
	}
	return nil
}

// Sine returns a Source producing a continuous sine of freq Hz and peak amplitude amp at 8 kHz.
func Sine(freq, amp float64) func(n int, frame []int16) {
	return func(n int, frame []int16) {
		base := n * len(frame)
		for i := range frame {
			frame[i] = int16(amp * math.Sin(2*math.Pi*freq*float64(base+i)/8000))
		}
	}
}
