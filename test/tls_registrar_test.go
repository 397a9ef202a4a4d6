package e2e

import (
	"encoding/pem"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deskphone/deskphone/firmware/certs"
)

// SIP over TLS at the registrar: the certificate it makes on first start, a TLS softphone and a
// UDP one calling each other through the proxy.

// tlsRegEnv is a registrar with a TLS listener on a free loopback port.
type tlsRegEnv struct {
	*regEnv
	TLSPort int
	TLSAddr string // 127.0.0.1:port
	CAFile  string // the Pi's certificate authority, for peers to trust
	SHA256  string // its fingerprint, as logged
}

func startTLSRegistrar(t *testing.T, extra string) *tlsRegEnv {
	t.Helper()
	return startTLSRegistrarSRTP(t, extra, nil)
}

// startTLSRegistrarSRTP is startTLSRegistrar with an srtp policy for some accounts.
func startTLSRegistrarSRTP(t *testing.T, extra string, srtp map[string]string) *tlsRegEnv {
	t.Helper()
	port := freePort(t, "tcp")
	if !strings.Contains(extra, "srtp_bridge_port_min") {
		// The SRTP bridge's ports stay below the range the phones' RTP ports come from
		// (freePort), so a capture of one phone's ports never sees the bridge's other leg.
		lo := 10000 + rand.IntN(30)*200
		extra = fmt.Sprintf("srtp_bridge_port_min = %d\nsrtp_bridge_port_max = %d\n", lo, lo+199) + extra
	}
	e := startRegistrarSRTP(t, fmt.Sprintf("tls_listen = \"127.0.0.1:%d\"\n%s", port, extra), srtp)
	e.WaitLog(t, "registrar listening for SIP over TLS", 10*time.Second)
	// The authority opens in the background (after the Pi's phone registers, when it has one).
	e.WaitLog(t, "SIP over TLS: certificate from the Pi's certificate authority", 10*time.Second)
	m := regexp.MustCompile(`SIP over TLS: certificate from the Pi's certificate authority.*ca_fingerprint_sha256=([0-9A-F:]{95})`).FindStringSubmatch(e.Logs())
	if m == nil {
		t.Fatalf("the registrar did not log the fingerprint of the authority that signs its certificate:\n%s", e.Logs())
	}
	ca := filepath.Join(e.DataDir, "tls", certs.CAFile)
	pemCA, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	if blk, _ := pem.Decode(pemCA); blk == nil || certs.Fingerprint(blk.Bytes) != m[1] {
		t.Fatalf("%s is not the authority whose fingerprint the console shows (%s)", ca, m[1])
	}
	for _, k := range []string{certs.CAKeyFile, certs.CertKeyFile} {
		st, err := os.Stat(filepath.Join(e.DataDir, "tls", k))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("the TLS key %s in data_dir: %v; want mode 0600", k, err)
		}
	}
	return &tlsRegEnv{regEnv: e, TLSPort: port, TLSAddr: fmt.Sprintf("127.0.0.1:%d", port), CAFile: ca, SHA256: m[1]}
}

// useTLS turns b into a softphone registering over TLS (trusting e's certificate) with media
// encryption mediaenc ("srtp", "srtp-mand" or "" for none).
func (b *regBaresip) useTLS(t *testing.T, e *tlsRegEnv, user, pass, mediaenc string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(b.Dir, "config"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "sip_cafile %s\nmodule srtp.so\n", e.CAFile)
	f.Close()
	enc := ""
	if mediaenc != "" {
		enc = ";mediaenc=" + mediaenc
	}
	acct := fmt.Sprintf("<sip:%s@%s;transport=tls>;auth_pass=%s;regint=600;audio_codecs=PCMU;answermode=auto%s\n",
		user, e.TLSAddr, pass, enc)
	if err := os.WriteFile(filepath.Join(b.Dir, "accounts"), []byte(acct), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A softphone over TLS with SRTP and a UDP softphone (as the Alcatel would be) call each other
// through the registrar; both hear the other's tone.
func TestTLSSoftphoneCallsUDPPhone(t *testing.T) {
	e := startTLSRegistrar(t, "")
	capt := startCapture(t, fmt.Sprintf("tcp port %d", e.TLSPort))
	tlsPhone := newRegBaresip(t, e.regEnv, "guillaume", "guillaume-secret-3", 440)
	tlsPhone.useTLS(t, e, "guillaume", "guillaume-secret-3", "srtp")
	udpPhone := newRegBaresip(t, e.regEnv, "alcatel", "alcatel-secret-1", 1000)

	waitUDP := udpPhone.run(t, 14)
	e.WaitLog(t, `aor=alcatel`, 10*time.Second)
	waitTLS := tlsPhone.run(t, 10, "/dial sip:5001@"+e.TLSAddr+";transport=tls")
	tlsOut, udpOut := waitTLS(), waitUDP()
	if !strings.Contains(tlsOut, "established") || !strings.Contains(udpOut, "established") {
		t.Fatalf("the call was not established:\nTLS phone:\n%s\nUDP phone:\n%s", lastLines(tlsOut, 40), lastLines(udpOut, 30))
	}
	if !regexp.MustCompile(`msg="phone registered" component=registrar aor=guillaume.*transport=TLS`).MatchString(e.Logs()) {
		t.Errorf("the TLS phone's binding is not over TLS:\n%s", e.Logs())
	}
	requireRegTone(t, "TLS phone (caller)", tlsPhone.decoded(t), 1000)
	requireRegTone(t, "UDP phone (callee)", udpPhone.decoded(t), 440)

	// The TLS leg's signalling is unreadable. (The softphone's audio is SRTP on its leg, bridged
	// to plain RTP for the UDP phone by the Pi: tls_bridge_test.go checks the wire.)
	pkts := capt.packets(t)
	requireNoPlainSIP(t, pkts, e.TLSPort)
}
