package gpio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	pdriverreg "periph.io/x/conn/v3/driver/driverreg"
	pgpio "periph.io/x/conn/v3/gpio"
	pgpioreg "periph.io/x/conn/v3/gpio/gpioreg"
	pgpioioctl "periph.io/x/host/v3/gpioioctl"
)

// Output names one of the phone's outputs.
type Output int

// The phone's outputs.
const (
	RingLED    Output = iota // blinks while a call rings
	StatusLED                // registration state
	MessageLED               // message waiting
	Ringer                   // relay or buzzer, follows the ring cadence
	numOutputs
)

var outputNames = [...]string{"ring_led", "status_led", "message_led", "ringer"}

// String is the output's name in logs and in the config file ("ring_led").
func (o Output) String() string {
	if o < 0 || o >= numOutputs {
		return "unknown"
	}
	return outputNames[o]
}

// ErrNoLine means a configured line name does not exist on this board.
var ErrNoLine = errors.New("no such GPIO line")

// lookupFunc finds a line by name. Open uses periph's registry; tests pass fakes.
type lookupFunc func(name string) (pgpio.PinIO, error)

type input struct {
	name      string // config key, for logs
	kind      Kind   // event on press (buttons) or HookOff/HookOn (hook)
	slot      int
	hold      time.Duration // pair: report after this hold instead of on press
	pin       pgpio.PinIO
	activeLow bool
	d         *debouncer // owned by the input's goroutine once Run starts
}

type output struct {
	pin       pgpio.PinIO
	activeLow bool
}

type want struct {
	p     Pattern
	since time.Time
}

// Board is the phone's buttons, hook switch and LEDs. Open it, then Run it; Set and Events may
// be used from any goroutine.
type Board struct {
	log     *slog.Logger
	inputs  []*input
	outputs [numOutputs]*output
	events  chan Event

	mu    sync.Mutex
	wants [numOutputs]want
	wake  chan struct{}
}

// Open requests the configured lines through the GPIO character device. Inputs and outputs
// whose Pin is empty are skipped; an unknown line name is an error that names it.
func Open(cfg Config, log *slog.Logger) (*Board, error) {
	return open(cfg, log, periphLookup)
}

func open(cfg Config, log *slog.Logger, lookup lookupFunc) (*Board, error) {
	if cfg.Debounce <= 0 {
		cfg.Debounce = DefaultConfig().Debounce
	}
	if cfg.PairHold <= 0 {
		cfg.PairHold = DefaultConfig().PairHold
	}
	b := &Board{
		log:    log,
		events: make(chan Event, 32),
		wake:   make(chan struct{}, 1),
	}
	ins := []struct {
		key  string
		c    InputConfig
		kind Kind
		slot int
		hold time.Duration
	}{
		{"hook", cfg.Hook, HookOff, 0, 0},
		{"answer", cfg.Answer, Answer, 0, 0},
		{"hangup", cfg.Hangup, Hangup, 0, 0},
		{"pair", cfg.Pair, Pair, 0, cfg.PairHold},
		{"redial", cfg.Redial, Redial, 0, 0},
		{"speed_dial", cfg.SpeedDial, SpeedDial, 1, 0},
	}
	used := map[string]string{}
	for _, in := range ins {
		if in.c.Pin == "" {
			continue
		}
		if other, dup := used[in.c.Pin]; dup {
			b.release()
			return nil, fmt.Errorf("gpio %s: line %q is already used by %s", in.key, in.c.Pin, other)
		}
		used[in.c.Pin] = in.key
		pin, err := lookup(in.c.Pin)
		if err != nil {
			b.release()
			return nil, fmt.Errorf("gpio %s: %w", in.key, err)
		}
		if err := pin.In(periphPull(in.c.Pull), pgpio.BothEdges); err != nil {
			b.release()
			return nil, fmt.Errorf("gpio %s: request line %q as an input with edge events: %w", in.key, in.c.Pin, err)
		}
		i := &input{name: in.key, kind: in.kind, slot: in.slot, hold: in.hold, pin: pin, activeLow: in.c.ActiveLow}
		i.d = newDebouncer(cfg.Debounce, in.hold, i.active(), time.Now())
		b.inputs = append(b.inputs, i)
	}
	outs := [numOutputs]OutputConfig{cfg.RingLED, cfg.StatusLED, cfg.MessageLED, cfg.Ringer}
	for o, c := range outs {
		if c.Pin == "" {
			continue
		}
		key := Output(o).String()
		if other, dup := used[c.Pin]; dup {
			b.release()
			return nil, fmt.Errorf("gpio %s: line %q is already used by %s", key, c.Pin, other)
		}
		used[c.Pin] = key
		pin, err := lookup(c.Pin)
		if err != nil {
			b.release()
			return nil, fmt.Errorf("gpio %s: %w", key, err)
		}
		out := &output{pin: pin, activeLow: c.ActiveLow}
		if err := out.write(false); err != nil {
			b.release()
			return nil, fmt.Errorf("gpio %s: request line %q as an output: %w", key, c.Pin, err)
		}
		b.outputs[o] = out
	}
	return b, nil
}

// Events delivers debounced input events. It is closed when Run returns.
func (b *Board) Events() <-chan Event { return b.events }

