package gpiotest

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/deskphone/deskphone/hw/gpio"
)

func TestBoard(t *testing.T) {
	b := New()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = b.Run(ctx); close(done) }()

	b.HookOff()
	b.Press(gpio.SpeedDial)
	b.HookOn()
	want := []gpio.Kind{gpio.HookOff, gpio.SpeedDial, gpio.HookOn}
	for _, k := range want {
		if ev := <-b.Events(); ev.Kind != k {
			t.Fatalf("event %v, want %v", ev.Kind, k)
		}
	}

	go b.Set(gpio.RingLED, gpio.RingBlink)
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if !b.WaitPattern(wctx, gpio.RingLED, gpio.RingBlink) {
		t.Fatal("ring LED never blinked")
	}
	b.Set(gpio.RingLED, gpio.RingBlink) // repeated: not a change
	b.Set(gpio.RingLED, gpio.Off)
	if h := b.History(); len(h) != 2 || h[1] != (Change{gpio.RingLED, gpio.Off}) {
		t.Errorf("history %v, want blink then off", h)
	}
	cancel()
	<-done
	b.HookOff() // after Run: dropped, no panic
	if _, ok := <-b.Events(); ok {
		t.Error("Events still open after Run returned")
	}
}

func TestFullEventsBlockNeitherSetNorRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = b.Run(ctx); close(done) }()

		pressed := make(chan struct{})
		go func() {
			for range cap(b.events) + 1 { // one more than the channel holds, and nobody reads
				b.Press(gpio.Answer)
			}
			close(pressed)
		}()
		synctest.Wait() // the last press is now blocked on a full channel
		select {
		case <-pressed:
			t.Fatal("a press into a full events channel did not block (the test no longer tests anything)")
		default:
		}
		set := make(chan struct{})
		go func() { b.Set(gpio.StatusLED, gpio.On); close(set) }()
		synctest.Wait()
		select {
		case <-set:
		default:
			t.Fatal("Set blocked behind a press nobody reads")
		}
		cancel()
		synctest.Wait()
		for _, ch := range []chan struct{}{pressed, done} {
			select {
			case <-ch:
			default:
				t.Fatal("Run or a blocked press did not return after ctx ended")
			}
		}
	})
}
