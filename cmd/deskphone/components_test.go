package main

import (
	"testing"

	"github.com/deskphone/deskphone/firmware/config"
)

// The start waits for the phone's first registration only when the phone registers to the
// built-in registrar; with an external one (which may be unreachable) nothing waits.
func TestRegistersToBuiltIn(t *testing.T) {
	for _, c := range []struct {
		registrar string
		want      bool
	}{
		{"", true},
		{"127.0.0.1:5060", true},
		{"localhost:5060", true},
		{"127.0.0.1:5070", false},
		{"192.168.1.10:5060", false},
		{"pbx.example.com:5060", false},
	} {
		f := config.Default()
		f.Registrar.Enabled, f.Phone.Enabled = true, true
		f.Registrar.Listen = "0.0.0.0:5060"
		f.Phone.Registrar = c.registrar
		if got := registersToBuiltIn(f); got != c.want {
			t.Errorf("phone registrar %q: registersToBuiltIn = %v, want %v", c.registrar, got, c.want)
		}
	}
	f := config.Default()
	f.Registrar.Enabled, f.Phone.Enabled = false, true
	if registersToBuiltIn(f) {
		t.Error("no built-in registrar, yet the start waits for it")
	}
}
