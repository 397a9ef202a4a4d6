package main

import (
	"log/slog"
	"path/filepath"

	"github.com/deskphone/deskphone/firmware/calllog"
	"github.com/deskphone/deskphone/firmware/certs"
	"github.com/deskphone/deskphone/firmware/config"
	"github.com/deskphone/deskphone/firmware/web"
)

// newWeb builds the web pages and API: the local certificate authority in data_dir/tls (made on
// first start), the page password in data_dir/web-admin.json, and the listeners of [web]. ph and
// calls are nil when the phone is disabled.
func newWeb(f *config.File, ph web.Phone, calls *calllog.Log, log *slog.Logger) (*web.Server, error) {
	token, err := webToken(f)
	if err != nil {
		return nil, err
	}
	cfg := web.Config{Listen: f.Web.Listen, HTTPSListen: f.Web.HTTPSListen, Token: token, Names: f.Web.Names,
		AdminFile: filepath.Join(f.DataDir, "web-admin.json")}
	if f.Web.HTTPSListen != "" {
		ca, err := certs.Open(filepath.Join(f.DataDir, "tls"), nil)
		if err != nil {
			return nil, err
		}
		cfg.Certs = ca
	}
	var cl web.CallLog
	if calls != nil {
		cl = calls
	}
	srv, err := web.New(cfg, ph, cl, log.With("component", "web"))
	if err != nil {
		return nil, err
	}
	if err := srv.Listen(); err != nil {
		return nil, err
	}
	srv.AddStatus("web", func() any {
		return map[string]any{"url": srv.URL(), "ca_fingerprint_sha256": srv.Fingerprint()}
	})
	return srv, nil
}

// printWebBanner tells the person at the console where the pages are, how to check the
// certificate, and the page password while it is the generated one.
func printWebBanner(srv *web.Server, log *slog.Logger) {
	if srv.URL() == "" {
		return
	}
	log.Info("web pages: open "+srv.URL()+" (or http://<this Pi>/ to be led there); trust the Pi's certificate authority from /ca.crt after checking its fingerprint",
		"ca_fingerprint_sha256", srv.Fingerprint())
	if pw := srv.AdminPassword(); pw != "" {
		log.Info("web password", "user", "admin", "password", pw)
	}
}
