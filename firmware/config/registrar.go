package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/deskphone/deskphone/firmware/accounts"
	"github.com/deskphone/deskphone/firmware/media"
	"github.com/deskphone/deskphone/firmware/registrar"
	"github.com/deskphone/deskphone/firmware/rtpport"
	"github.com/deskphone/deskphone/firmware/srtpbridge"
)

// Registrar is the built-in SIP registrar and proxy; its defaults are registrar.DefaultConfig's.
type Registrar struct {
	Enabled bool   `toml:"enabled"`
	Listen  string `toml:"listen"` // UDP and TCP, "0.0.0.0:5060"
	// SIP over TLS, "0.0.0.0:5061"; "" = off. Without tls_cert and tls_key, a self-signed
	// certificate is made in data_dir (its SHA-256 fingerprint is logged, for phones to pin).
	TLSListen string `toml:"tls_listen"`
	TLSCert   string `toml:"tls_cert"` // PEM certificate (chain) file
	TLSKey    string `toml:"tls_key"`  // PEM private key file
	Realm     string `toml:"realm"`    // digest realm
	// Domains the registrar owns besides its IP addresses, its hostname and the realm.
	Domains []string `toml:"domains"`

	DefaultExpires  Duration `toml:"default_expires"`  // when the phone asks for none
	MinExpires      Duration `toml:"min_expires"`      // shorter requests get 423
	MaxExpires      Duration `toml:"max_expires"`      // longer requests are cut
	MaxContacts     int      `toml:"max_contacts"`     // per account; the oldest is replaced
	QualifyInterval Duration `toml:"qualify_interval"` // OPTIONS to each binding; 0 = off
	RingTimeout     Duration `toml:"ring_timeout"`     // unanswered call → 480
	NonceLifetime   Duration `toml:"nonce_lifetime"`   // digest nonce; older → stale=true
	TCPIdleTimeout  Duration `toml:"tcp_idle_timeout"` // TCP connection without a registration or request

	// Abuse protection: a source is banned for BanTime after AuthFailures failed authentications
	// within AuthWindow, or more than FloodRequests requests within FloodWindow.
	AuthFailures  int      `toml:"auth_failures"`
	AuthWindow    Duration `toml:"auth_window"`
	FloodRequests int      `toml:"flood_requests"`
	FloodWindow   Duration `toml:"flood_window"`
	BanTime       Duration `toml:"ban_time"`
	// Trusted sources (CIDR) are never banned; they still authenticate.
	NeverBan []string `toml:"never_ban"`

	// SRTPBridge lets a phone with SRTP (on TLS) and one with plain RTP (the Alcatel) call each
	// other, the Pi relaying the media; false refuses such calls with 488.
	SRTPBridge bool `toml:"srtp_bridge"`
	// The bridge's UDP ports (four per call); both 0: ports the kernel picks.
	SRTPBridgePortMin int `toml:"srtp_bridge_port_min"`
	SRTPBridgePortMax int `toml:"srtp_bridge_port_max"`

	Accounts []Account `toml:"accounts"`
}

// Account is one [[registrar.accounts]] entry.
type Account struct {
	Extension   string `toml:"extension"`
	Username    string `toml:"username"`
	Password    string `toml:"password"`
	DisplayName string `toml:"display_name"`
	MAC         string `toml:"mac"` // an Alcatel phone that gets this account when it asks
	// SRTP is the media encryption the registrar gives this account's phone: "" (follow the
	// caller's offer), "off" (never SRTP), "optional" (SRTP whenever it is on TLS, bridged by the
	// Pi if the other phone has plain RTP), "mandatory" (its calls without SRTP on its leg are
	// refused with 488).
	SRTP string `toml:"srtp"`
}

// MinPasswordLength is the shortest password `check` accepts for a registrar account.
const MinPasswordLength = 8

func defaultRegistrar() Registrar {
	d := registrar.DefaultConfig()
	b := srtpbridge.DefaultConfig()
	return Registrar{
		SRTPBridge:        true,
		SRTPBridgePortMin: b.RTPPortMin,
		SRTPBridgePortMax: b.RTPPortMax,
		Enabled:           true,
		Listen:            d.Listen,
		TLSListen:         registrar.DefaultTLSListen,
		Realm:             d.Realm,
		DefaultExpires:    Duration{d.DefaultExpires},
		MinExpires:        Duration{d.MinExpires},
		MaxExpires:        Duration{d.MaxExpires},
		MaxContacts:       d.MaxContacts,
		QualifyInterval:   Duration{d.QualifyInterval},
		RingTimeout:       Duration{d.RingTimeout},
		NonceLifetime:     Duration{d.NonceLifetime},
		TCPIdleTimeout:    Duration{d.TCPIdleTimeout},
		AuthFailures:      d.AuthFailures,
		AuthWindow:        Duration{d.AuthWindow},
		FloodRequests:     d.FloodRequests,
		FloodWindow:       Duration{d.FloodWindow},
		BanTime:           Duration{d.BanTime},
	}
}

