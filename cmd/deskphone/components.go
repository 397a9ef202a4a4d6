package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/deskphone/deskphone/firmware/accounts"
	"github.com/deskphone/deskphone/firmware/boottime"
	"github.com/deskphone/deskphone/firmware/config"
	"github.com/deskphone/deskphone/firmware/registrar"
	"github.com/deskphone/deskphone/firmware/srtpbridge"
	"github.com/deskphone/deskphone/firmware/voicemail"
	"github.com/deskphone/deskphone/firmware/web"
	"github.com/deskphone/deskphone/provisioning"
)

// firstRegistrationWait bounds how long the parts that the phone's registration does not need
// wait for it at start.
const firstRegistrationWait = 2 * time.Second

// awaitFirstRegistration returns once registered is closed (at once for nil), after at most
// firstRegistrationWait, or when ctx ends.
func awaitFirstRegistration(ctx context.Context, registered <-chan struct{}) {
	if registered == nil {
		return
	}
	t := time.NewTimer(firstRegistrationWait)
	defer t.Stop()
	select {
	case <-registered:
	case <-t.C:
	case <-ctx.Done():
	}
}

// registersToBuiltIn reports whether the Pi's own phone registers to the built-in registrar.
func registersToBuiltIn(f *config.File) bool {
	if !f.Phone.Enabled || !f.Registrar.Enabled {
		return false
	}
	if f.Phone.Registrar == "" {
		return true
	}
	host, port, err := net.SplitHostPort(f.Phone.Registrar)
	_, ownPort, _ := net.SplitHostPort(f.Registrar.Listen)
	ip := net.ParseIP(host)
	return err == nil && port == ownPort && (host == "localhost" || ip != nil && ip.IsLoopback())
}

