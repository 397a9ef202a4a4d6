package registrar

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
)

// SIP over TLS (RFC 3261 §26.2, RFC 5630): a third listener beside UDP and TCP, served by the
// same stack. A phone registered over TLS is reached over its own connection (the binding's
// source), and the proxy keeps each leg on the transport its phone uses, record-routing once per
// side (forwardCopy), so a TLS softphone and a UDP desk phone can call each other.

// DefaultTLSListen is where deskphone.toml's [registrar] tls_listen points by default (RFC 3261
// §26.2: port 5061). The registrar's own DefaultConfig leaves TLS off: it needs a certificate.
const DefaultTLSListen = "0.0.0.0:5061"

// listenTLS opens Config.TLSListen, or returns nil when TLS is off. A port already taken is
// reported and leaves TLS off: the UDP and TCP phones keep their service.
func (r *Registrar) listenTLS() (net.Listener, error) {
	if r.cfg.TLSListen == "" {
		return nil, nil
	}
	if r.cfg.TLS == nil || (len(r.cfg.TLS.Certificates) == 0 && r.cfg.TLS.GetCertificate == nil) {
		return nil, errors.New("registrar: SIP over TLS needs a certificate")
	}
	l, err := net.Listen("tcp", r.cfg.TLSListen)
	if err != nil {
		r.log.Error("registrar cannot listen for SIP over TLS; TLS phones cannot register", "tls_listen", r.cfg.TLSListen, "err", err)
		return nil, nil
	}
	r.mu.Lock()
	r.tlsPort = l.Addr().(*net.TCPAddr).Port
	r.mu.Unlock()
	return l, nil
}

// serveTLS serves SIP over TLS on l (TCP connections under the TCP limits; the handshake runs
// on each accepted connection).
func (r *Registrar) serveTLS(l net.Listener) error {
	conf := r.cfg.TLS.Clone()
	conf.MinVersion = max(conf.MinVersion, tls.VersionTLS12)
	return r.srv.ServeTLS(tls.NewListener(l, conf))
}

// TLSAddr is the TLS address Run listens on (valid after Ready), nil when TLS is off.
func (r *Registrar) TLSAddr() net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tlsPort == 0 {
		return nil
	}
	host, _, _ := net.SplitHostPort(r.cfg.TLSListen)
	return &net.TCPAddr{IP: net.ParseIP(host), Port: r.tlsPort}
}

// portFor is the port the proxy is reached on over transport. Called with r.mu held.
func (r *Registrar) portFor(transport string) int {
	if strings.EqualFold(transport, "TLS") && r.tlsPort != 0 {
		return r.tlsPort
	}
	return r.listenPort
}
