package audio

import (
	"context"
	"sync"
	"time"
)

// NullDevice captures silence and discards what it plays, paced in real time. It is the
// backend for a phone without a handset (registrar-only boxes, benchmarks).
type NullDevice struct {
	pace pacer
}

// NewNull returns a null device.
func NewNull() *NullDevice { return &NullDevice{} }

// ReadFrame waits for the next 20 ms tick and fills frame with silence.
func (d *NullDevice) ReadFrame(ctx context.Context, frame []int16) error {
	if err := d.pace.wait(ctx); err != nil {
		return err
	}
	clear(frame)
	return nil
}

// WriteFrame discards frame.
func (d *NullDevice) WriteFrame(frame []int16) error { return nil }

// Close stops the device's clock.
func (d *NullDevice) Close() error {
	d.pace.stop()
	return nil
}

// pacer is the clock of the devices without a sound card: it releases one frame every
// FramePeriod, like a card's period interrupt, from the first wait until stop.
type pacer struct {
	once   sync.Once
	ticker *time.Ticker
}

// wait blocks until the next tick. After stop it blocks until ctx ends, or fails at once with
// ErrClosed if the clock never started.
func (p *pacer) wait(ctx context.Context) error {
	p.once.Do(func() { p.ticker = time.NewTicker(FramePeriod) })
	if p.ticker == nil {
		return ErrClosed
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-p.ticker.C:
		return nil
	}
}

// stop stops the clock; a clock that never started never will.
func (p *pacer) stop() {
	p.once.Do(func() {})
	if p.ticker != nil {
		p.ticker.Stop()
	}
}
