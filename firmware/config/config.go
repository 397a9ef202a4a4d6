// Package config reads deskphone.toml, fills in defaults and reports every problem with the line it
// is on, so `deskphone check` can tell a user exactly what to fix.
package config

import "time"

// File is the whole deskphone.toml. Durations are written as TOML strings such as "60s" or "5m".
type File struct {
	// DataDir holds state: bindings, generated accounts, paired phones, call log.
	DataDir string `toml:"data_dir"`
	// Timezone is an IANA zone name ("Europe/Paris"): the Pi's clock and the Alcatel's DST string.
	Timezone string `toml:"timezone"`

	Registrar    Registrar    `toml:"registrar"`
	Voicemail    Voicemail    `toml:"voicemail"`
	Phone        Phone        `toml:"phone"`
	Audio        Audio        `toml:"audio"`
	Web          Web          `toml:"web"`
	Provisioning Provisioning `toml:"provisioning"`
	GPIO         GPIO         `toml:"gpio"`
	Network      Network      `toml:"network"`
}

// Registrar is the built-in SIP registrar and proxy.
type Registrar struct {
	Enabled bool   `toml:"enabled"`
	Listen  string `toml:"listen"` // UDP and TCP, "0.0.0.0:5060"
	Realm   string `toml:"realm"`  // digest realm
	// Domains the registrar owns besides its IP addresses, its hostname and the realm.
	Domains []string `toml:"domains"`

	DefaultExpires  Duration `toml:"default_expires"`  // when the phone asks for none (3600s)
	MinExpires      Duration `toml:"min_expires"`      // shorter requests get 423 (60s)
	MaxExpires      Duration `toml:"max_expires"`      // longer requests are cut (7200s)
	MaxContacts     int      `toml:"max_contacts"`     // per account; the oldest is replaced (5)
	QualifyInterval Duration `toml:"qualify_interval"` // OPTIONS to each binding; 0 = off (60s)
	RingTimeout     Duration `toml:"ring_timeout"`     // unanswered call → 480 (30s)
	NonceLifetime   Duration `toml:"nonce_lifetime"`   // digest nonce; older → stale=true (300s)

	// Abuse protection: a source is banned for BanTime after AuthFailures failed authentications
	// within AuthWindow, or more than FloodRequests requests within FloodWindow.
	AuthFailures  int      `toml:"auth_failures"`  // 10
	AuthWindow    Duration `toml:"auth_window"`    // 60s
	FloodRequests int      `toml:"flood_requests"` // 16
	FloodWindow   Duration `toml:"flood_window"`   // 2s
	BanTime       Duration `toml:"ban_time"`       // 300s
	// Trusted sources (CIDR) are never banned; they still authenticate.
	NeverBan []string `toml:"never_ban"`

	Accounts []Account `toml:"accounts"`
}

// Account is one [[registrar.accounts]] entry.
type Account struct {
	Extension   string `toml:"extension"`
	Username    string `toml:"username"`
	Password    string `toml:"password"`
	DisplayName string `toml:"display_name"`
	MAC         string `toml:"mac"` // an Alcatel phone that gets this account when it asks
}

// Phone is the Pi's own SIP user agent.
type Phone struct {
	Enabled         bool     `toml:"enabled"`
	Registrar       string   `toml:"registrar"`        // host:port; the built-in one or Asterisk/Kamailio/FreeSWITCH
	BackupRegistrar string   `toml:"backup_registrar"` // tried when the first one does not answer
	Listen          string   `toml:"listen"`           // the phone's own SIP address, "0.0.0.0:5062"
	Extension       string   `toml:"extension"`
	Username        string   `toml:"username"`
	Password        string   `toml:"password"` // empty with the built-in registrar: generated and stored
	DisplayName     string   `toml:"display_name"`
	Realm           string   `toml:"realm"`             // digest realm credentials may be sent to; empty = the registrar's first challenge
	Transport       string   `toml:"transport"`         // udp | tcp
	Expires         Duration `toml:"expires"`           // asked registration time (3600s)
	ToneCountry     string   `toml:"tone_country"`      // fr | us | uk | de
	Codecs          []string `toml:"codecs"`            // order of preference; default PCMA,PCMU in Europe
	DTMFPayloadType int      `toml:"dtmf_payload_type"` // offered telephone-event PT (96); answers use the peer's
	CallWaiting     bool     `toml:"call_waiting"`
	DND             bool     `toml:"dnd"`
	RTPPortMin      int      `toml:"rtp_port_min"` // 16384
	RTPPortMax      int      `toml:"rtp_port_max"` // 16484
	JitterMin       Duration `toml:"jitter_min"`   // 20ms
	JitterMax       Duration `toml:"jitter_max"`   // 120ms
	AutoAnswer      bool     `toml:"auto_answer"`
	SpeedDial       []string `toml:"speed_dial"` // numbers for the speed-dial button(s)
}

// Audio selects the handset's audio backend.
type Audio struct {
	Backend       string `toml:"backend"`        // alsa | file | null
	Input         string `toml:"input"`          // file backend: WAV played as the microphone (loops)
	Output        string `toml:"output"`         // file backend: WAV of everything the speaker plays
	Playback      string `toml:"playback"`       // alsa: device name; "" = first USB card, else default
	Capture       string `toml:"capture"`        // alsa: device name
	Ringer        string `toml:"ringer"`         // alsa: separate device for the ringer; "" = playback
	SpeakerVolume int    `toml:"speaker_volume"` // 0–100 (80)
	RingerVolume  int    `toml:"ringer_volume"`  // 0–100 (80)
	MicGain       int    `toml:"mic_gain"`       // 0–100 (80)
}

// Web is the HTTP API (and later the web page).
type Web struct {
	Listen string `toml:"listen"` // "0.0.0.0:80"
	// Token is required from hosts other than loopback (Authorization: Bearer <token>).
	// Empty: generated on first start and stored in data_dir.
	Token string `toml:"token"`
}

// Provisioning serves the Alcatel IP Touch configuration files.
type Provisioning struct {
	Enabled        bool   `toml:"enabled"`
	Listen         string `toml:"listen"`  // "" or equal to [web] listen: shares the web listener
	Pairing        string `toml:"pairing"` // button | open | off
	FirmwareDir    string `toml:"firmware_dir"`
	FirstExtension string `toml:"first_extension"`
	NTPServer      string `toml:"ntp_server"`   // "" = the Pi itself
	PollMinutes    int    `toml:"poll_minutes"` // config_polling_timer for the phones (60)
}

// GPIO maps buttons and LEDs to pins; a pin name "" disables that input or output.
type GPIO struct {
	Enabled    bool     `toml:"enabled"`
	Debounce   Duration `toml:"debounce"` // 30ms
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

// Network is applied by the image's init scripts (the service only reports it).
type Network struct {
	Mode     string   `toml:"mode"`    // dhcp | static
	Address  string   `toml:"address"` // static: "192.168.1.82/24"
	Gateway  string   `toml:"gateway"`
	DNS      []string `toml:"dns"`
	NTP      []string `toml:"ntp"`
	WifiSSID string   `toml:"wifi_ssid"`
	WifiPSK  string   `toml:"wifi_psk"`
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
