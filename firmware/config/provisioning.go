package config

import "github.com/deskphone/deskphone/provisioning"

// Provisioning serves the Alcatel IP Touch configuration files; its defaults are
// provisioning.DefaultConfig's.
type Provisioning struct {
	Enabled        bool   `toml:"enabled"`
	Listen         string `toml:"listen"`  // "" or equal to [web] listen: shares the web listener
	Pairing        string `toml:"pairing"` // button | open | off
	FirmwareDir    string `toml:"firmware_dir"`
	FirstExtension string `toml:"first_extension"`
	NTPServer      string `toml:"ntp_server"`   // "" = the Pi itself
	PollMinutes    int    `toml:"poll_minutes"` // config_polling_timer for the phones
}

func defaultProvisioning() Provisioning {
	d := provisioning.DefaultConfig()
	return Provisioning{
		Enabled:        true,
		Pairing:        string(d.Pairing),
		FirmwareDir:    d.FirmwareDir,
		FirstExtension: d.FirstExtension,
		PollMinutes:    d.PollMinutes,
	}
}

func (p Provisioning) validate(c *checker, r Registrar) {
	if !p.Enabled {
		return
	}
	if p.Listen != "" {
		c.listen("provisioning.listen", p.Listen, true)
	}
	switch p.Pairing {
	case "button", "open", "off":
	default:
		c.bad("provisioning.pairing", "must be button, open or off (got %q)", p.Pairing)
	}
	if !isExtension(p.FirstExtension) {
		c.bad("provisioning.first_extension", "must be digits such as \"5001\" (got %q)", p.FirstExtension)
	}
	if p.PollMinutes < 5 || p.PollMinutes > 65535 {
		c.bad("provisioning.poll_minutes", "must be 5-65535 (the Alcatel's range)")
	}
	if !r.Enabled {
		c.bad("provisioning.enabled", "Alcatel provisioning needs the built-in registrar ([registrar] enabled = true)")
	}
}
