package e2e

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A new user's first steps: http:// leads to https://, the CA served on plain HTTP has the
// fingerprint the console and `ctl status` print, and the pages load trusting only that CA.
func TestWebHTTPSFromTheLocalCA(t *testing.T) {
	e := startWeb(t, phoneOptions{})
	blk, _ := pem.Decode(e.CAPEM)
	if blk == nil {
		t.Fatal("no PEM in /ca.crt")
	}
	sum := sha256.Sum256(blk.Bytes)
	var hex []string
	for _, b := range sum {
		hex = append(hex, fmt.Sprintf("%02X", b))
	}
	if fp := strings.Join(hex, ":"); fp != e.Fingerprint {
		t.Fatalf("/ca.crt fingerprint %s, status says %s", fp, e.Fingerprint)
	}
	if !strings.Contains(e.Logs(), e.Fingerprint) {
		t.Fatal("the console does not print the CA fingerprint")
	}
	if out := e.ctl(t, "status"); !strings.Contains(out, "certificate authority SHA-256: "+e.Fingerprint) || !strings.Contains(out, "web: "+e.Base) {
		t.Fatalf("ctl status:\n%s", out)
	}
	ca, err := x509.ParseCertificate(blk.Bytes)
	if err != nil || !ca.IsCA {
		t.Fatalf("ca.crt: %v", err)
	}
	for _, f := range []string{"ca.key", "server.key"} {
		st, err := os.Stat(filepath.Join(e.DataDir, "tls", f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, err, st)
		}
	}

	c := e.client(t, "")
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := plain.Get(e.Plain + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != e.Base+"/" {
		t.Fatalf("http:// answered %d %q, want a redirect to %s/", res.StatusCode, res.Header.Get("Location"), e.Base)
	}
	if code, body := do(t, c, "GET", e.Base+"/", "", nil); code != http.StatusSeeOther {
		t.Fatalf("https:// without login: %d %s", code, body)
	}
	if code, body := do(t, c, "GET", e.Base+"/login", "", nil); code != 200 || !strings.Contains(body, e.Fingerprint) {
		t.Fatalf("login page: %d", code)
	}
	// The token keeps working for scripts, over HTTPS.
	if code, body := do(t, c, "GET", e.Base+"/api/v1/status", "", map[string]string{"Authorization": "Bearer " + e.Token}); code != 200 || !strings.Contains(body, `"registered"`) {
		t.Fatalf("token over HTTPS: %d %s", code, body)
	}
	// ctl from another machine: HTTPS, the CA file, the token.
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	os.WriteFile(caFile, e.CAPEM, 0o644)
	out, err := exec.Command(deskphoneBinary(t), "ctl", "--config", "/nonexistent.toml", "--url", e.Base, "--ca", caFile, "--token", e.Token, "status").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "registration: registered") {
		t.Fatalf("ctl over HTTPS: %v\n%s", err, out)
	}
	out, err = exec.Command(deskphoneBinary(t), "ctl", "--config", "/nonexistent.toml", "--url", e.Base, "--token", e.Token, "status").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--ca") {
		t.Fatalf("ctl over HTTPS without the CA: %v\n%s", err, out)
	}
	if !strings.Contains(e.Logs(), strings.Replace(e.Plain, "http://", "http://", 1)+"/ca.crt once") {
		t.Errorf("the console does not say where the CA is (%s/ca.crt)", e.Plain)
	}
	// Restarting keeps the CA: a browser that trusted it once still does.
	e.Stop()
	e.start(t)
	res, err = http.Get(e.Plain + "/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("X-Certificate-SHA256") != e.Fingerprint {
		t.Fatal("the CA changed on restart")
	}
}

