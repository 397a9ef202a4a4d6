package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/deskphone/deskphone/firmware/accounts"
	"github.com/deskphone/deskphone/firmware/boottime"
	"github.com/deskphone/deskphone/firmware/config"
	"github.com/deskphone/deskphone/firmware/lanaddr"
)

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// runService starts every enabled component and returns when ctx ends or one of them fails.
func runService(ctx context.Context, f *config.File, svc service, log *slog.Logger) error {
	boot := boottime.Open(boottime.InitRecord, log.With("component", "boot"))
	boot.Mark("service")
	if err := awaitFile(ctx, svc.dataReady, log); err != nil {
		return err
	}
	dir, warns, err := accounts.Open(filepath.Join(f.DataDir, "accounts.json"), configAccounts(f))
	if err != nil {
		return err
	}
	for _, w := range warns {
		log.Warn("accounts", "problem", w)
	}
	if err := ensureAccounts(f, dir, log); err != nil {
		return err
	}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { <-ctx.Done(); return nil }) // run until signalled, even with nothing enabled
	// Each component's wiring lives in its own file (registrar.go, phone.go, provisioning.go,
	// hardware.go, watchdog.go); this function only starts them.
	srv, err := startComponents(ctx, g, f, dir, boot, svc.trace, log)
	if err != nil {
		return err
	}
	log.Info("deskphone ready", "version", version, "addresses", strings.Join(localAddresses(), ","))
	printBanner(f, dir, log)
	srv.SetSettings(svc.configPath, svc.restart)
	if svc.logs != nil {
		srv.SetLogs(svc.logs)
	}
	if svc.trace != nil {
		srv.SetSIPTrace(svc.trace)
	}
	printWebBanner(srv, log)
	if len(localAddresses()) == 0 {
		// At boot the service starts before the DHCP lease: once there is an address, say again
		// where to register.
		g.Go(func() error {
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for len(localAddresses()) == 0 {
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
				}
			}
			printBanner(f, dir, log)
			return nil
		})
	}
	return g.Wait()
}

// awaitFile returns once path exists (at once for ""): at boot the service starts while the init
// still mounts the data partition, and waits here before it reads or writes anything there.
func awaitFile(ctx context.Context, path string, log *slog.Logger) error {
	if path == "" {
		return nil
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	warn := time.After(30 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-warn:
			log.Warn("still waiting for the data partition", "ready_file", path)
		case <-t.C:
		}
	}
}

// configAccounts turns [[registrar.accounts]] into directory entries.
func configAccounts(f *config.File) []accounts.Account {
	out := make([]accounts.Account, 0, len(f.Registrar.Accounts))
	for _, a := range f.Registrar.Accounts {
		out = append(out, accounts.Account{
			Extension: a.Extension, Username: a.Username, Password: a.Password,
			DisplayName: a.DisplayName, MAC: accounts.NormalizeMAC(a.MAC), Origin: accounts.OriginConfig,
			SRTP: a.SRTP,
		})
	}
	return out
}

// softphoneAccounts are generated on first boot so that two softphones (or a softphone and a
// second desk phone) can register and call each other and the Pi at once, following the seed's
// numbering (5001 the Alcatel, 5002 the Pi, 5003 a softphone).
var softphoneAccounts = [...]struct{ ext, user, name string }{
	{"5003", "softphone", "Softphone"},
	{"5004", "softphone2", "Softphone 2"},
}

