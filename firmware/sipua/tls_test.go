package sipua

import (
	"crypto/tls"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deskphone/deskphone/firmware/certs"
)

// A TLS server with a certificate for 127.0.0.1 and pbx.test, and the phone's client side
// configured in each way a user can: by CA file, by pinned fingerprint, or the system's roots.
func TestClientTLSVerifiesTheRegistrar(t *testing.T) {
	dir := t.TempDir()
	auth, err := certs.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Ensure([]string{"127.0.0.1", "pbx.test"}); err != nil {
		t.Fatal(err)
	}
	cert, err := auth.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, certs.CAFile)
	fp := certs.Fingerprint(cert.Certificate[0])
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: auth.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	for _, c := range []struct {
		name, registrar, ca, pin string
		wantErr                  string // "" = trusted
	}{
		{"CA file, IP address in the certificate", "127.0.0.1", ca, "", ""},
		{"CA file, host name in the certificate", "pbx.test", ca, "", ""},
		{"CA file, another IP address", "127.0.0.2", ca, "", "valid for 127.0.0.1, not 127.0.0.2"},
		{"CA file, another name", "other.test", ca, "", "not other.test"},
		{"pinned", "10.9.9.9", "", strings.ToLower(strings.ReplaceAll(fp, ":", "")), ""},
		{"pinned another", "127.0.0.1", "", strings.Repeat("00", 32), "not the pinned"},
		{"system roots", "127.0.0.1", "", "", fp}, // the message names the certificate to check and pin
	} {
		t.Run(c.name, func(t *testing.T) {
			conf, err := clientTLS(net.JoinHostPort(c.registrar, port), c.ca, c.pin)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := net.Dial("tcp", l.Addr().String()) // the name is checked, not resolved
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			err = tls.Client(raw, conf).Handshake()
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.wantErr != "" && (err == nil || !errors.Is(err, ErrUntrustedServer) || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("got %v, want a refusal saying %q", err, c.wantErr)
			}
		})
	}
	if _, err := clientTLS("127.0.0.1:5061", filepath.Join(dir, certs.CAKeyFile), ""); err == nil {
		t.Error("a CA file without certificates was accepted")
	}
	if _, err := clientTLS("127.0.0.1:5061", "", "12:34"); err == nil {
		t.Error("a malformed fingerprint was accepted")
	}
}
