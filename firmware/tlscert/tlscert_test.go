package tlscert

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
)

func TestCreatedOnceKeptPrivateAndValidForItsHosts(t *testing.T) {
	dir := t.TempDir()
	c1, created, err := LoadOrCreate("", "", dir, []string{"192.168.1.2", "deskphone.local"})
	if err != nil || !created {
		t.Fatalf("first start: created %v, %v", created, err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v, want mode 0600", st.Mode(), err)
	}
	c2, created, err := LoadOrCreate("", "", dir, []string{"10.0.0.9"})
	if err != nil || created || Fingerprint(c2.Certificate[0]) != Fingerprint(c1.Certificate[0]) {
		t.Fatalf("second start made another certificate (created %v, %v)", created, err)
	}
	leaf, err := x509.ParseCertificate(c1.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if leaf.VerifyHostname("192.168.1.2") != nil || leaf.VerifyHostname("deskphone.local") != nil {
		t.Fatalf("not valid for its hosts: %v %v", leaf.IPAddresses, leaf.DNSNames)
	}
	if leaf.VerifyHostname("192.168.1.3") == nil {
		t.Fatal("valid for another address")
	}
}

func TestBrokenFilesAreReportedNotReplaced(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, CertFile), []byte("garbage"), 0o644)
	os.WriteFile(filepath.Join(dir, KeyFile), []byte("garbage"), 0o600)
	if _, _, err := LoadOrCreate("", "", dir, nil); err == nil {
		t.Fatal("a broken certificate was accepted")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, CertFile)); string(b) != "garbage" {
		t.Fatal("a broken certificate was overwritten")
	}
	if _, _, err := LoadOrCreate(filepath.Join(dir, "none.crt"), filepath.Join(dir, "none.key"), dir, nil); err == nil {
		t.Fatal("missing configured files accepted")
	}
}

func TestParseFingerprint(t *testing.T) {
	want := "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF"
	for _, in := range []string{want, "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"SHA-256 " + want} {
		if got, err := ParseFingerprint(in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	for _, in := range []string{"", "00:11", "zz" + want[2:], want + ":00"} {
		if _, err := ParseFingerprint(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
