// Package tlscert gives the Pi a TLS certificate for SIP over TLS when none is configured: a
// self-signed one, made once and kept in the data directory, and names certificates by their
// SHA-256 fingerprint so that a phone can pin the one it trusts.
package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/deskphone/deskphone/firmware/atomicfile"
)

// File names of the generated certificate and key in the data directory.
const (
	CertFile = "sip-tls.crt"
	KeyFile  = "sip-tls.key"
)

// validity of a generated certificate: the Pi has no one to renew it for it.
const validity = 10 * 365 * 24 * time.Hour

// LoadOrCreate loads certFile and keyFile, or when both are empty, the self-signed certificate
// in dir, creating it (key mode 0600) for hosts (names and IP addresses) if it does not exist
// yet. created tells whether it was made now.
func LoadOrCreate(certFile, keyFile, dir string, hosts []string) (cert tls.Certificate, created bool, err error) {
	if certFile != "" || keyFile != "" {
		cert, err = tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return cert, false, fmt.Errorf("TLS certificate %s with key %s: %w", certFile, keyFile, err)
		}
		return cert, false, nil
	}
	if dir == "" {
		return cert, false, errors.New("no TLS certificate configured and no data directory to keep a generated one in")
	}
	certFile, keyFile = filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	cert, err = tls.LoadX509KeyPair(certFile, keyFile)
	if err == nil {
		return cert, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return cert, false, fmt.Errorf("TLS certificate %s: %w (delete both files to make a new one)", certFile, err)
	}
	certPEM, keyPEM, err := selfSigned(hosts, time.Now())
	if err != nil {
		return cert, false, err
	}
	if err := atomicfile.Write(keyFile, keyPEM, 0o600); err != nil {
		return cert, false, fmt.Errorf("save TLS key: %w", err)
	}
	if err := atomicfile.Write(certFile, certPEM, 0o644); err != nil {
		return cert, false, fmt.Errorf("save TLS certificate: %w", err)
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	return cert, true, err
}

// selfSigned makes an ECDSA P-256 certificate for hosts, valid from now.
func selfSigned(hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("TLS serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "deskphone", Organization: []string{"deskphone"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so that a softphone can import it as its own authority
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("TLS certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("TLS key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// Fingerprint is the SHA-256 of a DER certificate as "AB:CD:…" (the form browsers and
// `openssl x509 -fingerprint -sha256` show).
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return colonHex(sum[:])
}

func colonHex(b []byte) string {
	h := strings.ToUpper(hex.EncodeToString(b))
	var out strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			out.WriteByte(':')
		}
		out.WriteString(h[i : i+2])
	}
	return out.String()
}

// ParseFingerprint accepts a SHA-256 fingerprint with or without colons, in either case, with an
// optional "sha256:" or "SHA-256 " prefix, and returns it in Fingerprint's form.
func ParseFingerprint(s string) (string, error) {
	t := strings.TrimSpace(s)
	for _, p := range []string{"sha256:", "sha-256:", "sha256 ", "sha-256 "} {
		if len(t) > len(p) && strings.EqualFold(t[:len(p)], p) {
			t = strings.TrimSpace(t[len(p):])
		}
	}
	b, err := hex.DecodeString(strings.ReplaceAll(t, ":", ""))
	if err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("%q is not a SHA-256 certificate fingerprint (64 hex digits, colons allowed)", s)
	}
	return colonHex(b), nil
}
