package gpio

import (
	"fmt"
	"strings"
	"time"
)

// Pull is the bias the line asks the SoC for.
type Pull string

// Pull values accepted in the configuration.
const (
	PullNone Pull = "none"
	PullUp   Pull = "up"
	PullDown Pull = "down"
)

// InputConfig is one button or switch. An empty Pin disables it.
type InputConfig struct {
	// Pin is the line name as the kernel names it ("GPIO17"), or "gpiochipN:offset".
	Pin  string
	Pull Pull
	// ActiveLow: the input is active (pressed, off-hook) when the line reads low. True for a
	// switch that connects the pin to ground, with a pull-up.
	ActiveLow bool
}

// OutputConfig is one LED, relay or buzzer. An empty Pin disables it.
type OutputConfig struct {
	Pin string
	// ActiveLow: the LED lights when the line is driven low (LED between 3.3 V and the pin).
	ActiveLow bool
}

// Config maps the phone's inputs and outputs to lines.
type Config struct {
	// Debounce is how long a line must stay at a new level before the change counts (30 ms).
	Debounce time.Duration
	// PairHold is how long the pair button must be held to open the pairing window (3 s).
	PairHold time.Duration

	// Hook is active while the handset is lifted (off hook).
	Hook      InputConfig
	Answer    InputConfig
	Hangup    InputConfig
	Pair      InputConfig
	Redial    InputConfig
	SpeedDial InputConfig

	RingLED    OutputConfig
	StatusLED  OutputConfig
	MessageLED OutputConfig
	// Ringer is an optional relay or buzzer; it follows the ring cadence.
	Ringer OutputConfig
}

// DefaultConfig is the wiring documented in hw/README.md for a Raspberry Pi 3 B+: every button
// between its pin and ground with the internal pull-up, every LED from its pin through a resistor
// to ground.
func DefaultConfig() Config {
	in := func(pin string) InputConfig { return InputConfig{Pin: pin, Pull: PullUp, ActiveLow: true} }
	return Config{
		Debounce:   30 * time.Millisecond,
		PairHold:   3 * time.Second,
		Hook:       in("GPIO17"),
		Answer:     in("GPIO27"),
		Hangup:     in("GPIO22"),
		Pair:       in("GPIO23"),
		Redial:     in("GPIO24"),
		SpeedDial:  in("GPIO25"),
		RingLED:    OutputConfig{Pin: "GPIO5"},
		StatusLED:  OutputConfig{Pin: "GPIO6"},
		MessageLED: OutputConfig{Pin: "GPIO13"},
		Ringer:     OutputConfig{Pin: "GPIO26"},
	}
}

// ParsePull reads a pull setting from the configuration file; "" means none.
func ParsePull(s string) (Pull, error) {
	switch p := Pull(strings.ToLower(strings.TrimSpace(s))); p {
	case "", PullNone:
		return PullNone, nil
	case PullUp, PullDown:
		return p, nil
	default:
		return "", fmt.Errorf("pull %q: want up, down or none", s)
	}
}
