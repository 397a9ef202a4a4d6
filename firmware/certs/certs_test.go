package certs

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func verify(t *testing.T, a *Authority, host string) error {
	t.Helper()
	c, err := a.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: a.Pool(), CurrentTime: a.now()})
	return err
}

func TestFirstStartMakesCAAndKeepsItAcrossRestarts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	a, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Ensure([]string{"192.168.1.20", "deskphone", "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{CAKeyFile, CertKeyFile, CAFile, CertFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	if fp := a.Fingerprint(); len(fp) != 95 || strings.Count(fp, ":") != 31 {
		t.Fatalf("fingerprint %q is not 32 colon-separated hex pairs", fp)
	}
	for _, h := range []string{"192.168.1.20", "deskphone", "127.0.0.1"} {
		if err := verify(t, a, h); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	if err := verify(t, a, "attacker.example"); err == nil {
		t.Error("certificate valid for a name it was not issued for")
	}

	b, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.Fingerprint() != a.Fingerprint() {
		t.Fatal("the CA changed on restart: users would have to trust it again")
	}
	issued, err := b.Ensure([]string{"deskphone", "127.0.0.1", "192.168.1.20"})
	if err != nil || issued {
		t.Fatalf("same names after restart: issued=%v err=%v, want the stored certificate", issued, err)
	}
}

func TestNewAddressOrExpiryIssuesNewCertificateFromSameCA(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	a, err := Open(t.TempDir(), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	fp := a.Fingerprint()
	if issued, err := a.Ensure([]string{"192.168.1.20"}); err != nil || !issued {
		t.Fatalf("first: issued=%v err=%v", issued, err)
	}
	if issued, _ := a.Ensure([]string{"192.168.1.20"}); issued {
		t.Fatal("issued again for the same address")
	}
	if issued, _ := a.Ensure([]string{"192.168.1.21"}); !issued {
		t.Fatal("DHCP gave a new address but the certificate was not issued again")
	}
	if err := verify(t, a, "192.168.1.21"); err != nil {
		t.Fatal(err)
	}
	if err := verify(t, a, "192.168.1.20"); err == nil {
		t.Fatal("old address still covered")
	}
	now = now.Add(380 * 24 * time.Hour)
	if issued, _ := a.Ensure([]string{"192.168.1.21"}); !issued {
		t.Fatal("certificate close to expiry not renewed")
	}
	if err := verify(t, a, "192.168.1.21"); err != nil {
		t.Fatal(err)
	}
	if a.Fingerprint() != fp {
		t.Fatal("CA changed")
	}
}

func TestDamagedCAIsReportedNotReplaced(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, CAKeyFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, nil)
	if err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("err = %v, want a damaged-CA error", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, CAKeyFile)); string(b) != "garbage" {
		t.Fatal("the damaged key was overwritten")
	}
	if _, err := Open(dir, nil); err == nil {
		t.Fatal("second open succeeded")
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
