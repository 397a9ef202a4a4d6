package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/deskphone/deskphone/firmware/accounts"
	"github.com/deskphone/deskphone/firmware/config"
	"github.com/deskphone/deskphone/firmware/registrar"
	"github.com/deskphone/deskphone/firmware/tlscert"
)

// newRegistrar maps the [registrar] section to registrar.Config. A zero value in the file means
// the registrar's default, except qualify_interval = "0s", which turns qualify off.
func newRegistrar(f *config.File, dir *accounts.Directory, log *slog.Logger, opts ...registrar.Option) (*registrar.Registrar, error) {
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
		conf, err := sipTLSConfig(c, f.DataDir, log)
		if err != nil {
			return nil, err
		}
		cfg.TLSListen, cfg.TLS = c.TLSListen, conf
	}
	return registrar.New(cfg, dir, log.With("component", "registrar"), opts...)
}

// ownRegistrarPin is the certificate fingerprint the phone trusts over TLS: the configured one,
// or, when it registers over loopback to the built-in registrar and trusts nothing else, that
// registrar's own certificate.
func ownRegistrarPin(f *config.File, registrarAddr string) (string, error) {
	p := f.Phone
	if p.Transport != "tls" || p.TLSFingerprint != "" || p.TLSCA != "" || !f.Registrar.Enabled || f.Registrar.TLSListen == "" {
		return p.TLSFingerprint, nil
	}
	host, _, _ := net.SplitHostPort(registrarAddr)
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return "", nil
	}
	cert, _, err := registrarCert(f.Registrar, f.DataDir)
	if err != nil {
		return "", err
	}
	return tlscert.Fingerprint(cert.Certificate[0]), nil
}

// sipTLSConfig is the registrar's certificate: the configured files, or the self-signed one in
// data_dir, made for this host's names and addresses on first start.
func sipTLSConfig(c config.Registrar, dataDir string, log *slog.Logger) (*tls.Config, error) {
	cert, created, err := registrarCert(c, dataDir)
	if err != nil {
		return nil, err
	}
	msg := "SIP over TLS certificate"
	if created {
		msg = "SIP over TLS certificate created"
	}
	log.Info(msg, "sha256", tlscert.Fingerprint(cert.Certificate[0]))
	return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
}

// registrarCert loads (or on first start makes) the registrar's certificate.
func registrarCert(c config.Registrar, dataDir string) (tls.Certificate, bool, error) {
	var hosts []string
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h, h+".local")
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				hosts = append(hosts, n.IP.String())
			}
		}
	}
	cert, created, err := tlscert.LoadOrCreate(c.TLSCert, c.TLSKey, dataDir, hosts)
	if err != nil {
		return cert, false, fmt.Errorf("registrar: %w", err)
	}
	return cert, created, nil
}