// ensureAccounts gives the Pi's own phone an account on the built-in registrar when the config
// names no password, generating it once and keeping it in data_dir. On a first boot with no
// accounts at all it also makes one for a softphone, so there is something to call.
func ensureAccounts(f *config.File, dir *accounts.Directory, log *slog.Logger) error {
	if !f.Registrar.Enabled || !f.Phone.Enabled {
		return nil
	}
	firstBoot := len(dir.All()) == 0
	if f.Phone.Password == "" {
		a, ok := dir.Lookup(f.Phone.Extension)
		if !ok {
			pw, err := accounts.GeneratePassword(20)
			if err != nil {
				return err
			}
			a = accounts.Account{Extension: f.Phone.Extension, Username: f.Phone.Username, Password: pw,
				DisplayName: f.Phone.DisplayName, Origin: accounts.OriginGenerated}
			if err := dir.Add(a); err != nil {
				return fmt.Errorf("create the phone's own account: %w", err)
			}
			log.Info("generated the phone's account", "extension", a.Extension, "username", a.Username)
		}
		f.Phone.Username = a.Username
		f.Phone.Password = a.Password
	} else if _, ok := dir.Lookup(f.Phone.Extension); !ok {
		a := accounts.Account{Extension: f.Phone.Extension, Username: f.Phone.Username, Password: f.Phone.Password,
			DisplayName: f.Phone.DisplayName, Origin: accounts.OriginGenerated}
		if err := dir.Add(a); err != nil {
			return fmt.Errorf("create the phone's own account: %w", err)
		}
	}
	if firstBoot {
		for _, sp := range softphoneAccounts {
			if _, taken := dir.Lookup(sp.ext); taken {
				continue
			}
			pw, err := accounts.GeneratePassword(20)
			if err != nil {
				return err
			}
			if err := dir.Add(accounts.Account{Extension: sp.ext, Username: sp.user, Password: pw,
				DisplayName: sp.name, Origin: accounts.OriginGenerated}); err != nil {
				return fmt.Errorf("create the softphone account %s: %w", sp.ext, err)
			}
		}
	}
	return nil
}

// printBanner tells the person at the console how to use the phone system.
func printBanner(f *config.File, dir *accounts.Directory, log *slog.Logger) {
	if !f.Registrar.Enabled {
		return
	}
	addrs := localAddresses()
	host := "<this Pi's address>"
	if len(addrs) > 0 {
		host = addrs[0]
	}
	_, port, _ := net.SplitHostPort(f.Registrar.Listen)
	log.Info("phone system ready: register a softphone to "+host+":"+port+" (realm "+f.Realm()+")",
		"accounts", len(dir.All()))
	for _, a := range dir.All() {
		if a.Origin == accounts.OriginGenerated {
			log.Info("account", "extension", a.Extension, "username", a.Username, "password", a.Password)
		}
	}
	if f.Provisioning.Enabled {
		log.Info("Alcatel IP Touch: set DL scheme HTTP and DL address " + host + ", then open pairing (deskphone ctl pair, or the pair button)")
	}
}

// localAddresses lists this machine's LAN addresses, for the console and status.
func localAddresses() []string {
	addrs, _ := lanaddr.OwnIPv4()
	return lanaddr.Strings(addrs)
}

// runBroken keeps the service alive with a config that does not check: it repeats what is wrong
// on the console and answers the status API with it, so the user sees why nothing works.
func runBroken(ctx context.Context, path string, cfgErr error, log *slog.Logger) int {
	for _, line := range strings.Split(cfgErr.Error(), "\n") {
		log.Error("config error: " + strings.TrimSpace(line))
	}
	log.Error("the phone is not running; fix the config file and restart (deskphone check --config " + path + ")")
	body, _ := json.Marshal(map[string]any{"registration": "disabled", "call": "idle", "config_error": cfgErr.Error()})
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write(body)
	})
	listen := config.Default().Web.Listen
	if data, err := os.ReadFile(path); err == nil {
		if l := config.Lenient(data).Web.Listen; l != "" {
			listen = l
		}
	}
	srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe() }()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Warn("cannot serve the status page", "err", err)
			}
			done = nil
		case <-t.C:
			log.Error("config error, the phone is not running: " + cfgErr.Error())
		case <-ctx.Done():
			if done != nil {
				<-done
			}
			return 1
		}
	}
}
