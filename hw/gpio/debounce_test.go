package gpio

import (
	"testing"
	"time"
)

// step is one level sample at a time offset from the start.
type step struct {
	at    time.Duration
	level bool
}

func TestDebouncer(t *testing.T) {
	const window = 30 * time.Millisecond
	ms := time.Millisecond
	tests := []struct {
		name        string
		start       bool
		hold        time.Duration
		steps       []step
		wantChanges int
		wantHolds   int
		wantStable  bool
	}{
		{
			name:  "bounce of five edges within 5ms gives one press",
			steps: []step{{0, true}, {1 * ms, false}, {2 * ms, true}, {3 * ms, false}, {4 * ms, true}, {4*ms + window, true}},
			// settled 30 ms after the last edge
			wantChanges: 1, wantStable: true,
		},
		{
			name:        "bounce then sample before the window ends: no change yet",
			steps:       []step{{0, true}, {1 * ms, false}, {2 * ms, true}, {20 * ms, true}},
			wantChanges: 0, wantStable: false,
		},
		{
			name:        "glitch shorter than the window is ignored",
			steps:       []step{{0, true}, {5 * ms, false}, {100 * ms, false}},
			wantChanges: 0, wantStable: false,
		},
		{
			name:        "press and release give two changes",
			steps:       []step{{0, true}, {window, true}, {200 * ms, false}, {200*ms + window, false}},
			wantChanges: 2, wantStable: false,
		},
		{
			name:        "release bouncing at the end of a long press",
			start:       true,
			steps:       []step{{0, false}, {2 * ms, true}, {3 * ms, false}, {3*ms + window - 1, false}, {3*ms + window, false}},
			wantChanges: 1, wantStable: false,
		},
		{
			name:        "held 3 s reports one hold",
			hold:        3 * time.Second,
			steps:       []step{{0, true}, {window, true}, {3 * time.Second, true}, {3*time.Second + window, true}, {5 * time.Second, true}},
			wantChanges: 1, wantHolds: 1, wantStable: true,
		},
		{
			name:        "released before 3 s: no hold",
			hold:        3 * time.Second,
			steps:       []step{{0, true}, {window, true}, {2 * time.Second, false}, {2*time.Second + window, false}, {4 * time.Second, false}},
			wantChanges: 2, wantHolds: 0, wantStable: false,
		},
		{
			name:        "hold counts from the press, not from start",
			hold:        3 * time.Second,
			steps:       []step{{10 * time.Second, true}, {10*time.Second + window, true}, {12 * time.Second, true}},
			wantChanges: 1, wantHolds: 0, wantStable: true,
		},
		{
			name:        "level already active at start is not a hold",
			start:       true,
			hold:        3 * time.Second,
			steps:       []step{{5 * time.Second, true}},
			wantChanges: 0, wantHolds: 0, wantStable: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t0 := time.Unix(1000, 0)
			d := newDebouncer(window, tt.hold, tt.start, t0)
			changes, holds := 0, 0
			for _, s := range tt.steps {
				c, h := d.sample(s.level, t0.Add(s.at))
				if c {
					changes++
				}
				if h {
					holds++
				}
			}
			if changes != tt.wantChanges || holds != tt.wantHolds || d.stable != tt.wantStable {
				t.Errorf("changes=%d holds=%d stable=%v, want %d %d %v", changes, holds, d.stable, tt.wantChanges, tt.wantHolds, tt.wantStable)
			}
		})
	}
}

func TestDebouncerWait(t *testing.T) {
	t0 := time.Unix(1000, 0)
	d := newDebouncer(30*time.Millisecond, 3*time.Second, false, t0)
	if got := d.wait(t0); got != idlePoll {
		t.Errorf("idle wait = %v, want %v", got, idlePoll)
	}
	d.sample(true, t0)
	if got := d.wait(t0.Add(10 * time.Millisecond)); got != 20*time.Millisecond {
		t.Errorf("wait during bounce = %v, want the rest of the window (20ms)", got)
	}
	d.sample(true, t0.Add(30*time.Millisecond))
	if got := d.wait(t0.Add(1 * time.Second)); got != 2*time.Second {
		t.Errorf("wait while held = %v, want the rest of the hold (2s)", got)
	}
	if got := d.wait(t0.Add(time.Hour)); got != time.Millisecond {
		t.Errorf("overdue wait = %v, want 1ms (never zero, never negative)", got)
	}
}
