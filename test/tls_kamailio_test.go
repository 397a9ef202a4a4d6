package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deskphone/deskphone/firmware/certs"
)

// Kamailio with its tls module as the external registrar: the Pi's phone registers over TLS,
// trusting Kamailio's certificate through a CA file and checking the IP address in it, and a
// softphone over TLS with SRTP calls it through Kamailio.

// startKamailioTLS runs Kamailio with a TLS listener and a certificate for 127.0.0.1, returned as
// a CA file for the peers. Phones on TLS are reached over their own connections (nathelper).
func startKamailioTLS(t *testing.T, users map[string]string) (k *kamailio, tlsAddr, caFile string) {
	t.Helper()
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so"); err != nil {
		t.Skip("Kamailio's tls module is not installed (apt-get install kamailio-tls-modules)")
	}
	dir := t.TempDir()
	ca, err := certs.Open(dir, nil) // a CA of its own, as an office PBX would have
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Ensure([]string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(dir, certs.CAFile)
	tlsCfg := filepath.Join(dir, "tls.cfg")
	os.WriteFile(tlsCfg, []byte(fmt.Sprintf(`[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
certificate = %s
private_key = %s

[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
`, filepath.Join(dir, certs.CertFile), filepath.Join(dir, certs.CertKeyFile))), 0o600)
	tlsAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t, "tcp"))
	k = startKamailioWith(t, users, func(cfg string) string {
		return strings.NewReplacer(
			"disable_tcp=yes", "disable_tcp=no\nenable_tls=yes",
			"\nlisten=udp:", "\nlisten=tls:"+tlsAddr+"\nlisten=udp:",
			`loadmodule "auth_db.so"`, `loadmodule "auth_db.so"
loadmodule "tls.so"
loadmodule "nathelper.so"
modparam("tls", "config", "`+tlsCfg+`")
modparam("nathelper", "received_avp", "$avp(RECEIVED)")
modparam("registrar", "received_avp", "$avp(RECEIVED)")`,
			`if (!save("location"))`, "if (proto==TLS) { fix_nated_register(); }\n\t\tif (!save(\"location\"))",
			`if (loose_route()) {`, "if (loose_route()) {\n\t\t\thandle_ruri_alias();",
			`record_route();`, "if (proto==TLS) { add_contact_alias(); }\n\t\trecord_route();",
		).Replace(cfg) + "\nonreply_route {\n\tif (proto==TLS && status=~\"^(1|2)\") { add_contact_alias(); }\n}\n"
	})
	return k, tlsAddr, caFile
}

func TestTLSPhoneThroughKamailio(t *testing.T) {
	_, tlsAddr, ca := startKamailioTLS(t, map[string]string{"5002": "pi-secret-5002", "5003": "soft-secret-5003"})
	e := startPhone(t, phoneOptions{noRegistr: true, username: "5002", phoneTOML: fmt.Sprintf(
		"registrar = %q\npassword = \"pi-secret-5002\"\nexpires = \"120s\"\ntransport = \"tls\"\ntls_ca = %q\nsrtp = \"mandatory\"\n", tlsAddr, ca)})
	e.waitStatus(t, "registration", "registered", 10*time.Second)
	b := startBaresip(t, baresipOptions{ext: "5003", user: "5003", pass: "soft-secret-5003", registrar: tlsAddr, toneHz: 600,
		transport: "tls", extraAccount: ";mediaenc=srtp-mand", extraConfig: fmt.Sprintf("sip_cafile %s\nmodule srtp.so\n", ca)})

	b.Command(t, "dial", "sip:5002@"+tlsAddr+";transport=tls")
	e.waitStatus(t, "call", "ringing", 10*time.Second)
	e.mustPost(t, "answer", "")
	n, _ := b.WaitEvent(t, "CALL_ESTABLISHED", 0, 10*time.Second)
	time.Sleep(talkTime)
	if st := e.status(t); fmt.Sprint(mediaField(st, "srtp")) != "AES_CM_128_HMAC_SHA1_80" {
		t.Fatalf("the call through Kamailio is not encrypted: %v", st)
	}
	e.mustPost(t, "hangup", "")
	b.WaitEvent(t, "CALL_CLOSED", n, 10*time.Second)
	e.waitStatus(t, "call", "idle", 5*time.Second)
	requireTone(t, e.Speaker, 600)
	requireTone(t, b.Received(t), 1000)
}
