// Package config reads deskphone.toml, fills in defaults and reports every problem with the line it
// is on, so `deskphone check` can tell a user exactly what to fix.
//
// Each [section] is one type in its own file (registrar.go, voicemail.go, phone.go, audio.go,
// web.go, provisioning.go, gpio.go, network.go) with its defaults and its validate method, the way each
// CoreDNS plugin parses its own block. A section's defaults come from the package that runs it
// where that package has defaults of its own (registrar.DefaultConfig, media.DefaultConfig,
// provisioning.DefaultConfig), so each value is written once; File composes the sections.
package config

import (
	"strings"
	"time"
)

// File is the whole deskphone.toml. Durations are written as TOML strings such as "60s" or "5m".
type File struct {
	// DataDir holds state: bindings, generated accounts, paired phones, call log.
	DataDir string `toml:"data_dir"`
	// Timezone is an IANA zone name ("Europe/Paris"): the Pi's clock and the Alcatel's DST string.
	Timezone string `toml:"timezone"`
	// GCPercent is the Go garbage collector's GOGC: how far the heap grows past what is live
	// before a collection. The service's live heap is a few MiB, so a high value trades a little
	// memory for much less collection work per SIP message (docs/registrar.md, Performance).
	GCPercent int `toml:"gc_percent"`
	// MemoryLimitMB is the heap size in MiB past which the collector runs whatever GCPercent
	// says, so a high GCPercent can never take the Pi's memory.
	MemoryLimitMB int `toml:"memory_limit_mb"`

	Registrar    Registrar    `toml:"registrar"`
	Voicemail    Voicemail    `toml:"voicemail"`
	Phone        Phone        `toml:"phone"`
	Audio        Audio        `toml:"audio"`
	Web          Web          `toml:"web"`
	Provisioning Provisioning `toml:"provisioning"`
	GPIO         GPIO         `toml:"gpio"`
	Network      Network      `toml:"network"`
}

// Default is the configuration of a Pi that boots with no config file: registrar and phone
// (extension 5002, the seed's numbering), Alcatel provisioning with a pairing button, web on :80.
func Default() *File {
	return &File{
		DataDir:       "/data/deskphone",
		Timezone:      "Europe/Paris",
		GCPercent:     400,
		MemoryLimitMB: 256,
		Registrar:     defaultRegistrar(),
		Voicemail:     defaultVoicemail(),
		Phone:         defaultPhone(),
		Audio:         defaultAudio(),
		Web:           defaultWeb(),
		Provisioning:  defaultProvisioning(),
		GPIO:          defaultGPIO(),
		Network:       defaultNetwork(),
	}
}

// validate checks the top-level settings, then each section in file order.
func (f *File) validate(c *checker) {
	if strings.TrimSpace(f.DataDir) == "" {
		c.bad("data_dir", "must name a folder for state (bindings, accounts, call log)")
	}
	if _, err := time.LoadLocation(f.Timezone); err != nil || f.Timezone == "" {
		c.bad("timezone", "%q is not an IANA time zone name such as \"Europe/Paris\"", f.Timezone)
	}
	if f.GCPercent < 50 || f.GCPercent > 2000 {
		c.bad("gc_percent", "%d is out of range: use 50 to 2000 (Go's own default is 100; 400 is deskphone's)", f.GCPercent)
	}
	if f.MemoryLimitMB < 64 || f.MemoryLimitMB > 768 {
		c.bad("memory_limit_mb", "%d is out of range: use 64 to 768 (the Pi has 1024 MiB in all); 256 is the default", f.MemoryLimitMB)
	}
	f.Registrar.validate(c)
	f.Voicemail.validate(c, f.Registrar)
	f.Phone.validate(c, f.Registrar)
	f.Audio.validate(c)
	f.Web.validate(c)
	f.Provisioning.validate(c, f.Registrar)
	f.GPIO.validate(c)
	f.Network.validate(c)
}

// Duration is a time.Duration written as a TOML string ("60s").
type Duration struct{ time.Duration }

// UnmarshalText parses "60s", "5m", "1h30m".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back as a string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// Realm is the registrar's digest realm.
func (f *File) Realm() string { return f.Registrar.Realm }
