package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/deskphone/deskphone/firmware/accounts"
	"github.com/deskphone/deskphone/firmware/certs"
	"github.com/deskphone/deskphone/firmware/config"
	"github.com/deskphone/deskphone/firmware/media"
	"github.com/deskphone/deskphone/firmware/registrar"
)

// newRegistrar maps the [registrar] section to registrar.Config. A zero value in the file means
// the registrar's default, except qualify_interval = "0s", which turns qualify off.
func newRegistrar(f *config.File, dir *accounts.Directory, ca *laterCA, log *slog.Logger, opts ...registrar.Option) (*registrar.Registrar, error) {
	c := f.Registrar
	cfg := registrar.DefaultConfig()
	if c.Listen != "" {
		cfg.Listen = c.Listen
	}
	if c.Realm != "" {
		cfg.Realm = c.Realm
	}
	cfg.Domains = c.Domains
	cfg.DataDir = f.DataDir
	setDur := func(dst *registrar.Config, field *config.Duration, apply func(*registrar.Config)) {
		if field.Duration != 0 {
			apply(dst)
		}
	}
	setDur(&cfg, &c.DefaultExpires, func(r *registrar.Config) { r.DefaultExpires = c.DefaultExpires.Duration })
	setDur(&cfg, &c.MinExpires, func(r *registrar.Config) { r.MinExpires = c.MinExpires.Duration })
	setDur(&cfg, &c.MaxExpires, func(r *registrar.Config) { r.MaxExpires = c.MaxExpires.Duration })
	setDur(&cfg, &c.RingTimeout, func(r *registrar.Config) { r.RingTimeout = c.RingTimeout.Duration })
	setDur(&cfg, &c.NonceLifetime, func(r *registrar.Config) { r.NonceLifetime = c.NonceLifetime.Duration })
	setDur(&cfg, &c.AuthWindow, func(r *registrar.Config) { r.AuthWindow = c.AuthWindow.Duration })
	setDur(&cfg, &c.FloodWindow, func(r *registrar.Config) { r.FloodWindow = c.FloodWindow.Duration })
	setDur(&cfg, &c.BanTime, func(r *registrar.Config) { r.BanTime = c.BanTime.Duration })
	setDur(&cfg, &c.TCPIdleTimeout, func(r *registrar.Config) { r.TCPIdleTimeout = c.TCPIdleTimeout.Duration })
	if c.QualifyInterval.Duration > 0 {
		cfg.QualifyInterval = c.QualifyInterval.Duration
	} else {
		cfg.QualifyInterval = -1 // "0s" in the file: no OPTIONS pings
	}
	if c.MaxContacts > 0 {
		cfg.MaxContacts = c.MaxContacts
	}
	if c.AuthFailures > 0 {
		cfg.AuthFailures = c.AuthFailures
	}
	if c.FloodRequests > 0 {
		cfg.FloodRequests = c.FloodRequests
	}
	for _, s := range c.NeverBan {
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("registrar never_ban %q is not an address or CIDR range", s)
			}
			cfg.NeverBan = append(cfg.NeverBan, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("registrar never_ban %q is not an address or CIDR range", s)
		}
		cfg.NeverBan = append(cfg.NeverBan, p.Masked())
	}
	if c.TLSListen != "" {
		conf, err := sipTLSConfig(c, ca, log)
		if err != nil {
			return nil, err
		}
		cfg.TLSListen, cfg.TLS = c.TLSListen, conf
	}
	var accts registrar.AccountSource = dir
	if p := f.Phone; p.Enabled && p.Transport == "tls" && p.SRTP == media.SRTPMandatory {
		accts = mandatorySRTP{dir, p.Extension}
	}
	return registrar.New(cfg, accts, log.With("component", "registrar"), opts...)
}

// mandatorySRTP gives the Pi's own phone, when its [phone] srtp is "mandatory", the account
// policy srtp = "mandatory" (unless its account says otherwise): it refuses plain RTP, so a
// call from the Alcatel to it must be bridged to SRTP by the registrar.
type mandatorySRTP struct {
	*accounts.Directory
	ext string
}

func (m mandatorySRTP) Lookup(user string) (accounts.Account, bool) {
	a, ok := m.Directory.Lookup(user)
	if ok && a.Extension == m.ext && a.SRTP == "" {
		a.SRTP = media.SRTPMandatory
	}
	return a, ok
}

// ownRegistrarCA is the authorities file the phone trusts over TLS: the configured one, or, when
// it registers over loopback to the built-in registrar and trusts nothing else, the Pi's own
// certificate authority, which signed that registrar's certificate.
func ownRegistrarCA(f *config.File, registrarAddr string) string {
	p, r := f.Phone, f.Registrar
	if p.Transport != "tls" || p.TLSFingerprint != "" || p.TLSCA != "" || !r.Enabled || r.TLSListen == "" || r.TLSCert != "" {
		return p.TLSCA
	}
	host, _, _ := net.SplitHostPort(registrarAddr)
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return ""
	}
	return filepath.Join(f.DataDir, "tls", certs.CAFile)
}

// sipTLSConfig is the registrar's certificate: the configured files, or the one the Pi's own
// certificate authority issues for its names and addresses (the same as the web pages'), which
// a handshake waits for while the authority opens (openCALater logs its fingerprint then).
func sipTLSConfig(c config.Registrar, ca *laterCA, log *slog.Logger) (*tls.Config, error) {
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("registrar: TLS certificate %s with key %s: %w", c.TLSCert, c.TLSKey, err)
		}
		log.Info("SIP over TLS certificate", "file", c.TLSCert, "sha256", certs.Fingerprint(cert.Certificate[0]))
		return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
	}
	return &tls.Config{GetCertificate: ca.getCertificate}, nil
}
