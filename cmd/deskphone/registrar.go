package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/deskphone/deskphone/firmware/accounts"
	"github.com/deskphone/deskphone/firmware/config"
	"github.com/deskphone/deskphone/firmware/registrar"
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
	return registrar.New(cfg, dir, log.With("component", "registrar"), opts...)
}
