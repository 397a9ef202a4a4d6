package sipua

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/firmware/certs"
)

// SIP over TLS to the registrar (RFC 3261 §26.2.1, RFC 5922): the phone checks the server's
// certificate against, in this order, a pinned SHA-256 fingerprint (Config.TLSFingerprint), a CA
// file (Config.TLSCAFile) or the system's authorities, and the name or IP address it dialled
// (RFC 5922 §7.2: an IP address must be an IP SAN, a name a DNS SAN). There is no TLS listener:
// the registrar reaches the phone over the connection the phone opened.

// ErrUntrustedServer: the registrar's certificate failed verification; the error says why and
// gives its fingerprint.
var ErrUntrustedServer = errors.New("the registrar's TLS certificate is not trusted")

// clientTLS is the TLS configuration the phone dials registrar ("host:port") with.
func clientTLS(registrar, caFile, fingerprint string) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(registrar)
	if err != nil {
		return nil, fmt.Errorf("registrar %q: %w", registrar, err)
	}
	var pin string
	if fingerprint != "" {
		if pin, err = certs.ParseFingerprint(fingerprint); err != nil {
			return nil, fmt.Errorf("tls_fingerprint: %w", err)
		}
	}
	var roots *x509.CertPool // nil: the system's
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("tls_ca: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls_ca %s holds no PEM certificate", caFile)
		}
	}
	verify := func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("registrar %s sent no certificate: %w", registrar, ErrUntrustedServer)
		}
		leaf := cs.PeerCertificates[0]
		fp := certs.Fingerprint(leaf.Raw)
		if pin != "" {
			if fp != pin {
				return fmt.Errorf("registrar %s presented a certificate with SHA-256 %s, not the pinned %s: %w", registrar, fp, pin, ErrUntrustedServer)
			}
			return nil
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: host}); err != nil {
			return fmt.Errorf("registrar %s (certificate %q, SHA-256 %s): %w: %w; trust it with tls_ca or, once checked on the server, tls_fingerprint",
				registrar, leaf.Subject.CommonName, fp, ErrUntrustedServer, err)
		}
		return nil
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: host,
		// The checks run in VerifyConnection (pinning is not expressible otherwise), with the
		// same chain and host name rules as the default verifier.
		InsecureSkipVerify: true,
		VerifyConnection:   verify,
	}, nil
}

// noAnswer words a failed request to the registrar: a refused certificate is not silence.
func noAnswer(addr string, err error) error {
	if errors.Is(err, ErrUntrustedServer) {
		return fmt.Errorf("refused the TLS connection to %s: %w", addr, err)
	}
	return fmt.Errorf("no answer from %s: %w", addr, err)
}

// plainOverTLS refuses a call that reaches a phone set to TLS over plain UDP or TCP: its answer
// would carry the SRTP keys in the clear (RFC 4568 §8.3). It reports whether it answered.
func (u *UA) plainOverTLS(req *sip.Request, tx sip.ServerTransaction) bool {
	if u.cfg.Transport != "tls" || strings.EqualFold(req.Transport(), "TLS") {
		return false
	}
	u.log.Info("call refused: not over TLS", "src", req.Source(), "transport", req.Transport(), "from", peerOf(req))
	tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden (this phone takes calls over TLS only)", nil))
	return true
}
