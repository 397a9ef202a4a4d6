package gpio

import "time"

// Kind says what happened at a button or switch.
type Kind int

// The events inputs produce. Buttons report the press, not the release.
const (
	KindUnknown Kind = iota // zero value, never sent
	HookOff                 // the handset was lifted
	HookOn                  // the handset was put down
	Answer                  // answer button pressed
	Hangup                  // hang-up button pressed
	Redial                  // redial button pressed
	SpeedDial               // speed-dial button pressed; Event.Slot says which
	Pair                    // pair button held for PairHold
)

var kindNames = [...]string{"unknown", "hook_off", "hook_on", "answer", "hangup", "redial", "speed_dial", "pair"}

// String is the kind's name in logs, in the snake_case of every state name ("hook_off", "speed_dial").
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return "unknown"
	}
	return kindNames[k]
}

// Event is one debounced input change.
type Event struct {
	Kind Kind
	// Slot is the speed-dial slot, 1-based; 0 for other kinds.
	Slot int
	// At is when the level settled (the last edge of a bounce), or when the hold time was reached.
	At time.Time
}
