package config

import "time"

// Voicemail is the built-in voicemail: every account of the registrar has a mailbox.
type Voicemail struct {
	Enabled    bool     `toml:"enabled"`
	NoAnswer   Duration `toml:"no_answer"`   // ring time before an unanswered call goes to the mailbox (20s)
	MaxMessage Duration `toml:"max_message"` // longest message (120s)
	Silence    Duration `toml:"silence"`     // a message ends after this much silence (8s)
	QuotaMB    int      `toml:"quota_mb"`    // space for all mailboxes together, MiB (64)
}

func defaultVoicemail() Voicemail {
	return Voicemail{Enabled: false, NoAnswer: Duration{20 * time.Second}, MaxMessage: Duration{120 * time.Second},
		Silence: Duration{8 * time.Second}, QuotaMB: 64}
}

func (v Voicemail) validate(bad func(key, format string, a ...any), registrar bool) {
	if !v.Enabled {
		return
	}
	if !registrar {
		bad("voicemail.enabled", "voicemail needs the built-in registrar ([registrar] enabled = true)")
	}
	if v.NoAnswer.Duration < time.Second || v.NoAnswer.Duration > 10*time.Minute {
		bad("voicemail.no_answer", "must be between 1s and 10m")
	}
	if v.MaxMessage.Duration < 5*time.Second || v.MaxMessage.Duration > time.Hour {
		bad("voicemail.max_message", "must be between 5s and 1h")
	}
	if v.Silence.Duration < time.Second || v.Silence.Duration > time.Minute {
		bad("voicemail.silence", "must be between 1s and 1m")
	}
	if v.QuotaMB < 1 || v.QuotaMB > 1<<20 {
		bad("voicemail.quota_mb", "must be at least 1 (MiB)")
	}
}
