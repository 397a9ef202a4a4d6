// Package certs is the Pi's own small certificate authority: an ECDSA P-256 CA made on first
// start, and the HTTPS server certificate it issues for the Pi's current addresses and names,
// issued again when they change or near expiry. A user trusts the CA once (after comparing its
// SHA-256 fingerprint with the one the console prints) and the Pi can change address freely.
package certs

import (
	"bytes"
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
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/deskphone/deskphone/firmware/atomicfile"
)

// File names inside the folder given to Open.
const (
	CAFile      = "ca.crt"
	CAKeyFile   = "ca.key"
	CertFile    = "server.crt"
	CertKeyFile = "server.key"
)

const (
	caLifetime   = 10 * 365 * 24 * time.Hour
	leafLifetime = 397 * 24 * time.Hour // the longest browsers accept
	renewBefore  = 30 * 24 * time.Hour
)

// Authority holds the CA and the current server certificate. It is safe for concurrent use.
type Authority struct {
	dir string
	now func() time.Time

	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	caPEM []byte

	mu    sync.Mutex
	leaf  *tls.Certificate
	hosts []string // the names and addresses the leaf was issued for, sorted
}

// Open loads the CA from dir, or creates it (and dir, mode 0700) when there is none. now may be
// nil (time.Now). Call Ensure before serving.
func Open(dir string, now func() time.Time) (*Authority, error) {
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("certificate folder: %w", err)
	}
	a := &Authority{dir: dir, now: now}
	certPEM, errC := os.ReadFile(filepath.Join(dir, CAFile))
	keyPEM, errK := os.ReadFile(filepath.Join(dir, CAKeyFile))
	switch {
	case errC == nil && errK == nil:
		if err := a.loadCA(certPEM, keyPEM); err != nil {
			return nil, fmt.Errorf("the local certificate authority in %s is damaged (remove %s and %s to make a new one, then trust it again): %w",
				dir, CAFile, CAKeyFile, err)
		}
	case errors.Is(errC, os.ErrNotExist) && errors.Is(errK, os.ErrNotExist):
		if err := a.createCA(); err != nil {
			return nil, err
		}
	case errC != nil && !errors.Is(errC, os.ErrNotExist):
		return nil, fmt.Errorf("read the local certificate authority: %w", errC)
	case errK != nil && !errors.Is(errK, os.ErrNotExist):
		return nil, fmt.Errorf("read the local certificate authority's key: %w", errK)
	default:
		return nil, fmt.Errorf("the local certificate authority in %s has only one of %s and %s: remove it to make a new one", dir, CAFile, CAKeyFile)
	}
	a.loadLeaf()
	return a, nil
}

func (a *Authority) loadCA(certPEM, keyPEM []byte) error {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return errors.New("not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return err
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return errors.New("the key does not belong to the certificate")
	}
	a.ca, a.caKey, a.caPEM = cert, key, certPEM
	return nil
}

func (a *Authority) createCA() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("make the certificate authority's key: %w", err)
	}
	host, _ := os.Hostname()
	serial, err := serialNumber()
	if err != nil {
		return err
	}
	now := a.now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "deskphone " + host + " local CA " + serial.Text(16)[:8], Organization: []string{"deskphone"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("make the certificate authority: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := atomicfile.Write(filepath.Join(a.dir, CAKeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return fmt.Errorf("store the certificate authority's key: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(a.dir, CAFile), certPEM, 0o600); err != nil {
		return fmt.Errorf("store the certificate authority: %w", err)
	}
	return a.loadCA(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}

// loadLeaf picks up a server certificate from an earlier run if this CA signed it.
func (a *Authority) loadLeaf() {
	c, err := tls.LoadX509KeyPair(filepath.Join(a.dir, CertFile), filepath.Join(a.dir, CertKeyFile))
	if err != nil || c.Leaf == nil {
		return
	}
	if c.Leaf.CheckSignatureFrom(a.ca) != nil {
		return
	}
	a.leaf = &c
	a.hosts = leafHosts(c.Leaf)
}

func leafHosts(c *x509.Certificate) []string {
	out := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	slices.Sort(out)
	return out
}

// Ensure makes sure the server certificate covers exactly hosts (names and IP addresses) and is
// not close to expiry, issuing a new one when not. It reports whether it issued one.
func (a *Authority) Ensure(hosts []string) (bool, error) {
	want := normalize(hosts)
	if len(want) == 0 {
		return false, errors.New("no name or address to issue the server certificate for")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.leaf != nil && slices.Equal(a.hosts, want) && a.now().Add(renewBefore).Before(a.leaf.Leaf.NotAfter) {
		return false, nil
	}
	leaf, err := a.issue(want)
	if err != nil {
		return false, err
	}
	a.leaf, a.hosts = leaf, want
	return true, nil
}

func normalize(hosts []string) []string {
	var out []string
	for _, h := range hosts {
		h = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(h), "."))
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			h = ip.String()
		}
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	slices.Sort(out)
	return out
}

func (a *Authority) issue(hosts []string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("make the server key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	now := a.now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(leafLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.ca, &key.PublicKey, a.caKey)
	if err != nil {
		return nil, fmt.Errorf("issue the server certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if err := atomicfile.Write(filepath.Join(a.dir, CertKeyFile), keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("store the server key: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(a.dir, CertFile), append(certPEM, a.caPEM...), 0o600); err != nil {
		return nil, fmt.Errorf("store the server certificate: %w", err)
	}
	c, err := tls.X509KeyPair(append(certPEM, a.caPEM...), keyPEM)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// GetCertificate serves the current server certificate (tls.Config.GetCertificate).
func (a *Authority) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.leaf == nil {
		return nil, errors.New("no server certificate issued yet")
	}
	return a.leaf, nil
}

// Hosts lists what the current server certificate covers.
func (a *Authority) Hosts() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.hosts)
}

// CAPEM is the CA certificate in PEM, served at /ca.crt.
func (a *Authority) CAPEM() []byte { return bytes.Clone(a.caPEM) }

// Pool is a certificate pool trusting only this CA (for clients such as deskphone ctl).
func (a *Authority) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.ca)
	return p
}

// Fingerprint is the SHA-256 fingerprint of the CA certificate as browsers and
// `openssl x509 -fingerprint -sha256` show it: upper-case hex pairs joined by colons.
func (a *Authority) Fingerprint() string { return Fingerprint(a.ca.Raw) }

// Fingerprint formats the SHA-256 of a DER certificate as AB:CD:….
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// ParseFingerprint reads a SHA-256 certificate fingerprint as users paste it (AB:CD:…, abcd…,
// "sha256:" in front) and returns it formatted as Fingerprint does.
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
	var out strings.Builder
	for i, c := range b {
		if i > 0 {
			out.WriteByte(':')
		}
		fmt.Fprintf(&out, "%02X", c)
	}
	return out.String(), nil
}
