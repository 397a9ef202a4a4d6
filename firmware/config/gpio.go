package config

import "time"

// GPIO maps buttons and LEDs to pins; a pin name "" disables that input or output. hw/gpio runs
// it (firmware/ does not import hw/; cmd/deskphone's tests check the defaults agree).
type GPIO struct {
	Enabled    bool     `toml:"enabled"`
	Debounce   Duration `toml:"debounce"`
	Hook       Input    `toml:"hook"`
	Answer     Input    `toml:"answer"`
	Hangup     Input    `toml:"hangup"`
	Pair       Input    `toml:"pair"`
	Redial     Input    `toml:"redial"`
	SpeedDial  Input    `toml:"speed_dial"`
	RingLED    Output   `toml:"ring_led"`
	StatusLED  Output   `toml:"status_led"`
	MessageLED Output   `toml:"message_led"`
	Ringer     Output   `toml:"ringer"`
}

// Input is one button or switch.
type Input struct {
	Pin       string `toml:"pin"`        // line name ("GPIO17") as the kernel names it
	Pull      string `toml:"pull"`       // up | down | none
	ActiveLow bool   `toml:"active_low"` // true for a switch to ground with a pull-up
}

// Output is one LED or relay.
type Output struct {
	Pin       string `toml:"pin"`
	ActiveLow bool   `toml:"active_low"`
}

func defaultGPIO() GPIO { return GPIO{Debounce: Duration{30 * time.Millisecond}} }

func (g GPIO) validate(c *checker) {
	if g.Debounce.Duration < 0 || g.Debounce.Duration > time.Second {
		c.bad("gpio.debounce", "must be between 0 and 1s")
	}
	for _, in := range []struct {
		name string
		in   Input
	}{{"hook", g.Hook}, {"answer", g.Answer}, {"hangup", g.Hangup}, {"pair", g.Pair}, {"redial", g.Redial}, {"speed_dial", g.SpeedDial}} {
		switch in.in.Pull {
		case "", "up", "down", "none":
		default:
			c.bad("gpio."+in.name+".pull", "must be up, down or none (got %q)", in.in.Pull)
		}
	}
}
