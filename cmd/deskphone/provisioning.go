package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/deskphone/deskphone/firmware/accounts"
	"github.com/deskphone/deskphone/firmware/config"
	"github.com/deskphone/deskphone/provisioning"
)

// newProvisioning maps [provisioning], timezone, [registrar] (realm, port, expiry bounds), [phone]
// (codecs, tone country) and [network] dns to provisioning.Config. It returns nil, nil when
// provisioning is disabled.
//
// Mount the result on the web server: srv at provisioning.PhonePattern ("GET /{file}") and
// srv.APIHandler() at each of provisioning.APIPatterns. When [provisioning] listen differs from
// [web] listen, also run srv.ListenAndServe(ctx, f.Provisioning.Listen) (phone files only).
func newProvisioning(f *config.File, dir *accounts.Directory, log *slog.Logger) (*provisioning.Server, error) {
	p := f.Provisioning
	if !p.Enabled {
		return nil, nil
	}
	cfg := provisioning.DefaultConfig()
	if p.Pairing != "" {
		cfg.Pairing = provisioning.PairingMode(p.Pairing)
	}
	if p.FirmwareDir != "" {
		cfg.FirmwareDir = p.FirmwareDir
	}
	if p.FirstExtension != "" {
		cfg.FirstExtension = p.FirstExtension
	}
	if p.PollMinutes != 0 {
		cfg.PollMinutes = p.PollMinutes
	}
	cfg.NTPServer = p.NTPServer
	if f.DataDir != "" {
		cfg.StatePath = filepath.Join(f.DataDir, "alcatel.json")
	}
	cfg.Listen = p.Listen
	if cfg.Listen == "" {
		cfg.Listen = f.Web.Listen
	}
	cfg.Timezone = f.Timezone

	// The registrar: the files name the address the phone reached, unless the registrar listens on
	// one address only.
	if host, port, err := net.SplitHostPort(f.Registrar.Listen); err == nil {
		if a, err := netip.ParseAddr(host); err == nil && !a.IsUnspecified() {
			cfg.SIPHost = a.String()
		}
		if n, err := strconv.Atoi(port); err == nil && n > 0 {
			cfg.SIPPort = n
		}
	}
	cfg.Realm = f.Realm()
	if min := f.Registrar.MinExpires.Duration; min > 0 && cfg.RegisterExpires < min {
		cfg.RegisterExpires = min
	}
	if max := f.Registrar.MaxExpires.Duration; max > 0 && cfg.RegisterExpires > max {
		cfg.RegisterExpires = max
	}

	cfg.Codecs = f.Phone.CodecOrder()
	cfg.Voicemail = f.Voicemail.Enabled
	if f.Phone.ToneCountry != "" {
		cfg.ToneCountry = f.Phone.ToneCountry
	}
	// dtmf_avt_payload_type stays 96, the Alcatel's own default: on calls from the Alcatel the Pi's
	// phone answers with the payload type offered to it, and calls to the Alcatel carry the Pi's
	// offer, which the phone's answer follows (RFC 3264 §6.1).
	if len(f.Network.DNS) > 0 {
		cfg.DNSServer = f.Network.DNS[0]
	}
	return provisioning.New(cfg, dir, log.With("component", "provisioning"))
}

// ctlPair is `deskphone ctl pair [-seconds N] [-close]`: it opens (or closes) the Alcatel pairing window
// of the running service at baseURL ("http://127.0.0.1:80") and says what to do next.
func ctlPair(baseURL string, tr http.RoundTripper, args []string) int {
	fs := flag.NewFlagSet("pair", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	seconds := fs.Int("seconds", 300, "how long the window stays open (1-3600)")
	closeWindow := fs.Bool("close", false, "close the pairing window instead")
	token := fs.String("token", os.Getenv("DESKPHONE_TOKEN"), "API token (needed only from another machine; default $DESKPHONE_TOKEN)")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: deskphone ctl pair [-seconds N] [-close]\n\nOpens the pairing window: the next new Alcatel phone that asks for its configuration gets an extension.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		if err == nil {
			fs.Usage()
		}
		return 2
	}
	if *seconds < 1 || *seconds > 3600 {
		fmt.Fprintln(os.Stderr, "deskphone ctl pair: -seconds must be between 1 and 3600")
		return 2
	}
	method, body := http.MethodPost, []byte(fmt.Sprintf(`{"seconds":%d}`, *seconds))
	if *closeWindow {
		method, body = http.MethodDelete, nil
	}
	req, err := http.NewRequest(method, strings.TrimRight(baseURL, "/")+"/api/v1/pairing", bytes.NewReader(body))
	if err != nil {
		fmt.Fprintln(os.Stderr, "deskphone ctl pair:", err)
		return 1
	}
	req.Header.Set("Content-Type", "application/json")
	if *token != "" {
		req.Header.Set("Authorization", "Bearer "+*token)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: tr}
	res, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(os.Stderr, "deskphone ctl pair: cannot reach the deskphone service at %s (is it running?): %v\n", baseURL, err)
		return 1
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	var out struct {
		Error       string `json:"error"`
		Open        bool   `json:"open"`
		Mode        string `json:"mode"`
		SecondsLeft int    `json:"seconds_left"`
		Message     string `json:"message"`
	}
	_ = json.Unmarshal(raw, &out)
	if res.StatusCode != http.StatusOK {
		msg := out.Error
		if msg == "" {
			msg = strings.TrimSpace(string(raw))
		}
		if res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden {
			msg += " (from another machine, pass -token or set DESKPHONE_TOKEN)"
		}
		fmt.Fprintf(os.Stderr, "deskphone ctl pair: %s: %s\n", res.Status, msg)
		return 1
	}
	fmt.Println(out.Message)
	if out.Open && out.SecondsLeft > 0 {
		fmt.Printf("The window closes in %s, or as soon as one phone has paired.\n", time.Duration(out.SecondsLeft)*time.Second)
	}
	return 0
}
