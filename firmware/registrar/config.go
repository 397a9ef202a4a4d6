package registrar

import (
	"cmp"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/deskphone/deskphone/firmware/sipcheck"
)

// Config is the registrar's configuration. Durations are wall-clock times.
type Config struct {
	// Listen is the UDP and TCP address, "0.0.0.0:5060". Port 0 picks a free port (the same one
	// for UDP and TCP).
	Listen string
	// TLSListen is the SIP over TLS address, "0.0.0.0:5061"; "" = no TLS. TLS holds the
	// certificate it presents.
	TLSListen string
	TLS       *tls.Config
	// Realm is the digest realm (RFC 3261 §22.1) and one of the registrar's own domains.
	Realm string
	// Domains are more names the registrar owns besides its IP addresses and hostname.
	Domains []string
	// DataDir holds bindings.json; "" keeps bindings in memory only.
	DataDir string

	DefaultExpires time.Duration // REGISTER without any expiry (3600 s)
	MinExpires     time.Duration // shorter non-zero expiries get 423 (60 s)
	MaxExpires     time.Duration // longer expiries are cut to this (7200 s)
	MaxContacts    int           // bindings per account; the oldest is replaced (5)

	QualifyInterval time.Duration // OPTIONS to each binding; negative = off (60 s)
	QualifyTimeout  time.Duration // no answer within this marks a binding unreachable (5 s)
	RingTimeout     time.Duration // unanswered INVITE → 480 (30 s)

	NonceLifetime time.Duration // older nonces get stale=true (300 s)
	MaxNonces     int           // nonce-count records kept: correctly answered nonces within NonceLifetime (65536)

	AuthFailures  int           // failed authentications within AuthWindow that ban a source (10)
	AuthWindow    time.Duration // (60 s)
	FloodRequests int           // packets within FloodWindow that ban a source (16)
	FloodWindow   time.Duration // (2 s)
	BanTime       time.Duration // how long a banned source is ignored (300 s)
	NeverBan      []netip.Prefix
	MaxSources    int // sources tracked by the ban logic (65536)

	// TCPIdleTimeout closes a TCP connection that brought no complete request for this long,
	// unless a phone registered over it (30 s).
	TCPIdleTimeout time.Duration
	// MaxTCPConnections bounds the accepted TCP connections (256); at the bound the quietest
	// one without a registration is closed for a new one.
	MaxTCPConnections int

	MaxMessageSize int    // bytes; larger requests get 513 (8192, at most 65535)
	ServerName     string // Server and User-Agent header; never a version ("deskphone")
}

// DefaultConfig returns the defaults documented on Config. Realm and Listen are set too.
func DefaultConfig() Config {
	return Config{
		Listen:            "0.0.0.0:5060",
		Realm:             "deskphone",
		DefaultExpires:    3600 * time.Second,
		MinExpires:        60 * time.Second,
		MaxExpires:        7200 * time.Second,
		MaxContacts:       5,
		QualifyInterval:   60 * time.Second,
		QualifyTimeout:    5 * time.Second,
		RingTimeout:       30 * time.Second,
		NonceLifetime:     300 * time.Second,
		MaxNonces:         65536,
		AuthFailures:      10,
		AuthWindow:        60 * time.Second,
		FloodRequests:     16,
		FloodWindow:       2 * time.Second,
		BanTime:           300 * time.Second,
		MaxSources:        65536,
		TCPIdleTimeout:    30 * time.Second,
		MaxTCPConnections: 256,
		MaxMessageSize:    8192,
		ServerName:        "deskphone",
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	c.Listen = cmp.Or(c.Listen, d.Listen)
	c.Realm = cmp.Or(c.Realm, d.Realm)
	c.DefaultExpires = cmp.Or(c.DefaultExpires, d.DefaultExpires)
	c.MinExpires = cmp.Or(c.MinExpires, d.MinExpires)
	c.MaxExpires = cmp.Or(c.MaxExpires, d.MaxExpires)
	c.QualifyInterval = cmp.Or(c.QualifyInterval, d.QualifyInterval)
	c.QualifyTimeout = cmp.Or(c.QualifyTimeout, d.QualifyTimeout)
	c.RingTimeout = cmp.Or(c.RingTimeout, d.RingTimeout)
	c.NonceLifetime = cmp.Or(c.NonceLifetime, d.NonceLifetime)
	c.AuthWindow = cmp.Or(c.AuthWindow, d.AuthWindow)
	c.FloodWindow = cmp.Or(c.FloodWindow, d.FloodWindow)
	c.BanTime = cmp.Or(c.BanTime, d.BanTime)
	c.MaxContacts = cmp.Or(c.MaxContacts, d.MaxContacts)
	c.MaxNonces = cmp.Or(c.MaxNonces, d.MaxNonces)
	c.AuthFailures = cmp.Or(c.AuthFailures, d.AuthFailures)
	c.FloodRequests = cmp.Or(c.FloodRequests, d.FloodRequests)
	c.MaxSources = cmp.Or(c.MaxSources, d.MaxSources)
	c.TCPIdleTimeout = cmp.Or(c.TCPIdleTimeout, d.TCPIdleTimeout)
	c.MaxTCPConnections = cmp.Or(c.MaxTCPConnections, d.MaxTCPConnections)
	c.MaxMessageSize = cmp.Or(c.MaxMessageSize, d.MaxMessageSize)
	c.ServerName = cmp.Or(c.ServerName, d.ServerName)
	return c
}

func (c Config) check() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("registrar listen address %q: %w", c.Listen, err)
	}
	for _, s := range append([]string{c.Realm, c.ServerName}, c.Domains...) {
		if err := sipcheck.Text(s); err != nil {
			return fmt.Errorf("registrar realm, domain or server name %q: %w", s, err)
		}
	}
	if c.MinExpires > c.MaxExpires {
		return fmt.Errorf("registrar min expiry %s is longer than max expiry %s", c.MinExpires, c.MaxExpires)
	}
	if c.DefaultExpires < c.MinExpires || c.DefaultExpires > c.MaxExpires {
		return fmt.Errorf("registrar default expiry %s is outside %s–%s", c.DefaultExpires, c.MinExpires, c.MaxExpires)
	}
	if c.MaxContacts < 1 {
		return fmt.Errorf("registrar max contacts must be at least 1")
	}
	if c.MaxMessageSize < 1500 || c.MaxMessageSize > 65535 {
		return fmt.Errorf("registrar max message size %d must be within 1500–65535", c.MaxMessageSize)
	}
	return nil
}
