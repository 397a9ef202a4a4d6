package config

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/deskphone/deskphone/firmware/certs"
	"github.com/deskphone/deskphone/firmware/media"
)

// Phone is the Pi's own SIP user agent. Its media settings (codecs, dtmf_payload_type, RTP ports,
// jitter buffer) take their defaults and checks from media.DefaultConfig and media.Config.Check.
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
	Transport       string   `toml:"transport"`         // udp | tcp | tls
	TLSCA           string   `toml:"tls_ca"`            // with tls: PEM file of the authorities to trust ("" = the system's)
	TLSFingerprint  string   `toml:"tls_fingerprint"`   // with tls: the registrar's pinned certificate (SHA-256)
	SRTP            string   `toml:"srtp"`              // off | optional | mandatory; keys go only over TLS
	Expires         Duration `toml:"expires"`           // asked registration time
	ToneCountry     string   `toml:"tone_country"`      // fr | us | uk | de
	Codecs          []string `toml:"codecs"`            // order of preference; default PCMA,PCMU in Europe
	DTMFPayloadType int      `toml:"dtmf_payload_type"` // offered telephone-event PT; answers use the peer's
	CallWaiting     bool     `toml:"call_waiting"`
	DND             bool     `toml:"dnd"`
	RTPPortMin      int      `toml:"rtp_port_min"`
	RTPPortMax      int      `toml:"rtp_port_max"`
	JitterMin       Duration `toml:"jitter_min"`
	JitterMax       Duration `toml:"jitter_max"`
	RTPTimeout      Duration `toml:"rtp_timeout"` // hang up a call silent this long ("0" = never)
	AutoAnswer      bool     `toml:"auto_answer"`
	SpeedDial       []string `toml:"speed_dial"` // numbers for the speed-dial button(s)
}

func defaultPhone() Phone {
	m := media.DefaultConfig()
	return Phone{
		Enabled:         true,
		Registrar:       "127.0.0.1:5060",
		Listen:          "0.0.0.0:5062",
		Extension:       "5002",
		Username:        "rpi",
		DisplayName:     "Raspberry Pi",
		Transport:       "udp",
		SRTP:            m.SRTP,
		Expires:         Duration{3600 * time.Second},
		ToneCountry:     "fr",
		DTMFPayloadType: m.DTMFPayloadType,
		CallWaiting:     true,
		RTPPortMin:      m.PortMin,
		RTPPortMax:      m.PortMax,
		JitterMin:       Duration{m.JitterMin},
		JitterMax:       Duration{m.JitterMax},
		RTPTimeout:      Duration{m.RTPTimeout},
	}
}

// Media is the media.Config the phone's calls use (LocalIP is set per call).
func (p Phone) Media() media.Config {
	m := media.DefaultConfig()
	m.Codecs = p.CodecOrder()
	m.DTMFPayloadType = p.DTMFPayloadType
	m.PortMin, m.PortMax = p.RTPPortMin, p.RTPPortMax
	m.JitterMin, m.JitterMax = p.JitterMin.Duration, p.JitterMax.Duration
	m.SRTP = p.SRTP
	m.RTPTimeout = p.RTPTimeout.Duration
	return m
}

func (p Phone) validate(c *checker, r Registrar) {
	if !p.Enabled {
		return
	}
	if _, _, err := net.SplitHostPort(p.Registrar); err != nil || p.Registrar == "" {
		c.bad("phone.registrar", "must be host:port, such as \"127.0.0.1:5060\" (got %q)", p.Registrar)
	}
	if p.BackupRegistrar != "" {
		if _, _, err := net.SplitHostPort(p.BackupRegistrar); err != nil {
			c.bad("phone.backup_registrar", "must be host:port (got %q)", p.BackupRegistrar)
		}
	}
	c.listen("phone.listen", p.Listen, true)
	if r.Enabled && p.Listen != "" && r.Listen != "" && samePort(p.Listen, r.Listen) {
		c.bad("phone.listen", "uses the same port as registrar.listen; give the phone its own port (5062)")
	}
	switch {
	case r.Enabled && !isExtension(p.Extension):
		// The phone gets an account on the built-in registrar, where numbers are dialled.
		c.bad("phone.extension", "must be 1-15 digits: it is the phone's number on the built-in registrar (got %q)", p.Extension)
	case !isSIPUser(p.Extension):
		c.bad("phone.extension", "must be a SIP user name such as \"5002\" or \"rpi\" (got %q)", p.Extension)
	}
	if !isSIPUser(p.Username) {
		c.bad("phone.username", "must be a SIP user name: letters, digits and -_.!~*'()&=+$,;?/ or %%XX (got %q)", p.Username)
	}
	if p.Password == "" && !r.Enabled {
		c.bad("phone.password", "is required when the phone registers to an external registrar")
	}
	if hasControl(p.Password) {
		c.bad("phone.password", "must not contain control characters")
	}
	if hasControl(p.DisplayName) || strings.ContainsAny(p.DisplayName, `"\`) {
		c.bad("phone.display_name", "must not contain quotes, backslashes or control characters")
	}
	if p.Transport != "udp" && p.Transport != "tcp" && p.Transport != "tls" {
		c.bad("phone.transport", "must be \"udp\", \"tcp\" or \"tls\" (got %q)", p.Transport)
	}
	if p.TLSFingerprint != "" {
		if _, err := certs.ParseFingerprint(p.TLSFingerprint); err != nil {
			c.bad("phone.tls_fingerprint", "%v", err)
		}
	}
	if p.TLSCA != "" {
		if _, err := os.Stat(p.TLSCA); err != nil {
			c.bad("phone.tls_ca", "cannot be read: %v", err)
		}
	}
	switch p.ToneCountry {
	case "fr", "us", "uk", "de":
	default:
		c.bad("phone.tone_country", "must be one of fr, us, uk, de (got %q)", p.ToneCountry)
	}
	if p.SRTP != media.SRTPOff && p.Transport != "tls" {
		// RFC 4568 §8.1: the SDES keys are in the SDP; over UDP or TCP anyone on the LAN reads them.
		c.bad("phone.srtp", "needs transport = \"tls\": the SRTP keys travel in the SIP messages")
	}
	for _, mp := range p.Media().Check() {
		c.bad("phone."+mp.Setting, "%s", mp.Msg)
	}
	if p.Expires.Duration < 30*time.Second {
		c.bad("phone.expires", "must be at least 30s")
	}
	for i, n := range p.SpeedDial {
		if !isDialable(n) {
			c.bad(fmt.Sprintf("phone.speed_dial.%d", i), "%q is not a number or SIP user", n)
		}
	}
}

// EuropeanToneCountry tells whether country c prefers A-law (PCMA) first.
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
