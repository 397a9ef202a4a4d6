package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/deskphone/deskphone/firmware/accounts"
)

// Problem is one thing wrong in a config file, with the line it is on (0 when the key is absent).
type Problem struct {
	Line int
	Key  string
	Msg  string
}

// String is the problem as `deskphone check` prints it: "line 12: web.listen: …".
func (p Problem) String() string {
	switch {
	case p.Line > 0 && p.Key != "":
		return fmt.Sprintf("line %d: %s: %s", p.Line, p.Key, p.Msg)
	case p.Line > 0:
		return fmt.Sprintf("line %d: %s", p.Line, p.Msg)
	case p.Key != "":
		return fmt.Sprintf("%s: %s", p.Key, p.Msg)
	}
	return p.Msg
}

// Problems is the error returned when a config file has mistakes; it lists all of them.
type Problems struct {
	File string
	List []Problem
}

// Error lists every problem, one a line, each prefixed with the file name.
func (e *Problems) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s has %d problem(s):", e.File, len(e.List))
	for _, p := range e.List {
		b.WriteString("\n  ")
		b.WriteString(e.File)
		b.WriteString(":")
		b.WriteString(p.String())
	}
	return b.String()
}

// ErrInvalid is wrapped by every validation failure, so callers can tell a bad file from a missing one.
var ErrInvalid = errors.New("invalid configuration")

// Unwrap makes errors.Is(err, ErrInvalid) hold for every Problems.
func (e *Problems) Unwrap() error { return ErrInvalid }

// Load reads and checks the file at path. A missing file is reported with os.ErrNotExist wrapped.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, b)
}

// Parse decodes data (named name in messages), applies defaults and validates everything. On any
// problem it returns a *Problems error listing each one with its line.
func Parse(name string, data []byte) (*File, error) {
	f := Default()
	lines := locate(data)
	md, err := toml.Decode(string(data), f)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			msg := pe.Message
			if msg == "" {
				msg = pe.Error()
			}
			line := pe.Position.Line
			if strings.Contains(msg, `'\n'`) && line > 1 {
				line-- // the parser stopped at the end of the line that is wrong
			}
			return nil, &Problems{File: name, List: []Problem{{Line: line, Key: pe.LastKey, Msg: msg}}}
		}
		if m := decodeErrRE.FindStringSubmatch(err.Error()); m != nil {
			n, _ := strconv.Atoi(m[1])
			return nil, &Problems{File: name, List: []Problem{{Line: n, Key: m[2], Msg: m[3]}}}
		}
		return nil, &Problems{File: name, List: []Problem{{Msg: err.Error()}}}
	}
	var probs []Problem
	for _, k := range md.Undecoded() {
		key := k.String()
		probs = append(probs, Problem{Line: lines.line(key), Key: key, Msg: "unknown setting (misspelt, or in the wrong [section]?)"})
	}
	probs = append(probs, f.validate(lines)...)
	if len(probs) > 0 {
		sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
		return nil, &Problems{File: name, List: probs}
	}
	return f, nil
}

// Default is the configuration of a Pi that boots with no config file: registrar and phone
// (extension 5002, the seed's numbering), Alcatel provisioning with a pairing button, web on :80.
func Default() *File {
	return &File{
		DataDir:  "/data/deskphone",
		Timezone: "Europe/Paris",
		Registrar: Registrar{
			Enabled:         true,
			Listen:          "0.0.0.0:5060",
			Realm:           "deskphone",
			DefaultExpires:  Duration{3600 * time.Second},
			MinExpires:      Duration{60 * time.Second},
			MaxExpires:      Duration{7200 * time.Second},
			MaxContacts:     5,
			QualifyInterval: Duration{60 * time.Second},
			RingTimeout:     Duration{30 * time.Second},
			NonceLifetime:   Duration{300 * time.Second},
			AuthFailures:    10,
			AuthWindow:      Duration{60 * time.Second},
			FloodRequests:   16,
			FloodWindow:     Duration{2 * time.Second},
			BanTime:         Duration{300 * time.Second},
		},
		Voicemail: defaultVoicemail(),
		Phone: Phone{
			Enabled:         true,
			Registrar:       "127.0.0.1:5060",
			Listen:          "0.0.0.0:5062",
			Extension:       "5002",
			Username:        "rpi",
			DisplayName:     "Raspberry Pi",
			Transport:       "udp",
			Expires:         Duration{3600 * time.Second},
			ToneCountry:     "fr",
			DTMFPayloadType: 96,
			CallWaiting:     true,
			RTPPortMin:      16384,
			RTPPortMax:      16482,
			JitterMin:       Duration{20 * time.Millisecond},
			JitterMax:       Duration{120 * time.Millisecond},
		},
		Audio: Audio{Backend: "alsa", SpeakerVolume: 80, RingerVolume: 80, MicGain: 80},
		Web:   Web{Listen: "0.0.0.0:80"},
		Provisioning: Provisioning{
			Enabled:        true,
			Pairing:        "button",
			FirmwareDir:    "/boot/alcatel",
			FirstExtension: "5001",
			PollMinutes:    60,
		},
		GPIO:    GPIO{Debounce: Duration{30 * time.Millisecond}},
		Network: Network{Mode: "dhcp"},
	}
}

