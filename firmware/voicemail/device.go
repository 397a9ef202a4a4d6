package voicemail

import (
	"context"
	"sync"
	"time"

	"github.com/deskphone/deskphone/firmware/media"
)

// lineDevice is the voicemail's end of a call, seen by media.Audio as a handset: ReadFrame paces
// the loop and plays the queued prompts, WriteFrame hands what the caller says to the call logic.
type lineDevice struct {
	tick  *time.Ticker
	heard chan []int16 // the caller's audio, 20 ms frames

	mu     sync.Mutex
	queue  []int16
	played chan struct{} // closed when the queue runs empty
}

func newLineDevice() *lineDevice {
	d := &lineDevice{tick: time.NewTicker(20 * time.Millisecond), heard: make(chan []int16, 50), played: make(chan struct{})}
	close(d.played)
	return d
}

// play queues audio after what is already queued; the channel closes when everything queued
// has been sent.
func (d *lineDevice) play(parts ...[]int16) <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range parts {
		d.queue = append(d.queue, p...)
	}
	if len(d.queue) > 0 {
		select {
		case <-d.played:
			d.played = make(chan struct{})
		default:
		}
	}
	return d.played
}

// stop drops whatever is still queued (the caller pressed a key).
func (d *lineDevice) stop() {
	d.mu.Lock()
	d.queue = d.queue[:0]
	select {
	case <-d.played:
	default:
		close(d.played)
	}
	d.mu.Unlock()
}

func (d *lineDevice) ReadFrame(ctx context.Context, frame []int16) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-d.tick.C:
	}
	d.mu.Lock()
	n := copy(frame, d.queue)
	clear(frame[n:])
	d.queue = d.queue[n:]
	if len(d.queue) == 0 {
		select {
		case <-d.played:
		default:
			close(d.played)
		}
	}
	d.mu.Unlock()
	return nil
}

func (d *lineDevice) WriteFrame(frame []int16) error {
	select {
	case d.heard <- append([]int16(nil), frame...):
	default: // the call logic is behind (a slow disk): drop rather than stall the audio loop
	}
	return nil
}

func (d *lineDevice) close() { d.tick.Stop() }

var _ media.AudioDevice = (*lineDevice)(nil)