// The attacks of the issue, against the running service: each is refused and dials nothing.
func TestWebRefusesRebindingCrossSiteBruteForceAndWrongToken(t *testing.T) {
	e := startWeb(t, phoneOptions{})
	c := e.client(t, "")
	plain := &http.Client{}
	calls := func() int { return len(e.callLog(t)) + strings.Count(e.Logs(), "INVITE sip:5003") }
	before := calls()

	// DNS rebinding: the browser believes it talks to attacker.example.
	for _, u := range []string{e.Base + "/api/v1/dial", e.Plain + "/api/v1/dial"} {
		cl := c
		if strings.HasPrefix(u, "http:") {
			cl = plain
		}
		if code, body := do(t, cl, "POST", u, `{"to":"5003"}`, map[string]string{"Host": "attacker.example", "Content-Type": "application/json"}); code != http.StatusMisdirectedRequest {
			t.Errorf("rebinding Host to %s: %d %s", u, code, body)
		}
	}
	// Cross-site POST with text/plain (no CORS preflight), to both listeners.
	for _, u := range []string{e.Base + "/api/v1/dial", e.Plain + "/api/v1/dial"} {
		cl := c
		if strings.HasPrefix(u, "http:") {
			cl = plain
		}
		if code, body := do(t, cl, "POST", u, `{"to":"5003"}`, map[string]string{"Content-Type": "text/plain", "Origin": "http://attacker.example", "Sec-Fetch-Site": "cross-site"}); code != http.StatusForbidden {
			t.Errorf("cross-site text/plain POST to %s: %d %s", u, code, body)
		}
	}
	// Brute force from one LAN host: banned, even with the right password afterwards; another host logs in.
	attacker := e.client(t, "127.0.1.31")
	login := func(cl *http.Client, pw string) int {
		code, _ := do(t, cl, "POST", e.Base+"/login", url.Values{"password": {pw}}.Encode(),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": e.Base})
		return code
	}
	for i := 0; i < 5; i++ {
		if code := login(attacker, fmt.Sprintf("guess%d", i)); code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i, code)
		}
	}
	if code := login(attacker, e.Password); code != http.StatusForbidden {
		t.Fatalf("banned host logged in with the right password: %d", code)
	}
	if code := login(e.client(t, "127.0.1.32"), e.Password); code != http.StatusSeeOther {
		t.Fatalf("another host cannot log in: %d", code)
	}
	if !strings.Contains(e.Logs(), `msg="web: source banned" component=web source=127.0.1.31`) {
		t.Error("the ban is not logged")
	}
	// Wrong token from a script on the LAN.
	guesser := e.client(t, "127.0.1.33")
	if code, _ := do(t, guesser, "GET", e.Base+"/api/v1/status", "", map[string]string{"Authorization": "Bearer not-the-token-at-all"}); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", code)
	}
	if code, _ := do(t, guesser, "POST", e.Base+"/api/v1/dial", `{"to":"5003"}`, map[string]string{"Authorization": "Bearer not-the-token-at-all", "Content-Type": "application/json"}); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", code)
	}
	// The LAN gets nothing from the API over plain HTTP, even with the token.
	if code, _ := do(t, e.client(t, "127.0.1.34"), "GET", strings.Replace(e.Plain, "127.0.0.1", "127.0.0.1", 1)+"/api/v1/status", "", map[string]string{"Authorization": "Bearer " + e.Token, "Host": "192.0.2.1"}); code < 400 {
		t.Fatalf("API over plain HTTP from the LAN: %d", code)
	}
	if calls() != before || e.status(t)["call"] != "idle" {
		t.Fatalf("a refused request changed the call state: %v", e.status(t)["call"])
	}
}

// A SIP scanner banned by the registrar shows on the status page's list, and Unban there lets the
// address be answered again at once.
func TestWebListsAndLiftsSIPBans(t *testing.T) {
	e := startWeb(t, phoneOptions{})
	c := e.client(t, "")
	auth := map[string]string{"Authorization": "Bearer " + e.Token}
	src := "127.0.1.41"
	registrar := fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort)
	sipvicious(t, src, false, "svwar", "-e5000-5003", "-m", "OPTIONS", "-p", fmt.Sprint(e.RegistrarPort), "--maximumtime=3", "127.0.0.1")
	if res := newRawUA(t, src, registrar).options(1500 * time.Millisecond); res != "" {
		t.Fatalf("the scanner's address is still answered: %q", res)
	}
	code, body := do(t, c, "GET", e.Base+"/api/v1/bans", "", auth)
	if code != 200 || !strings.Contains(body, `"service": "sip"`) || !strings.Contains(body, `"source": "`+src+`"`) {
		t.Fatalf("bans: %d %s", code, body)
	}
	if code, body := do(t, c, "DELETE", e.Base+"/api/v1/bans/"+src, "", auth); code != 200 || strings.Contains(body, src) {
		t.Fatalf("unban: %d %s", code, body)
	}
	if res := newRawUA(t, src, registrar).options(1500 * time.Millisecond); res == "" {
		t.Fatal("the unbanned address is still ignored")
	}
	if code, _ := do(t, c, "DELETE", e.Base+"/api/v1/bans/"+src, "", auth); code != 404 {
		t.Fatalf("second unban: %d", code)
	}
}