// EuropeanToneCountries prefer A-law (PCMA) first.
func EuropeanToneCountry(c string) bool {
	switch c {
	case "fr", "uk", "de", "it", "es", "nl", "be", "ch", "at", "pt", "se", "no", "dk", "fi", "pl", "ie":
		return true
	}
	return false
}

// CodecOrder returns the configured codec order, or the default for the tone country.
func (p Phone) CodecOrder() []string {
	if len(p.Codecs) > 0 {
		out := make([]string, len(p.Codecs))
		for i, c := range p.Codecs {
			out[i] = strings.ToUpper(c)
		}
		return out
	}
	if EuropeanToneCountry(p.ToneCountry) {
		return []string{"PCMA", "PCMU"}
	}
	return []string{"PCMU", "PCMA"}
}

var (
	extensionRE = regexp.MustCompile(`^[0-9]{1,15}$`)
	usernameRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	realmRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// MinPasswordLength is the shortest password `check` accepts for a registrar account.
const MinPasswordLength = 8

func (f *File) validate(l lineIndex) []Problem {
	var ps []Problem
	bad := func(key, format string, a ...any) {
		ps = append(ps, Problem{Line: l.line(key), Key: key, Msg: fmt.Sprintf(format, a...)})
	}
	if strings.TrimSpace(f.DataDir) == "" {
		bad("data_dir", "must name a folder for state (bindings, accounts, call log)")
	}
	if _, err := time.LoadLocation(f.Timezone); err != nil || f.Timezone == "" {
		bad("timezone", "%q is not an IANA time zone name such as \"Europe/Paris\"", f.Timezone)
	}

	r := f.Registrar
	checkListen(bad, "registrar.listen", r.Listen, r.Enabled)
	if !realmRE.MatchString(r.Realm) {
		bad("registrar.realm", "must be 1-64 letters, digits, '.', '_' or '-' (got %q)", r.Realm)
	}
	for i, d := range r.Domains {
		if !realmRE.MatchString(d) {
			bad(fmt.Sprintf("registrar.domains.%d", i), "%q is not a host name", d)
		}
	}
	if r.MinExpires.Duration < time.Second {
		bad("registrar.min_expires", "must be at least 1s")
	}
	if r.MaxExpires.Duration < r.MinExpires.Duration {
		bad("registrar.max_expires", "must not be shorter than min_expires (%s)", r.MinExpires.Duration)
	}
	if r.DefaultExpires.Duration < r.MinExpires.Duration || r.DefaultExpires.Duration > r.MaxExpires.Duration {
		bad("registrar.default_expires", "must lie between min_expires and max_expires")
	}
	if r.MaxContacts < 1 || r.MaxContacts > 100 {
		bad("registrar.max_contacts", "must be between 1 and 100")
	}
	if r.QualifyInterval.Duration < 0 || (r.QualifyInterval.Duration > 0 && r.QualifyInterval.Duration < 5*time.Second) {
		bad("registrar.qualify_interval", "must be 0 (off) or at least 5s")
	}
	if r.RingTimeout.Duration < time.Second || r.RingTimeout.Duration > 10*time.Minute {
		bad("registrar.ring_timeout", "must be between 1s and 10m")
	}
	if r.NonceLifetime.Duration < 5*time.Second {
		bad("registrar.nonce_lifetime", "must be at least 5s")
	}
	for key, v := range map[string]int{"registrar.auth_failures": r.AuthFailures, "registrar.flood_requests": r.FloodRequests} {
		if v < 1 {
			bad(key, "must be at least 1")
		}
	}
	for key, v := range map[string]Duration{"registrar.auth_window": r.AuthWindow, "registrar.flood_window": r.FloodWindow, "registrar.ban_time": r.BanTime} {
		if v.Duration <= 0 {
			bad(key, "must be a positive duration such as \"60s\"")
		}
	}
	for i, c := range r.NeverBan {
		if _, err := netip.ParsePrefix(c); err != nil {
			if _, err2 := netip.ParseAddr(c); err2 != nil {
				bad(fmt.Sprintf("registrar.never_ban.%d", i), "%q is not an address or CIDR range", c)
			}
		}
	}
	seen := map[string]string{}
	for i, a := range r.Accounts {
		p := fmt.Sprintf("registrar.accounts.%d", i)
		if !extensionRE.MatchString(a.Extension) {
			bad(p+".extension", "must be 1-15 digits (got %q)", a.Extension)
		}
		if !usernameRE.MatchString(a.Username) {
			bad(p+".username", "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (got %q)", a.Username)
		}
		switch {
		case a.Password == "":
			bad(p+".password", "is required (make one with: deskphone password)")
		case len(a.Password) < MinPasswordLength:
			bad(p+".password", "is too short: use at least %d characters (make one with: deskphone password)", MinPasswordLength)
		case hasControl(a.Password):
			bad(p+".password", "must not contain control characters")
		}
		if hasControl(a.DisplayName) || strings.ContainsAny(a.DisplayName, `"\`) {
			bad(p+".display_name", "must not contain quotes, backslashes or control characters")
		}
		if a.MAC != "" && accounts.NormalizeMAC(a.MAC) == "" {
			bad(p+".mac", "%q is not a MAC address (12 hex digits)", a.MAC)
		}
		for _, id := range []string{a.Extension, a.Username} {
			if id == "" {
				continue
			}
			if prev, dup := seen[id]; dup {
				bad(p, "%q is already used by %s", id, prev)
			}
			seen[id] = p
		}
	}

	f.Voicemail.validate(bad, r.Enabled)

	ph := f.Phone
	if ph.Enabled {
		if _, _, err := net.SplitHostPort(ph.Registrar); err != nil || ph.Registrar == "" {
			bad("phone.registrar", "must be host:port, such as \"127.0.0.1:5060\" (got %q)", ph.Registrar)
		}
		if ph.BackupRegistrar != "" {
			if _, _, err := net.SplitHostPort(ph.BackupRegistrar); err != nil {
				bad("phone.backup_registrar", "must be host:port (got %q)", ph.BackupRegistrar)
			}
		}
		checkListen(bad, "phone.listen", ph.Listen, true)
		if r.Enabled && ph.Listen != "" && r.Listen != "" && samePort(ph.Listen, r.Listen) {
			bad("phone.listen", "uses the same port as registrar.listen; give the phone its own port (5062)")
		}
		if !extensionRE.MatchString(ph.Extension) {
			bad("phone.extension", "must be 1-15 digits (got %q)", ph.Extension)
		}
		if !usernameRE.MatchString(ph.Username) {
			bad("phone.username", "must be letters, digits, '.', '_' or '-' (got %q)", ph.Username)
		}
		if ph.Password == "" && !r.Enabled {
			bad("phone.password", "is required when the phone registers to an external registrar")
		}
		if hasControl(ph.Password) {
			bad("phone.password", "must not contain control characters")
		}
		if hasControl(ph.DisplayName) || strings.ContainsAny(ph.DisplayName, `"\`) {
			bad("phone.display_name", "must not contain quotes, backslashes or control characters")
		}
		if ph.Transport != "udp" && ph.Transport != "tcp" {
			bad("phone.transport", "must be \"udp\" or \"tcp\" (got %q)", ph.Transport)
		}
		switch ph.ToneCountry {
		case "fr", "us", "uk", "de":
		default:
			bad("phone.tone_country", "must be one of fr, us, uk, de (got %q)", ph.ToneCountry)
		}
		for i, c := range ph.Codecs {
			switch strings.ToUpper(c) {
			case "PCMA", "PCMU":
			default:
				bad(fmt.Sprintf("phone.codecs.%d", i), "unsupported codec %q (PCMA and PCMU are supported)", c)
			}
		}
		if ph.DTMFPayloadType < 96 || ph.DTMFPayloadType > 127 {
			bad("phone.dtmf_payload_type", "must be a dynamic payload type, 96-127 (got %d)", ph.DTMFPayloadType)
		}
		if ph.RTPPortMin < 1024 || ph.RTPPortMax > 65534 || ph.RTPPortMax-ph.RTPPortMin < 4 {
			bad("phone.rtp_port_min", "RTP ports must lie within 1024-65534 with room for at least two calls")
		}
		if ph.JitterMin.Duration < 0 || ph.JitterMax.Duration < ph.JitterMin.Duration || ph.JitterMax.Duration > time.Second {
			bad("phone.jitter_max", "jitter_min must be ≥ 0 and ≤ jitter_max, jitter_max ≤ 1s")
		}
		if ph.Expires.Duration < 30*time.Second {
			bad("phone.expires", "must be at least 30s")
		}
		for i, n := range ph.SpeedDial {
			if !dialRE.MatchString(n) {
				bad(fmt.Sprintf("phone.speed_dial.%d", i), "%q is not a number or SIP user", n)
			}
		}
	}

	switch f.Audio.Backend {
	case "alsa", "null":
	case "file":
		if f.Audio.Input == "" && f.Audio.Output == "" {
			bad("audio.input", "the file backend needs input and/or output WAV paths")
		}
	default:
		bad("audio.backend", "must be alsa, file or null (got %q)", f.Audio.Backend)
	}
	for key, v := range map[string]int{"audio.speaker_volume": f.Audio.SpeakerVolume, "audio.ringer_volume": f.Audio.RingerVolume, "audio.mic_gain": f.Audio.MicGain} {
		if v < 0 || v > 100 {
			bad(key, "must be 0-100 (got %d)", v)
		}
	}

	checkListen(bad, "web.listen", f.Web.Listen, true)
	if f.Web.Token != "" && (len(f.Web.Token) < 16 || hasControl(f.Web.Token)) {
		bad("web.token", "must be at least 16 printable characters (or empty to generate one)")
	}

	pv := f.Provisioning
	if pv.Enabled {
		if pv.Listen != "" {
			checkListen(bad, "provisioning.listen", pv.Listen, true)
		}
		switch pv.Pairing {
		case "button", "open", "off":
		default:
			bad("provisioning.pairing", "must be button, open or off (got %q)", pv.Pairing)
		}
		if !extensionRE.MatchString(pv.FirstExtension) {
			bad("provisioning.first_extension", "must be digits such as \"5001\" (got %q)", pv.FirstExtension)
		}
		if pv.PollMinutes < 5 || pv.PollMinutes > 65535 {
			bad("provisioning.poll_minutes", "must be 5-65535 (the Alcatel's range)")
		}
		if !r.Enabled {
			bad("provisioning.enabled", "Alcatel provisioning needs the built-in registrar ([registrar] enabled = true)")
		}
	}

	g := f.GPIO
	if g.Debounce.Duration < 0 || g.Debounce.Duration > time.Second {
		bad("gpio.debounce", "must be between 0 and 1s")
	}
	for name, in := range map[string]Input{"hook": g.Hook, "answer": g.Answer, "hangup": g.Hangup, "pair": g.Pair, "redial": g.Redial, "speed_dial": g.SpeedDial} {
		switch in.Pull {
		case "", "up", "down", "none":
		default:
			bad("gpio."+name+".pull", "must be up, down or none (got %q)", in.Pull)
		}
	}

	switch f.Network.Mode {
	case "dhcp":
	case "static":
		if _, err := netip.ParsePrefix(f.Network.Address); err != nil {
			bad("network.address", "static mode needs an address with prefix such as \"192.168.1.82/24\"")
		}
	default:
		bad("network.mode", "must be dhcp or static (got %q)", f.Network.Mode)
	}
	for i, d := range f.Network.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			bad(fmt.Sprintf("network.dns.%d", i), "%q is not an IP address", d)
		}
	}
	if hasControl(f.Network.WifiSSID) || hasControl(f.Network.WifiPSK) || strings.ContainsAny(f.Network.WifiSSID+f.Network.WifiPSK, `"\`) {
		bad("network.wifi_ssid", "Wi-Fi name and key must not contain quotes, backslashes or control characters")
	}
	if f.Network.WifiPSK != "" && (len(f.Network.WifiPSK) < 8 || len(f.Network.WifiPSK) > 63) {
		bad("network.wifi_psk", "a WPA key has 8-63 characters")
	}
	return ps
}

// decodeErrRE reads the TOML library's type errors: `toml: line 3 (last key "a.b"): incompatible types: …`.
var decodeErrRE = regexp.MustCompile(`line (\d+) \(last key "([^"]*)"\): (.*)`)

var dialRE = regexp.MustCompile(`^[A-Za-z0-9*#+._-]{1,64}$`)

func checkListen(bad func(string, string, ...any), key, v string, required bool) {
	if v == "" && !required {
		return
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		bad(key, "must be address:port such as \"0.0.0.0:5060\" (got %q)", v)
		return
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil && host != "localhost" {
			bad(key, "%q is not an IP address", host)
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad(key, "%q is not a port number", port)
	}
}

func samePort(a, b string) bool {
	_, pa, _ := net.SplitHostPort(a)
	_, pb, _ := net.SplitHostPort(b)
	return pa == pb && pa != "0"
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// Lenient decodes what it can of a file that does not check, for the few settings a service
// needs to report its own broken config (the web listener). It never fails: a file that is not
// even TOML gives the defaults.
func Lenient(data []byte) *File {
	f := Default()
	if _, err := toml.Decode(string(data), f); err != nil {
		return Default()
	}
	return f
}
