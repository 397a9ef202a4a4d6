package gpio

import "time"

// Pattern is how an output lights over time.
type Pattern int

// Patterns for LEDs and the ringer output.
const (
	Off         Pattern = iota // dark
	On                         // steady: registered (status LED), message waiting (message LED)
	SlowBlink                  // 1 s on, 1 s off: not registered
	FastBlink                  // 125 ms on, 125 ms off: error
	RingBlink                  // 250 ms on, 250 ms off: a call is ringing
	RingCadence                // 1 s on, 2 s off: the ringer relay or buzzer while ringing
)

var patternNames = [...]string{"off", "on", "slow-blink", "fast-blink", "ring-blink", "ring-cadence"}

// String is the pattern's name in logs ("slow-blink").
func (p Pattern) String() string {
	if p < 0 || int(p) >= len(patternNames) {
		return "unknown"
	}
	return patternNames[p]
}

// timing is the on and off time of a blinking pattern; both zero for Off and On.
func (p Pattern) timing() (on, off time.Duration) {
	switch p {
	case SlowBlink:
		return time.Second, time.Second
	case FastBlink:
		return 125 * time.Millisecond, 125 * time.Millisecond
	case RingBlink:
		return 250 * time.Millisecond, 250 * time.Millisecond
	case RingCadence:
		return time.Second, 2 * time.Second
	}
	return 0, 0
}

// level is whether the output is lit at elapsed time since the pattern was set. Blinking
// patterns start lit, so a change is visible at once.
func (p Pattern) level(elapsed time.Duration) bool {
	on, off := p.timing()
	if on == 0 {
		return p == On
	}
	if elapsed < 0 {
		elapsed = 0
	}
	return elapsed%(on+off) < on
}

// untilChange is the time from elapsed to the next change of level; 0 if the level never changes.
func (p Pattern) untilChange(elapsed time.Duration) time.Duration {
	on, off := p.timing()
	if on == 0 {
		return 0
	}
	if elapsed < 0 {
		elapsed = 0
	}
	phase := elapsed % (on + off)
	if phase < on {
		return on - phase
	}
	return on + off - phase
}
