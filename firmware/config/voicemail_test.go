package config

import (
	"errors"
	"strings"
	"testing"
)

func TestVoicemailSettings(t *testing.T) {
	f, err := Parse("ok.toml", []byte("[voicemail]\nenabled = true\nno_answer = \"15s\"\nquota_mb = 8\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !f.Voicemail.Enabled || f.Voicemail.NoAnswer.Seconds() != 15 || f.Voicemail.QuotaMB != 8 || f.Voicemail.MaxMessage.Seconds() != 120 {
		t.Fatalf("parsed %+v", f.Voicemail)
	}
	cfg := `[registrar]
enabled = false
[phone]
password = "a-long-password"
[provisioning]
enabled = false
[voicemail]
enabled = true
no_answer = "0s"
max_message = "2h"
silence = "0s"
quota_mb = 0
`
	_, err = Parse("bad.toml", []byte(cfg))
	var p *Problems
	if !errors.As(err, &p) {
		t.Fatalf("want problems, got %v", err)
	}
	got := map[string]int{}
	for _, pr := range p.List {
		got[pr.Key] = pr.Line
	}
	for key, line := range map[string]int{"voicemail.enabled": 8, "voicemail.no_answer": 9, "voicemail.max_message": 10, "voicemail.silence": 11, "voicemail.quota_mb": 12} {
		if got[key] != line {
			t.Errorf("%s: line %d, want %d (problems: %v)", key, got[key], line, err)
		}
	}
	if !strings.Contains(err.Error(), "built-in registrar") {
		t.Errorf("no word about the registrar: %v", err)
	}
}

// Voicemail is on by default wherever the built-in registrar is, and quietly off (no problem
// reported) with an external registrar.
func TestVoicemailDefaultFollowsTheRegistrar(t *testing.T) {
	f, err := Parse("default.toml", []byte(""))
	if err != nil || !f.Voicemail.Enabled {
		t.Fatalf("default: voicemail %+v, err %v; want it on", f.Voicemail, err)
	}
	if _, err := Parse("external.toml", []byte("[registrar]\nenabled = false\n[phone]\nregistrar = \"pbx.office.lan:5060\"\npassword = \"a-long-password\"\n[provisioning]\nenabled = false\n")); err != nil {
		t.Fatalf("an external registrar with voicemail left at its default: %v", err)
	}
}
