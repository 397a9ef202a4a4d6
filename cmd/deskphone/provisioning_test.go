package main

import (
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/deskphone/deskphone/firmware/accounts"
	"github.com/deskphone/deskphone/firmware/config"
	"github.com/deskphone/deskphone/provisioning"
)

// TestCtlPairOpensTheWindow: `deskphone ctl pair` against the real API handler opens and closes the
// window; with pairing off it fails with the reason.
func TestCtlPairOpensTheWindow(t *testing.T) {
	f := config.Default()
	f.DataDir = t.TempDir()
	f.Provisioning.FirmwareDir = filepath.Join(f.DataDir, "alcatel")
	dir, _, err := accounts.Open(filepath.Join(f.DataDir, "accounts.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := newProvisioning(f, dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(srv.APIHandler())
	defer api.Close()
	if code := ctlPair(api.URL, nil, []string{"-seconds", "60"}); code != 0 {
		t.Fatalf("ctl pair = %d", code)
	}
	if rep := srv.Status().(provisioning.StatusReport); !rep.Pairing.Open || rep.Pairing.SecondsLeft != 60 {
		t.Fatalf("window after ctl pair: %+v", rep.Pairing)
	}
	if code := ctlPair(api.URL, nil, []string{"-close"}); code != 0 || srv.Status().(provisioning.StatusReport).Pairing.Open {
		t.Fatalf("ctl pair -close = %d", code)
	}
	if code := ctlPair(api.URL, nil, []string{"-seconds", "0"}); code != 2 {
		t.Fatalf("bad -seconds = %d, want 2", code)
	}
	if code := ctlPair("http://127.0.0.1:1", nil, nil); code != 1 {
		t.Fatalf("no service = %d, want 1", code)
	}

	f.Provisioning.Pairing = "off"
	off, err := newProvisioning(f, dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	api2 := httptest.NewServer(off.APIHandler())
	defer api2.Close()
	if code := ctlPair(api2.URL, nil, nil); code != 1 {
		t.Fatalf("ctl pair with pairing off = %d, want 1", code)
	}
}

// TestNewProvisioningDisabled: a disabled section gives no server and no error.
func TestNewProvisioningDisabled(t *testing.T) {
	f := config.Default()
	f.Provisioning.Enabled = false
	srv, err := newProvisioning(f, nil, slog.New(slog.DiscardHandler))
	if srv != nil || err != nil {
		t.Fatal(srv, err)
	}
}
