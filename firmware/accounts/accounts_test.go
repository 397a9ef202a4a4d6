package accounts

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAddPersistsAndReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "accounts.json")
	cfg := []Account{{Extension: "5002", Username: "rpi", Password: "secret-pass"}}
	d, _, err := Open(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := GeneratePassword(20)
	if err := d.Add(Account{Extension: "5001", Username: "alcatel", Password: pw, MAC: "00809F5607AE", Origin: OriginPaired}); err != nil {
		t.Fatal(err)
	}
	if err := d.Add(Account{Extension: "5002", Username: "other", Password: pw}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate extension accepted: %v", err)
	}
	d2, warns, err := Open(path, cfg)
	if err != nil || len(warns) != 0 {
		t.Fatal(err, warns)
	}
	for _, key := range []string{"alcatel", "5001"} {
		a, ok := d2.Lookup(key)
		if !ok || a.Password != pw {
			t.Fatalf("lookup %s after reload: %+v %v", key, a, ok)
		}
	}
	if a, ok := d2.ByMAC("00:80:9f:56:07:ae"); !ok || a.Extension != "5001" {
		t.Fatalf("ByMAC lower case with colons: %+v %v", a, ok)
	}
	if ext, _ := d2.NextFreeExtension("5001"); ext != "5003" {
		t.Fatalf("next free = %s, want 5003", ext)
	}
	if err := d2.Remove("5002"); !errors.Is(err, ErrFromConfig) {
		t.Fatalf("removing a config account: %v", err)
	}
	if err := d2.Remove("5001"); err != nil {
		t.Fatal(err)
	}
	if _, ok := d2.Lookup("alcatel"); ok {
		t.Fatal("removed account still found")
	}
}

func TestDamagedFileIsAClearErrorAndNotOverwritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "accounts.json")
	os.WriteFile(path, []byte("{not json"), 0o600)
	_, _, err := Open(path, nil)
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v", err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "{not json" {
		t.Fatal("damaged file was changed")
	}
}

func TestGeneratePassword(t *testing.T) {
	a, _ := GeneratePassword(8)
	b, _ := GeneratePassword(8)
	if len(a) < 16 || a == b {
		t.Fatalf("passwords %q %q", a, b)
	}
}

func TestNormalizeMAC(t *testing.T) {
	for in, want := range map[string]string{"00809f5607ae": "00809F5607AE", "00-80-9F-56-07-AE": "00809F5607AE", "00809F5607A": "", "00809F5607AG": "", "../etc/pass": ""} {
		if got := NormalizeMAC(in); got != want {
			t.Errorf("NormalizeMAC(%q) = %q, want %q", in, got, want)
		}
	}
}
