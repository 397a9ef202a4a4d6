package main

import (
	"context"
	"log/slog"

	"golang.org/x/sync/errgroup"

	"github.com/deskphone/deskphone/firmware/accounts"
	"github.com/deskphone/deskphone/firmware/config"
)

// startComponents starts each enabled part of the appliance in g. Components are started in
// dependency order: registrar, then the phone that registers to it, then the web API and the
// Alcatel provisioning that report on both.
func startComponents(ctx context.Context, g *errgroup.Group, f *config.File, dir *accounts.Directory, log *slog.Logger) error {
	// registrar: newRegistrar (registrar.go)
	// phone + web API: newPhone (phone.go)
	// Alcatel provisioning: newProvisioning (provisioning.go)
	// hardware: runHardware (hardware.go)
	// watchdog: startWatchdog (watchdog.go)
	return nil
}