// startComponents starts each enabled part of the appliance in g, in dependency order: the
// registrar (listening before the phone registers to it), the phone and its web API, the Alcatel
// provisioning mounted on that API, the time server the Alcatels use, the buttons and LEDs, and
// the hardware watchdog. boot (nil off the card) gets the first registration and is shown on the
// status API.
func startComponents(ctx context.Context, g *errgroup.Group, f *config.File, dir *accounts.Directory, boot *boottime.Timeline, trace *web.SIPTrace, log *slog.Logger) (*web.Server, error) {
	var bindings func() any
	var sipBans web.BanList
	// Until the Pi's own phone has registered to the built-in registrar (at most
	// firstRegistrationWait), only what that registration needs starts; the browser media bridge
	// and the web pages follow. On a busy single core, as under QEMU, they would slow it down.
	firstReg := make(chan struct{})
	var firstRegistration sync.Once
	registered := func() {
		firstRegistration.Do(func() {
			close(firstReg)
			boot.Mark("registered")
			if boot != nil {
				log.Info("boot timeline", "phases", boot.Summary())
			}
		})
	}
	var deferred <-chan struct{} // nil: nothing to wait for
	if registersToBuiltIn(f) {
		deferred = firstReg
	}
	vm, err := newVoicemail(f, dir, log)
	if err != nil {
		return nil, err
	}
	// The certificate authority opens after the first registration, unless the phone registers
	// over TLS (it may trust the authority's file, made on the first start).
	caAfter := deferred
	if f.Phone.Enabled && f.Phone.Transport == "tls" {
		caAfter = nil
	}
	ca := openCALater(ctx, g, f, caAfter, log)
	if caAfter == nil {
		if _, err := ca.get(ctx); err != nil {
			return nil, err
		}
	}
	var reg *registrar.Registrar
	if f.Registrar.Enabled {
		var opts []registrar.Option
		if trace != nil {
			opts = append(opts, registrar.WithSIPTrace(trace))
		}
		if vm != nil {
			opts = append(opts, registrar.WithVoicemail(vm))
		}
		// The bridges report calls whose media died; the registrar hangs them up.
		reports := make(chan registrar.MediaReport, 16)
		opts = append(opts, registrar.WithMediaReports(reports))
		report := func(rep registrar.MediaReport) {
			select {
			case reports <- rep:
			case <-ctx.Done():
			}
		}
		if f.Web.HTTPSListen != "" {
			bridge := newLateBridge()
			g.Go(func() error {
				awaitFirstRegistration(ctx, deferred)
				b, err := newMediaBridge(f, log, func(callID, leg string, silent time.Duration, cause string) {
					report(registrar.MediaReport{CallID: callID, Leg: leg, Silent: silent, Cause: cause})
				})
				bridge.set(b, err)
				if err != nil {
					return err
				}
				return b.Run(ctx)
			})
			opts = append(opts, registrar.WithMediaBridge(bridge))
		}
		if f.Registrar.SRTPBridge {
			sb, err := srtpbridge.New(srtpbridge.Config{RTPPortMin: f.Registrar.SRTPBridgePortMin,
				RTPPortMax: f.Registrar.SRTPBridgePortMax, Log: log.With("component", "srtpbridge"),
				OnMediaDead: func(callID, leg string, silent time.Duration) {
					report(registrar.MediaReport{CallID: callID, Leg: leg, Silent: silent})
				}})
			if err != nil {
				return nil, fmt.Errorf("SRTP bridge: %w", err)
			}
			g.Go(func() error { return sb.Run(ctx) })
			opts = append(opts, registrar.WithSRTPBridge(sb))
		}
		reg, err = newRegistrar(f, dir, ca, log, opts...)
		if err != nil {
			return nil, err
		}
		failed := make(chan error, 1)
		g.Go(func() error {
			err := reg.Run(ctx)
			failed <- err
			if err != nil {
				return fmt.Errorf("registrar: %w", err)
			}
			return nil
		})
		select {
		case <-reg.Ready():
		case err := <-failed:
			return nil, fmt.Errorf("registrar: %w", err)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		bindings = func() any { return map[string]any{"bindings": reg.Bindings(), "stats": reg.Stats()} }
		sipBans = registrarBans{reg}
		if vm != nil {
			vm.SetProxy(reg.Addr().(*net.UDPAddr).AddrPort())
			g.Go(func() error { return vm.Run(ctx) })
			printPINs(vm, dir, log)
		}
	}

	ph, err := newPhone(ctx, g, f, ca, registered, deferred, log)
	if err != nil {
		return nil, err
	}
	if boot != nil {
		ph.Web.AddStatus("boot", boot.Status)
	}
	if bindings != nil {
		ph.Web.AddStatus("registrar", bindings)
		ph.Web.AddBans(sipBans)
	}
	ph.Web.AddStatus("addresses", func() any { return localAddresses() })
	if f.Registrar.Enabled {
		_, port, _ := net.SplitHostPort(f.Registrar.Listen)
		n, _ := strconv.Atoi(port)
		ph.Web.SetAccounts(dir, web.SIPInfo{Port: n, Realm: f.Realm()})
		mountSoftphone(ph.Web, reg)
		ph.Web.Handle("GET /api/v1/registrar/calls", recentCallsHandler(reg))
	}
	var waiting <-chan bool
	if vm != nil {
		for _, p := range voicemail.APIPatterns {
			ph.Web.Handle(p, vm.Store().Handler())
		}
		waiting = messageWaiting(vm.Store(), f.Phone.Extension)
		ph.Web.AddStatus("voicemail", func() any { return vm.Store().Status() })
	}

	var pairing func(d time.Duration)
	prov, err := newProvisioning(f, dir, log)
	if err != nil {
		return nil, err
	}
	if prov != nil {
		ph.Web.HandlePlain(provisioning.PhonePattern, prov)
		for _, p := range provisioning.APIPatterns {
			ph.Web.Handle(p, prov.APIHandler())
		}
		ph.Web.AddStatus("provisioning", prov.Status)
		if f.Provisioning.Listen != "" && f.Provisioning.Listen != f.Web.Listen {
			g.Go(func() error { return prov.ListenAndServe(ctx, f.Provisioning.Listen) })
		}
		pairing = func(d time.Duration) {
			if err := prov.OpenPairing(d); err != nil {
				log.Warn("pairing window not opened", "err", err)
			}
		}
		if f.Provisioning.NTPServer == "" {
			host, _, _ := net.SplitHostPort(f.Registrar.Listen)
			g.Go(func() error { return runTimeServer(ctx, net.JoinHostPort(host, "123"), log.With("component", "sntp")) })
		}
	}

	if ph.Phone != nil {
		g.Go(func() error { return runHardware(ctx, f, ph.Phone, pairing, waiting, log) })
	}
	feed, err := startWatchdog(ctx, log.With("component", "watchdog"))
	if err != nil {
		return nil, err
	}
	g.Go(feed)
	return ph.Web, nil
}
