package audio

import (
	"context"
	"sync"
	"time"
)

// NullDevice captures silence and discards what it plays, paced in real time. It is the
// backend for a phone without a handset (registrar-only boxes, benchmarks).
type NullDevice struct {
	once   sync.Once
	ticker *time.Ticker
}

// NewNull returns a null device.
func NewNull() *NullDevice { return &NullDevice{} }

// ReadFrame waits for the next 20 ms tick and fills frame with silence.
func (d *NullDevice) ReadFrame(ctx context.Context, frame []int16) error {
	d.once.Do(func() { d.ticker = time.NewTicker(FramePeriod) })
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-d.ticker.C:
	}
	clear(frame)
	return nil
}

// WriteFrame discards frame.
func (d *NullDevice) WriteFrame(frame []int16) error { return nil }

// Close stops the device's clock.
func (d *NullDevice) Close() error {
	d.once.Do(func() {})
	if d.ticker != nil {
		d.ticker.Stop()
	}
	return nil
}
