package config

import (
	"time"

	"github.com/deskphone/deskphone/firmware/voicemail"
)

// Voicemail is the built-in voicemail: every account of the registrar has a mailbox. Its
// defaults are voicemail.DefaultConfig's; it is on wherever the built-in registrar is (a phone
// system without voicemail is a toy), and off with an external registrar.
type Voicemail struct {
	Enabled    bool     `toml:"enabled"`
	NoAnswer   Duration `toml:"no_answer"`   // ring time before an unanswered call goes to the mailbox
	MaxMessage Duration `toml:"max_message"` // longest message
	Silence    Duration `toml:"silence"`     // a message ends after this much silence
	QuotaMB    int      `toml:"quota_mb"`    // space for all mailboxes together, MiB
}

func defaultVoicemail() Voicemail {
	d := voicemail.DefaultConfig()
	return Voicemail{Enabled: true, NoAnswer: Duration{d.NoAnswer}, MaxMessage: Duration{d.MaxMessage},
		Silence: Duration{d.Silence}, QuotaMB: int(d.Quota >> 20)}
}

func (v Voicemail) validate(c *checker, r Registrar) {
	if !v.Enabled {
		return
	}
	if !r.Enabled {
		// The mailboxes belong to the built-in registrar's accounts: off without it, which only
		// needs saying when the file asks for voicemail.
		if c.set == nil || !c.set("voicemail.enabled") {
			return
		}
		c.bad("voicemail.enabled", "voicemail needs the built-in registrar ([registrar] enabled = true)")
	}
	if v.NoAnswer.Duration < time.Second || v.NoAnswer.Duration > 10*time.Minute {
		c.bad("voicemail.no_answer", "must be between 1s and 10m")
	}
	if v.MaxMessage.Duration < 5*time.Second || v.MaxMessage.Duration > time.Hour {
		c.bad("voicemail.max_message", "must be between 5s and 1h")
	}
	if v.Silence.Duration < time.Second || v.Silence.Duration > time.Minute {
		c.bad("voicemail.silence", "must be between 1s and 1m")
	}
	if v.QuotaMB < 1 || v.QuotaMB > 1<<20 {
		c.bad("voicemail.quota_mb", "must be at least 1 (MiB)")
	}
}