// Set shows a pattern on an output. Setting the pattern it already shows keeps its phase, so
// callers may repeat it. Outputs that are not wired are ignored.
func (b *Board) Set(o Output, p Pattern) {
	if o < 0 || o >= numOutputs {
		return
	}
	b.mu.Lock()
	if b.wants[o].p != p {
		b.wants[o] = want{p: p, since: time.Now()}
	}
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Run watches the inputs and drives the outputs until ctx is done, then turns the outputs off,
// releases the lines and closes Events.
func (b *Board) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, in := range b.inputs {
		wg.Go(func() { b.watch(ctx, in) })
	}
	b.drive(ctx)
	wg.Wait()
	b.release()
	close(b.events)
	return nil
}

// watch reads one input until ctx is done.
func (b *Board) watch(ctx context.Context, in *input) {
	stop := context.AfterFunc(ctx, func() { _ = in.pin.Halt() })
	defer stop()
	d := in.d
	if in.kind == HookOff && d.stable {
		b.emit(ctx, Event{Kind: HookOff, At: d.rawSince})
	}
	for ctx.Err() == nil {
		in.pin.WaitForEdge(d.wait(time.Now()))
		if ctx.Err() != nil {
			return
		}
		changed, held := d.sample(in.active(), time.Now())
		switch {
		case in.kind == HookOff && changed:
			k := HookOn
			if d.stable {
				k = HookOff
			}
			b.emit(ctx, Event{Kind: k, At: d.rawSince})
		case in.hold > 0 && held:
			b.emit(ctx, Event{Kind: in.kind, Slot: in.slot, At: time.Now()})
		case in.hold == 0 && in.kind != HookOff && changed && d.stable:
			b.emit(ctx, Event{Kind: in.kind, Slot: in.slot, At: d.rawSince})
		}
	}
}

func (b *Board) emit(ctx context.Context, ev Event) {
	b.log.Debug("input", "event", ev.Kind.String(), "slot", ev.Slot)
	select {
	case b.events <- ev:
	case <-ctx.Done():
	}
}

// drive keeps every output at the level its pattern asks for until ctx is done.
func (b *Board) drive(ctx context.Context) {
	var lit, written [numOutputs]bool
	var failed [numOutputs]bool
	timer := time.NewTimer(idlePoll)
	defer timer.Stop()
	for {
		b.mu.Lock()
		wants := b.wants
		b.mu.Unlock()
		now := time.Now()
		next := time.Duration(0)
		for o, out := range b.outputs {
			if out == nil {
				continue
			}
			elapsed := now.Sub(wants[o].since)
			l := wants[o].p.level(elapsed)
			if !written[o] || l != lit[o] {
				err := out.write(l)
				if err != nil && !failed[o] {
					b.log.Error("cannot drive output", "output", Output(o).String(), "err", err)
				}
				failed[o] = err != nil
				lit[o], written[o] = l, err == nil
			}
			if d := wants[o].p.untilChange(elapsed); d > 0 && (next == 0 || d < next) {
				next = d
			}
		}
		if next == 0 {
			next = idlePoll
		}
		timer.Reset(next)
		select {
		case <-ctx.Done():
			for _, out := range b.outputs {
				if out != nil {
					_ = out.write(false)
				}
			}
			return
		case <-b.wake:
		case <-timer.C:
		}
	}
}

// release gives the lines back to the kernel.
func (b *Board) release() {
	closeLine := func(p pgpio.PinIO) {
		if c, ok := p.(interface{ Close() }); ok {
			c.Close()
		}
	}
	for _, in := range b.inputs {
		closeLine(in.pin)
	}
	for _, out := range b.outputs {
		if out != nil {
			closeLine(out.pin)
		}
	}
}

// active reads the line and applies its polarity.
func (in *input) active() bool { return bool(in.pin.Read()) != in.activeLow }

func (o *output) write(lit bool) error {
	return o.pin.Out(pgpio.Level(lit != o.activeLow))
}

func periphPull(p Pull) pgpio.Pull {
	switch p {
	case PullUp:
		return pgpio.PullUp
	case PullDown:
		return pgpio.PullDown
	}
	return pgpio.Float
}

// periphLookup finds a line in periph's registry (named lines of every GPIO chip), or as
// "chip:offset" where chip is a chip name ("gpiochip0") or label ("pinctrl-bcm2835").
func periphLookup(name string) (pgpio.PinIO, error) {
	state, err := pdriverreg.Init()
	if err != nil {
		return nil, fmt.Errorf("start the GPIO character device driver: %w", err)
	}
	if p := pgpioreg.ByName(name); p != nil {
		return p, nil
	}
	if chip, off, ok := strings.Cut(name, ":"); ok {
		if n, err := strconv.Atoi(off); err == nil {
			for _, c := range pgpioioctl.Chips {
				if (c.Name() == chip || c.Label() == chip) && n >= 0 && n < c.LineCount() {
					return c.ByNumber(n), nil
				}
			}
		}
	}
	if len(pgpioioctl.Chips) == 0 {
		why := "no /dev/gpiochip* device"
		for _, f := range state.Failed {
			why += "; " + f.String()
		}
		return nil, fmt.Errorf("line %q: %w (%s)", name, ErrNoLine, why)
	}
	return nil, fmt.Errorf("line %q: %w (list the names with `gpioinfo`, or use chip:offset such as gpiochip0:17)", name, ErrNoLine)
}
