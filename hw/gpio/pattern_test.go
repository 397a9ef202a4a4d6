package gpio

import (
	"testing"
	"time"
)

func TestPatternLevel(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		p       Pattern
		elapsed time.Duration
		lit     bool
		until   time.Duration
	}{
		{Off, 0, false, 0},
		{Off, time.Hour, false, 0},
		{On, 0, true, 0},
		{On, time.Hour, true, 0},
		{SlowBlink, 0, true, time.Second},
		{SlowBlink, 999 * ms, true, 1 * ms},
		{SlowBlink, 1000 * ms, false, time.Second},
		{SlowBlink, 1500 * ms, false, 500 * ms},
		{SlowBlink, 2000 * ms, true, time.Second},
		{FastBlink, 0, true, 125 * ms},
		{FastBlink, 130 * ms, false, 120 * ms},
		{FastBlink, 250 * ms, true, 125 * ms},
		{RingBlink, 100 * ms, true, 150 * ms},
		{RingBlink, 300 * ms, false, 200 * ms},
		{RingCadence, 500 * ms, true, 500 * ms},
		{RingCadence, 1500 * ms, false, 1500 * ms},
		{RingCadence, 3000 * ms, true, 1000 * ms},
		{RingBlink, -5 * ms, true, 250 * ms},
	}
	for _, tt := range tests {
		if got := tt.p.level(tt.elapsed); got != tt.lit {
			t.Errorf("%v.level(%v) = %v, want %v", tt.p, tt.elapsed, got, tt.lit)
		}
		if got := tt.p.untilChange(tt.elapsed); got != tt.until {
			t.Errorf("%v.untilChange(%v) = %v, want %v", tt.p, tt.elapsed, got, tt.until)
		}
	}
}

// The status LED's three states must look different to a user: steady, about 0.5 Hz, about 4 Hz.
func TestStatusPatternsDiffer(t *testing.T) {
	count := func(p Pattern) int {
		n, last := 0, p.level(0)
		for e := time.Duration(0); e < 4*time.Second; e += 5 * time.Millisecond {
			if l := p.level(e); l != last {
				n, last = n+1, l
			}
		}
		return n
	}
	on, slow, fast := count(On), count(SlowBlink), count(FastBlink)
	if on != 0 || slow < 2 || fast < 4*slow {
		t.Errorf("changes in 4 s: on=%d slow=%d fast=%d; want 0, >=2, and fast at least 4x slow", on, slow, fast)
	}
}
