// Package gpiotest is a fake of the phone's buttons and LEDs for tests: press buttons, lift the
// handset, read back what every output shows.
package gpiotest

import (
	"context"
	"sync"
	"time"

	"github.com/deskphone/deskphone/hw/gpio"
)

// Change is one output changing pattern.
type Change struct {
	Output  gpio.Output
	Pattern gpio.Pattern
}

// Board is a fake gpio.Board. Its zero value is not usable; call New.
type Board struct {
	events chan gpio.Event
	done   chan struct{} // closed when Run ends: a blocked send gives up
	stop   sync.Once

	sendMu sync.Mutex // serialises sends with closing events
	closed bool       // events is closed; guarded by sendMu

	mu       sync.Mutex
	patterns map[gpio.Output]gpio.Pattern
	history  []Change
	changed  chan struct{} // closed and replaced on every change
}

// New returns a board with every output off.
func New() *Board {
	return &Board{
		events:   make(chan gpio.Event, 64),
		done:     make(chan struct{}),
		patterns: map[gpio.Output]gpio.Pattern{},
		changed:  make(chan struct{}),
	}
}

// Events delivers what Press and the hook methods send, like gpio.Board.Events.
func (b *Board) Events() <-chan gpio.Event { return b.events }

// Run returns when ctx is done and closes Events, like gpio.Board.Run.
func (b *Board) Run(ctx context.Context) error {
	<-ctx.Done()
	b.stop.Do(func() { close(b.done) })
	b.sendMu.Lock()
	defer b.sendMu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.events)
	}
	return nil
}

// Set records the pattern an output shows.
func (b *Board) Set(o gpio.Output, p gpio.Pattern) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.patterns[o] == p {
		return
	}
	b.patterns[o] = p
	b.history = append(b.history, Change{Output: o, Pattern: p})
	close(b.changed)
	b.changed = make(chan struct{})
}

// Press sends the event of a button: gpio.Answer, gpio.Hangup, gpio.Redial, gpio.Pair (as if
// held long enough) or gpio.SpeedDial (slot 1).
func (b *Board) Press(k gpio.Kind) { b.send(gpio.Event{Kind: k, Slot: slotOf(k)}) }

// SpeedDial presses the speed-dial button of a slot (1-based).
func (b *Board) SpeedDial(slot int) { b.send(gpio.Event{Kind: gpio.SpeedDial, Slot: slot}) }

// HookOff lifts the handset.
func (b *Board) HookOff() { b.send(gpio.Event{Kind: gpio.HookOff}) }

// HookOn puts the handset down.
func (b *Board) HookOn() { b.send(gpio.Event{Kind: gpio.HookOn}) }

func (b *Board) send(ev gpio.Event) {
	ev.At = time.Now()
	b.sendMu.Lock()
	defer b.sendMu.Unlock()
	if b.closed {
		return
	}
	// A full channel blocks the sender, as an unread gpio.Board does, but neither Set nor Run.
	select {
	case b.events <- ev:
	case <-b.done:
	}
}

// Pattern is what an output shows now.
func (b *Board) Pattern(o gpio.Output) gpio.Pattern {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.patterns[o]
}

// History is every pattern change, oldest first.
func (b *Board) History() []Change {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Change(nil), b.history...)
}

// WaitPattern blocks until output o shows p or ctx is done; it reports whether o shows p.
func (b *Board) WaitPattern(ctx context.Context, o gpio.Output, p gpio.Pattern) bool {
	for {
		b.mu.Lock()
		now, changed := b.patterns[o], b.changed
		b.mu.Unlock()
		if now == p {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

func slotOf(k gpio.Kind) int {
	if k == gpio.SpeedDial {
		return 1
	}
	return 0
}
