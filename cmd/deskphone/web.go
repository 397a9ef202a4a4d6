package main

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/deskphone/deskphone/firmware/calllog"
	"github.com/deskphone/deskphone/firmware/certs"
	"github.com/deskphone/deskphone/firmware/config"
	"github.com/deskphone/deskphone/firmware/registrar"
	"github.com/deskphone/deskphone/firmware/web"
	"golang.org/x/sync/errgroup"
)

// newWeb builds the web pages and API: the page password in data_dir/web-admin.json, and the
// listeners of [web], HTTPS with ca's certificate. ph and calls are nil when the phone is disabled.
func newWeb(f *config.File, ca *certs.Authority, ph web.Phone, calls *calllog.Log, log *slog.Logger) (*web.Server, error) {
	token, err := webToken(f)
	if err != nil {
		return nil, err
	}
	cfg := web.Config{Listen: f.Web.Listen, HTTPSListen: f.Web.HTTPSListen, Token: token, Names: f.Web.Names,
		AdminFile: filepath.Join(f.DataDir, "web-admin.json")}
	if f.Web.HTTPSListen != "" {
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

// localCA opens the Pi's certificate authority in data_dir/tls (made on first start) when the web
// pages or SIP over TLS need it, with a server certificate for every name and address the Pi
// answers to; nil when neither does.
func localCA(f *config.File) (*certs.Authority, error) {
	sipTLS := f.Registrar.Enabled && f.Registrar.TLSListen != "" && f.Registrar.TLSCert == ""
	if f.Web.HTTPSListen == "" && !sipTLS {
		return nil, nil
	}
	ca, err := certs.Open(filepath.Join(f.DataDir, "tls"), nil)
	if err != nil {
		return nil, err
	}
	if _, err := ca.Ensure(web.HostNames(f.Web.Names)); err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	return ca, nil
}

// laterCA is the Pi's certificate authority, opened in the background: reading it, and making
// its keys on the first start, does not hold up the phone's first REGISTER. The web pages and
// the registrar's TLS handshakes wait for it.
type laterCA struct {
	later[*certs.Authority] // nil when neither the pages nor SIP over TLS need one
}

// openCALater opens the authority (localCA) in g once after is closed: at once for nil, else
// after the phone's first registration (at most firstRegistrationWait).
func openCALater(ctx context.Context, g *errgroup.Group, f *config.File, after <-chan struct{}, log *slog.Logger) *laterCA {
	l := &laterCA{newLater[*certs.Authority]()}
	g.Go(func() error {
		awaitFirstRegistration(ctx, after)
		ca, err := localCA(f)
		l.set(ca, err)
		if err != nil {
			return err
		}
		if r := f.Registrar; r.Enabled && r.TLSListen != "" && r.TLSCert == "" {
			log.Info("SIP over TLS: certificate from the Pi's certificate authority (trust /ca.crt once)", "ca_fingerprint_sha256", ca.Fingerprint())
		}
		return nil
	})
	return l
}

// getCertificate is the registrar's TLS certificate, once the authority is open.
func (l *laterCA) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	ca, err := l.get(hello.Context())
	if err != nil {
		return nil, err
	}
	if ca == nil {
		return nil, errors.New("no certificate authority for SIP over TLS")
	}
	return ca.GetCertificate(hello)
}

// printWebBanner tells the person at the console where the pages are, how to check the
// certificate, and the page password while it is the generated one.
func printWebBanner(srv *web.Server, log *slog.Logger) {
	if srv.URL() == "" {
		return
	}
	log.Info("web pages: open "+srv.URL()+" (http:// leads there); trust the Pi's certificate authority "+srv.CAURL()+" once, after checking its fingerprint",
		"ca_fingerprint_sha256", srv.Fingerprint())
	if pw := srv.AdminPassword(); pw != "" {
		log.Info("web password", "user", "admin", "password", pw)
	}
}

// cmdWeb is `deskphone web`: where the pages are, the fingerprint to check, and the page
// password while it is the generated one. It reads data_dir and needs no running service.
func cmdWeb(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("web", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/boot/deskphone.toml", "config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	f, err := config.Load(*path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		f = config.Default()
	case err != nil:
		fmt.Fprintln(stderr, err)
		return 1
	}
	if f.Web.HTTPSListen == "" {
		fmt.Fprintln(stdout, "the web pages are off ([web] https_listen is empty)")
		return 0
	}
	host, port, _ := net.SplitHostPort(f.Web.HTTPSListen)
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "<this Pi's address>"
		if a := localAddresses(); len(a) > 0 {
			host = a[0]
		}
	}
	url := "https://" + host
	if port != "443" {
		url += ":" + port
	}
	phost, pport, _ := net.SplitHostPort(f.Web.Listen)
	if ip := net.ParseIP(phost); ip == nil || ip.IsUnspecified() {
		phost = host
	}
	plain := "http://" + phost
	if pport != "80" {
		plain += ":" + pport
	}
	fmt.Fprintf(stdout, "pages:    %s/\n", url)
	fmt.Fprintf(stdout, "CA:       %s/ca.crt (install it once, after checking the fingerprint)\n", plain)
	der, err := os.ReadFile(filepath.Join(f.DataDir, "tls", certs.CAFile))
	if err != nil {
		fmt.Fprintf(stdout, "SHA-256:  not made yet: start the service once (%v)\n", err)
		return 0
	}
	if blk, _ := pem.Decode(der); blk != nil {
		fmt.Fprintf(stdout, "SHA-256:  %s\n", certs.Fingerprint(blk.Bytes))
	}
	switch pw, changed, err := web.StoredPassword(filepath.Join(f.DataDir, "web-admin.json")); {
	case err != nil:
		fmt.Fprintf(stdout, "password: unknown (%v)\n", err)
	case changed:
		fmt.Fprintln(stdout, "password: set on the page")
	default:
		fmt.Fprintf(stdout, "password: %s\n", pw)
	}
	return 0
}

// registrarBans shows the registrar's banned sources on the status page.
type registrarBans struct{ reg *registrar.Registrar }

func (b registrarBans) Bans() []web.Ban {
	var out []web.Ban
	for _, x := range b.reg.BannedSources() {
		out = append(out, web.Ban{Service: "sip", Source: x.Source, Until: x.Until})
	}
	return out
}

func (b registrarBans) Unban(ip netip.Addr) bool { return b.reg.Unban(ip) }
