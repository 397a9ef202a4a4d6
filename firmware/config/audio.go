package config

// Audio selects the handset's audio backend (hw/audio, which firmware/ does not import: its
// defaults live here).
type Audio struct {
	Backend       string `toml:"backend"`        // alsa | file | null
	Input         string `toml:"input"`          // file backend: WAV played as the microphone (loops)
	Output        string `toml:"output"`         // file backend: WAV of everything the speaker plays
	Playback      string `toml:"playback"`       // alsa: device name; "" = first USB card, else default
	Capture       string `toml:"capture"`        // alsa: device name
	Ringer        string `toml:"ringer"`         // alsa: separate device for the ringer; "" = playback
	SpeakerVolume int    `toml:"speaker_volume"` // 0–100
	RingerVolume  int    `toml:"ringer_volume"`  // 0–100
	MicGain       int    `toml:"mic_gain"`       // 0–100
}

func defaultAudio() Audio {
	return Audio{Backend: "alsa", SpeakerVolume: 80, RingerVolume: 80, MicGain: 80}
}

func (a Audio) validate(c *checker) {
	switch a.Backend {
	case "alsa", "null":
	case "file":
		if a.Input == "" && a.Output == "" {
			c.bad("audio.input", "the file backend needs input and/or output WAV paths")
		}
	default:
		c.bad("audio.backend", "must be alsa, file or null (got %q)", a.Backend)
	}
	c.percent("audio.speaker_volume", a.SpeakerVolume)
	c.percent("audio.ringer_volume", a.RingerVolume)
	c.percent("audio.mic_gain", a.MicGain)
}
