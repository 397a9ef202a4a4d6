package gpio

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// fakeLine behaves like a gpioioctl line: edges wake WaitForEdge, Read returns the current
// level, Out records every level written.
type fakeLine struct {
	name   string
	mu     sync.Mutex
	level  pgpio.Level
	pull   pgpio.Pull
	edge   pgpio.Edge
	outs   []pgpio.Level
	closed bool
	edges  chan struct{}
	halt   chan struct{}
}

func newFakeLine(name string, level pgpio.Level) *fakeLine {
	return &fakeLine{name: name, level: level, edges: make(chan struct{}, 256), halt: make(chan struct{}, 1)}
}

func (f *fakeLine) String() string                         { return f.name }
func (f *fakeLine) Name() string                           { return f.name }
func (f *fakeLine) Number() int                            { return 0 }
func (f *fakeLine) Function() string                       { return "" }
func (f *fakeLine) Pull() pgpio.Pull                       { return f.pull }
func (f *fakeLine) DefaultPull() pgpio.Pull                { return pgpio.PullNoChange }
func (f *fakeLine) PWM(pgpio.Duty, physic.Frequency) error { return errors.New("no PWM") }

func (f *fakeLine) In(pull pgpio.Pull, edge pgpio.Edge) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pull, f.edge = pull, edge
	return nil
}

func (f *fakeLine) Read() pgpio.Level {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.level
}

func (f *fakeLine) WaitForEdge(timeout time.Duration) bool {
	if timeout <= 0 {
		panic("WaitForEdge without a finite timeout")
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-f.edges:
		return true
	case <-f.halt:
		return false
	case <-t.C:
		return false
	}
}

func (f *fakeLine) Halt() error {
	select {
	case f.halt <- struct{}{}:
	default:
	}
	return nil
}

func (f *fakeLine) Out(l pgpio.Level) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.level = l
	f.outs = append(f.outs, l)
	return nil
}

func (f *fakeLine) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
}

// set drives the line from outside, as a switch or gpio-sim's pull would.
func (f *fakeLine) set(l pgpio.Level) {
	f.mu.Lock()
	f.level = l
	f.mu.Unlock()
	f.edges <- struct{}{}
}

func (f *fakeLine) written() []pgpio.Level {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]pgpio.Level(nil), f.outs...)
}

type fakeBoard map[string]*fakeLine

func (fb fakeBoard) lookup(name string) (pgpio.PinIO, error) {
	if l, ok := fb[name]; ok {
		return l, nil
	}
	return nil, ErrNoLine
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start opens a board on fake lines and runs it until the test ends.
func start(t *testing.T, cfg Config, lines fakeBoard) *Board {
	t.Helper()
	b, err := open(cfg, discard(), lines.lookup)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return b
}

func next(t *testing.T, b *Board) Event {
	t.Helper()
	select {
	case ev := <-b.Events():
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
	}
	return Event{}
}

// quiet checks that no event follows within several debounce windows.
func quiet(t *testing.T, b *Board, window time.Duration) {
	t.Helper()
	select {
	case ev := <-b.Events():
		t.Fatalf("unexpected extra event %v", ev.Kind)
	case <-time.After(10 * window):
	}
}

func testConfig() Config {
	d := DefaultConfig() // the real timings: the tests run on a fake clock
	return Config{Debounce: d.Debounce, PairHold: d.PairHold}
}

func TestBounceGivesOneEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Answer = InputConfig{Pin: "ANSWER", Pull: PullUp, ActiveLow: true}
		line := newFakeLine("ANSWER", pgpio.High)
		b := start(t, cfg, fakeBoard{"ANSWER": line})
		// five edges within a few milliseconds, ending pressed (low)
		for _, l := range []pgpio.Level{pgpio.Low, pgpio.High, pgpio.Low, pgpio.High, pgpio.Low} {
			line.set(l)
			time.Sleep(200 * time.Microsecond)
		}
		if ev := next(t, b); ev.Kind != Answer {
			t.Fatalf("event %v, want answer", ev.Kind)
		}
		quiet(t, b, cfg.Debounce)
		// the release bounces too, and gives no event (buttons report presses)
		for _, l := range []pgpio.Level{pgpio.High, pgpio.Low, pgpio.High} {
			line.set(l)
		}
		quiet(t, b, cfg.Debounce)
		if line.pull != pgpio.PullUp || line.edge != pgpio.BothEdges {
			t.Errorf("line requested with pull %v edge %v, want PullUp BothEdges", line.pull, line.edge)
		}
	})
}

func TestHookPolarity(t *testing.T) {
	tests := []struct {
		name      string
		activeLow bool
		// level of the line with the handset on the cradle, and lifted
		onHook, offHook pgpio.Level
	}{
		{"switch to ground, closed when lifted (active_low)", true, pgpio.High, pgpio.Low},
		{"switch to 3.3V, closed when lifted", false, pgpio.Low, pgpio.High},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig()
				cfg.Hook = InputConfig{Pin: "HOOK", Pull: PullUp, ActiveLow: tt.activeLow}
				line := newFakeLine("HOOK", tt.onHook)
				b := start(t, cfg, fakeBoard{"HOOK": line})
				line.set(tt.offHook)
				if ev := next(t, b); ev.Kind != HookOff {
					t.Fatalf("lifting the handset gave %v, want hook_off", ev.Kind)
				}
				line.set(tt.onHook)
				if ev := next(t, b); ev.Kind != HookOn {
					t.Fatalf("putting the handset down gave %v, want hook_on", ev.Kind)
				}
			})
		})
	}
}

func TestHookOffAtStartIsReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Hook = InputConfig{Pin: "HOOK", ActiveLow: true}
		b := start(t, cfg, fakeBoard{"HOOK": newFakeLine("HOOK", pgpio.Low)})
		if ev := next(t, b); ev.Kind != HookOff {
			t.Fatalf("handset lifted at start gave %v, want hook_off", ev.Kind)
		}
	})
}

func TestPairNeedsHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Pair = InputConfig{Pin: "PAIR", ActiveLow: true}
		cfg.SpeedDial = InputConfig{Pin: "SPEED", ActiveLow: true}
		pair := newFakeLine("PAIR", pgpio.High)
		speed := newFakeLine("SPEED", pgpio.High)
		b := start(t, cfg, fakeBoard{"PAIR": pair, "SPEED": speed})

		// a short press is not a pairing request
		pair.set(pgpio.Low)
		time.Sleep(cfg.PairHold / 4)
		pair.set(pgpio.High)
		time.Sleep(5 * cfg.Debounce) // let the release settle, or the next press continues this one
		speed.set(pgpio.Low)         // marker: the next event must be this one
		if ev := next(t, b); ev.Kind != SpeedDial || ev.Slot != 1 {
			t.Fatalf("got %v slot %d, want speed_dial slot 1 (a short pair press must not count)", ev.Kind, ev.Slot)
		}
		pair.set(pgpio.Low)
		start := time.Now()
		if ev := next(t, b); ev.Kind != Pair {
			t.Fatalf("got %v, want pair", ev.Kind)
		}
		if held := time.Since(start); held < cfg.PairHold {
			t.Errorf("pair reported after %v, before the %v hold", held, cfg.PairHold)
		}
		quiet(t, b, cfg.Debounce)
	})
}

func TestRingLEDBlinksAndStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.RingLED = OutputConfig{Pin: "RING_LED"}
		cfg.StatusLED = OutputConfig{Pin: "STATUS_LED", ActiveLow: true}
		ring := newFakeLine("RING_LED", pgpio.Low)
		status := newFakeLine("STATUS_LED", pgpio.Low)
		b := start(t, cfg, fakeBoard{"RING_LED": ring, "STATUS_LED": status})

		b.Set(StatusLED, On)
		b.Set(RingLED, RingBlink)
		deadline := time.Now().Add(5 * time.Second)
		for countChanges(ring.written()) < 3 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := countChanges(ring.written()); n < 3 {
			t.Fatalf("ring LED changed %d times while ringing, want it blinking: %v", n, ring.written())
		}
		b.Set(RingLED, Off)
		deadline = time.Now().Add(5 * time.Second)
		for last(ring.written()) != pgpio.Low && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if last(ring.written()) != pgpio.Low {
			t.Fatal("ring LED not dark after ringing stopped")
		}
		if last(status.written()) != pgpio.Low {
			t.Errorf("active-low status LED set On: line %v, want low", last(status.written()))
		}
	})
}

func TestOutputsOffAndLinesReleasedOnStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.RingLED = OutputConfig{Pin: "RING_LED"}
		cfg.Hook = InputConfig{Pin: "HOOK"}
		ring, hook := newFakeLine("RING_LED", pgpio.Low), newFakeLine("HOOK", pgpio.Low)
		b, err := open(cfg, discard(), fakeBoard{"RING_LED": ring, "HOOK": hook}.lookup)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = b.Run(ctx); close(done) }()
		b.Set(RingLED, On)
		for last(ring.written()) != pgpio.High {
			time.Sleep(time.Millisecond)
		}
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
		if last(ring.written()) != pgpio.Low || !ring.closed || !hook.closed {
			t.Errorf("after stop: ring=%v closed ring=%v hook=%v; want dark and both released", last(ring.written()), ring.closed, hook.closed)
		}
		if _, ok := <-b.Events(); ok {
			t.Error("Events not closed after Run returned")
		}
	})
}

func TestOpenErrors(t *testing.T) {
	lines := fakeBoard{"GPIO17": newFakeLine("GPIO17", pgpio.High)}
	cfg := testConfig()
	cfg.Hook = InputConfig{Pin: "GPIO17"}
	cfg.Answer = InputConfig{Pin: "GPIO17"}
	if _, err := open(cfg, discard(), lines.lookup); err == nil || !strings.Contains(err.Error(), "already used by hook") {
		t.Errorf("same line twice: err = %v, want it to name both uses", err)
	}
	cfg = testConfig()
	cfg.RingLED = OutputConfig{Pin: "GPIO99"}
	_, err := open(cfg, discard(), lines.lookup)
	if !errors.Is(err, ErrNoLine) || !strings.Contains(err.Error(), "ring_led") {
		t.Errorf("unknown line: err = %v, want ErrNoLine naming ring_led", err)
	}
}

func countChanges(ls []pgpio.Level) int {
	n := 0
	for i := 1; i < len(ls); i++ {
		if ls[i] != ls[i-1] {
			n++
		}
	}
	return n
}

func last(ls []pgpio.Level) pgpio.Level {
	if len(ls) == 0 {
		return pgpio.Low
	}
	return ls[len(ls)-1]
}