func (r Registrar) validate(c *checker) {
	c.listen("registrar.listen", r.Listen, r.Enabled)
	c.listen("registrar.tls_listen", r.TLSListen, false)
	if r.Enabled && r.TLSListen != "" && samePort(r.TLSListen, r.Listen) {
		c.bad("registrar.tls_listen", "uses the same port as registrar.listen (TCP); SIP over TLS takes its own, 5061")
	}
	if (r.TLSCert == "") != (r.TLSKey == "") {
		c.bad("registrar.tls_cert", "tls_cert and tls_key go together (or leave both out for a self-signed certificate)")
	}
	if !isName(r.Realm) {
		c.bad("registrar.realm", "must be 1-64 letters, digits, '.', '_' or '-' (got %q)", r.Realm)
	}
	for i, d := range r.Domains {
		if !isName(d) {
			c.bad(fmt.Sprintf("registrar.domains.%d", i), "%q is not a host name", d)
		}
	}
	if r.MinExpires.Duration < time.Second {
		c.bad("registrar.min_expires", "must be at least 1s")
	}
	if r.MaxExpires.Duration < r.MinExpires.Duration {
		c.bad("registrar.max_expires", "must not be shorter than min_expires (%s)", r.MinExpires.Duration)
	}
	if r.DefaultExpires.Duration < r.MinExpires.Duration || r.DefaultExpires.Duration > r.MaxExpires.Duration {
		c.bad("registrar.default_expires", "must lie between min_expires and max_expires")
	}
	if r.MaxContacts < 1 || r.MaxContacts > 100 {
		c.bad("registrar.max_contacts", "must be between 1 and 100")
	}
	if r.QualifyInterval.Duration < 0 || (r.QualifyInterval.Duration > 0 && r.QualifyInterval.Duration < 5*time.Second) {
		c.bad("registrar.qualify_interval", "must be 0 (off) or at least 5s")
	}
	if r.RingTimeout.Duration < time.Second || r.RingTimeout.Duration > 10*time.Minute {
		c.bad("registrar.ring_timeout", "must be between 1s and 10m")
	}
	if r.NonceLifetime.Duration < 5*time.Second {
		c.bad("registrar.nonce_lifetime", "must be at least 5s")
	}
	c.positive("registrar.tcp_idle_timeout", r.TCPIdleTimeout)
	c.atLeastOne("registrar.auth_failures", r.AuthFailures)
	c.atLeastOne("registrar.flood_requests", r.FloodRequests)
	c.positive("registrar.auth_window", r.AuthWindow)
	c.positive("registrar.flood_window", r.FloodWindow)
	c.positive("registrar.ban_time", r.BanTime)
	for i, s := range r.NeverBan {
		if _, err := netip.ParsePrefix(s); err != nil {
			if _, err2 := netip.ParseAddr(s); err2 != nil {
				c.bad(fmt.Sprintf("registrar.never_ban.%d", i), "%q is not an address or CIDR range", s)
			}
		}
	}
	if r.SRTPBridgePortMin != 0 || r.SRTPBridgePortMax != 0 {
		if p, err := rtpport.NewRange(r.SRTPBridgePortMin, r.SRTPBridgePortMax); err != nil || r.SRTPBridgePortMin < 1024 || p.Pairs() < 2 {
			c.bad("registrar.srtp_bridge_port_min", "the SRTP bridge's ports must lie within 1024–65535 and hold at least two even/odd pairs (a call takes one per leg; both 0: ports the kernel picks)")
		}
	}
	seen := map[string]string{} // extension or user name → the account that has it
	for i, a := range r.Accounts {
		p := fmt.Sprintf("registrar.accounts.%d", i)
		a.validate(c, p)
		// An account may use its number as its user name ("5001"/"5001", the usual PBX style);
		// only two different accounts sharing a name is a collision.
		for _, id := range uniq(a.Extension, a.Username) {
			if prev, dup := seen[id]; dup {
				c.bad(p, "%q is already used by %s", id, prev)
			}
			seen[id] = p
		}
	}
}

func (a Account) validate(c *checker, p string) {
	if !isExtension(a.Extension) {
		c.bad(p+".extension", "must be 1-15 digits (got %q)", a.Extension)
	}
	if !isName(a.Username) {
		c.bad(p+".username", "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (got %q)", a.Username)
	}
	switch {
	case a.Password == "":
		c.bad(p+".password", "is required (make one with: deskphone password)")
	case len(a.Password) < MinPasswordLength:
		c.bad(p+".password", "is too short: use at least %d characters (make one with: deskphone password)", MinPasswordLength)
	case hasControl(a.Password):
		c.bad(p+".password", "must not contain control characters")
	}
	if hasControl(a.DisplayName) || strings.ContainsAny(a.DisplayName, `"\`) {
		c.bad(p+".display_name", "must not contain quotes, backslashes or control characters")
	}
	if a.MAC != "" && accounts.NormalizeMAC(a.MAC) == "" {
		c.bad(p+".mac", "%q is not a MAC address (12 hex digits)", a.MAC)
	}
	switch a.SRTP {
	case "", media.SRTPOff, media.SRTPOptional, media.SRTPMandatory:
	default:
		c.bad(p+".srtp", "must be \"off\", \"optional\" or \"mandatory\" (got %q)", a.SRTP)
	}
}

// uniq is the non-empty ones of ids, each once.
func uniq(ids ...string) []string {
	var out []string
	for _, id := range ids {
		if id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
