package e2e

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Accounts every registrar test starts with (the seed's numbering).
var regAccounts = []struct{ ext, user, pass string }{
	{"5001", "alcatel", "alcatel-secret-1"},
	{"5002", "rpi", "rpi-secret-22"},
	{"5003", "guillaume", "guillaume-secret-3"},
}

// regEnv is a deskphone service running only its registrar on a free loopback port.
type regEnv struct {
	*Service
	Port int
	Addr string // 127.0.0.1:port
	API  string // http://127.0.0.1:port/api/v1/ (this machine's scripts need no login)
}

// startRegistrar starts deskphone with the registrar on a free port and the test accounts.
// extra is appended inside [registrar] (e.g. `ring_timeout = "2s"`).
func startRegistrar(t *testing.T, extra string) *regEnv {
	t.Helper()
	return startRegistrarSRTP(t, extra, nil)
}

// startRegistrarSRTP is startRegistrar with an srtp policy for some accounts (by extension).
func startRegistrarSRTP(t *testing.T, extra string, srtp map[string]string) *regEnv {
	t.Helper()
	port := freePort(t, "both")
	web := freePort(t, "tcp")
	var b strings.Builder
	fmt.Fprintf(&b, "[registrar]\nenabled = true\nlisten = \"127.0.0.1:%d\"\nrealm = \"deskphone\"\nqualify_interval = \"0s\"\n%s\n", port, extra)
	for _, a := range regAccounts {
		fmt.Fprintf(&b, "[[registrar.accounts]]\nextension = %q\nusername = %q\npassword = %q\n", a.ext, a.user, a.pass)
		if p, ok := srtp[a.ext]; ok {
			fmt.Fprintf(&b, "srtp = %q\n", p)
		}
	}
	fmt.Fprintf(&b, "[phone]\nenabled = false\n[provisioning]\nenabled = false\n[web]\nlisten = \"127.0.0.1:%d\"\nhttps_listen = \"127.0.0.1:0\"\n", web)
	svc := startService(t, b.String())
	if !strings.Contains(svc.Logs(), "registrar listening") {
		t.Fatalf("the service is ready but its registrar is not listening:\n%s", svc.Logs())
	}
	return &regEnv{Service: svc, Port: port, Addr: fmt.Sprintf("127.0.0.1:%d", port), API: fmt.Sprintf("http://127.0.0.1:%d/api/v1/", web)}
}

func (e *regEnv) restart(t *testing.T) {
	t.Helper()
	e.Restart(t)
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(e.Logs(), "registrar listening") < 2 {
		if time.Now().After(deadline) {
			t.Fatal("registrar did not listen again after restart")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sippScenario is the path of a committed SIPp scenario.
func sippScenario(t *testing.T, name string) string {
	return filepath.Join(repoRoot(t), "test", "sipp", name)
}

// runSIPp runs one SIPp instance to completion (one call unless args say otherwise) and fails
// the test with SIPp's error log if the scenario did not pass.
func runSIPp(t *testing.T, args ...string) {
	t.Helper()
	if err := trySIPp(t, 30*time.Second, args...); err != nil {
		t.Fatal(err)
	}
}

// trySIPp is runSIPp returning the failure instead.
func trySIPp(t *testing.T, timeout time.Duration, args ...string) error {
	t.Helper()
	requireTool(t, "sipp", "sip-tester")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := append([]string{"-nostdin", "-trace_err", "-trace_msg", "-timeout", strconv.Itoa(int(timeout/time.Second)-2) + "s", "-timeout_error"}, args...)
	if !hasArg(args, "-m") {
		full = append(full, "-m", "1")
	}
	cmd := exec.CommandContext(ctx, "sipp", full...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	var logs strings.Builder
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if len(b) > 6000 {
			b = b[len(b)-6000:]
		}
		fmt.Fprintf(&logs, "--- %s\n%s\n", filepath.Base(f), b)
	}
	return fmt.Errorf("sipp %s: %v\n%s\n%s", strings.Join(args, " "), err, lastLines(string(out), 15), logs.String())
}

func hasArg(args []string, a string) bool {
	for _, x := range args {
		if x == a {
			return true
		}
	}
	return false
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// startSIPp starts a SIPp instance in the background (a phone waiting for a call) and returns a
// function that waits for it and returns its result.
func startSIPp(t *testing.T, args ...string) func() error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- trySIPp(t, 40*time.Second, args...) }()
	time.Sleep(300 * time.Millisecond) // let it bind its port
	return func() error {
		select {
		case err := <-done:
			return err
		case <-time.After(45 * time.Second):
			return fmt.Errorf("sipp did not finish")
		}
	}
}

// sippRegister registers user (its own AOR) from 127.0.0.1:port with SIPp.
func (e *regEnv) sippRegister(t *testing.T, user, pass string, port int) {
	t.Helper()
	runSIPp(t, e.Addr, "-sf", sippScenario(t, "register_ok.xml"), "-key", "aor", user, "-key", "expires", "3600",
		"-au", user, "-ap", pass, "-i", "127.0.0.1", "-p", strconv.Itoa(port))
}

// rawUA is a minimal SIP client over UDP for checks SIPp cannot express (byte comparison of
// responses, many sources, precise timing).
type rawUA struct {
	t      *testing.T
	conn   *net.UDPConn
	to     *net.UDPAddr
	cseq   int
	callID string
}

func newRawUA(t *testing.T, localIP, registrar string) *rawUA {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(localIP)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	to, err := net.ResolveUDPAddr("udp", registrar)
	if err != nil {
		t.Fatal(err)
	}
	return &rawUA{t: t, conn: c, to: to, callID: randHex(8) + "@test"}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (u *rawUA) local() string { return u.conn.LocalAddr().String() }

// exchange sends msg and returns the first response (retransmitting like RFC 3261 Timer E), or
// "" after timeout.
func (u *rawUA) exchange(msg string, timeout time.Duration) string {
	u.t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 500 * time.Millisecond
	buf := make([]byte, 65535)
	for time.Now().Before(deadline) {
		if _, err := u.conn.WriteToUDP([]byte(msg), u.to); err != nil {
			u.t.Fatal(err)
		}
		end := time.Now().Add(wait)
		if end.After(deadline) {
			end = deadline
		}
		for {
			u.conn.SetReadDeadline(end)
			n, _, err := u.conn.ReadFromUDP(buf)
			if err != nil {
				break
			}
			res := string(buf[:n])
			if strings.HasPrefix(res, "SIP/2.0 1") {
				continue
			}
			// Skip retransmitted answers to earlier requests (a 407 to an INVITE repeats until ACK).
			if strings.HasPrefix(res, "SIP/2.0 ") && headerValue(res, "Call-ID") == headerValue(msg, "Call-ID") &&
				headerValue(res, "CSeq") == headerValue(msg, "CSeq") {
				return res
			}
		}
		wait *= 2
	}
	return ""
}

// register builds a REGISTER for aor with optional credentials and extra header lines.
func (u *rawUA) register(aor, host, authHeader string, extra ...string) string {
	u.cseq++
	contact := fmt.Sprintf("<sip:%s@%s>", aor, u.local())
	var b strings.Builder
	fmt.Fprintf(&b, "REGISTER sip:%s SIP/2.0\r\n", host)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\n", u.local(), randHex(8))
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=%s\r\n", aor, host, randHex(4))
	fmt.Fprintf(&b, "To: <sip:%s@%s>\r\n", aor, host)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d REGISTER\r\nMax-Forwards: 70\r\n", u.callID, u.cseq)
	hasContact := false
	for _, x := range extra {
		if strings.HasPrefix(x, "Contact:") || x == noContact {
			hasContact = true
		}
	}
	if !hasContact {
		fmt.Fprintf(&b, "Contact: %s\r\n", contact)
	}
	for _, x := range extra {
		if x != noContact {
			b.WriteString(x + "\r\n")
		}
	}
	if authHeader != "" {
		b.WriteString("Authorization: " + authHeader + "\r\n")
	}
	b.WriteString("User-Agent: deskphone-test\r\nContent-Length: 0\r\n\r\n")
	return b.String()
}

// noContact as an extra header makes a REGISTER without Contact: a query (RFC 3261 §10.2.3).
const noContact = "-Contact"

// registerWithAuth does REGISTER → 401 → REGISTER with digest and returns the final response.
func (u *rawUA) registerWithAuth(aor, user, pass string, extra ...string) string {
	u.t.Helper()
	host := u.to.String()
	res := u.exchange(u.register(aor, host, "", extra...), 5*time.Second)
	if statusOf(res) != 401 {
		return res
	}
	ch := headerValue(res, "WWW-Authenticate")
	realm, nonce, opaque := digestParam(ch, "realm"), digestParam(ch, "nonce"), digestParam(ch, "opaque")
	uri := "sip:" + host
	ha1 := md5hex(user + ":" + realm + ":" + pass)
	ha2 := md5hex("REGISTER:" + uri)
	cnonce := randHex(4)
	resp := md5hex(ha1 + ":" + nonce + ":00000001:" + cnonce + ":auth:" + ha2)
	auth := fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=MD5, cnonce="%s", qop=auth, nc=00000001, opaque="%s"`,
		user, realm, nonce, uri, resp, cnonce, opaque)
	return u.exchange(u.register(aor, host, auth, extra...), 5*time.Second)
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

func statusOf(res string) int {
	if len(res) < 12 {
		return 0
	}
	n, _ := strconv.Atoi(res[8:11])
	return n
}

// headerValue returns the first value of header name in a raw message.
func headerValue(msg, name string) string {
	for _, l := range strings.Split(msg, "\r\n") {
		if i := strings.IndexByte(l, ':'); i > 0 && strings.EqualFold(strings.TrimSpace(l[:i]), name) {
			return strings.TrimSpace(l[i+1:])
		}
	}
	return ""
}

// headerValues returns every value of header name.
func headerValues(msg, name string) []string {
	var out []string
	for _, l := range strings.Split(msg, "\r\n") {
		if i := strings.IndexByte(l, ':'); i > 0 && strings.EqualFold(strings.TrimSpace(l[:i]), name) {
			out = append(out, strings.TrimSpace(l[i+1:]))
		}
	}
	return out
}

func digestParam(h, key string) string {
	i := strings.Index(h, key+"=")
	if i < 0 {
		return ""
	}
	v := h[i+len(key)+1:]
	if strings.HasPrefix(v, `"`) {
		v = v[1:]
		if j := strings.IndexByte(v, '"'); j >= 0 {
			return v[:j]
		}
		return v
	}
	if j := strings.IndexAny(v, ", "); j >= 0 {
		return v[:j]
	}
	return v
}

// options sends OPTIONS from u and returns the response ("" if none within timeout).
func (u *rawUA) options(timeout time.Duration) string {
	host := u.to.String()
	msg := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\nFrom: <sip:probe@%s>;tag=%s\r\nTo: <sip:%s>\r\nCall-ID: %s@test\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		host, u.local(), randHex(8), host, randHex(4), host, randHex(8))
	return u.exchange(msg, timeout)
}

// request sends method to ruri from u (CSeq 1, new Call-ID) with extra header lines, answering
// one 401/407 challenge with user's credentials when user is not empty; it returns the final
// response.
func (u *rawUA) request(method, ruri, user, pass string, extra ...string) string {
	u.t.Helper()
	host := u.to.String()
	callID := randHex(8) + "@test"
	build := func(cseq int, auth string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, ruri)
		fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\n", u.local(), randHex(8))
		fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=%s\r\n", user, host, randHex(4))
		if !strings.HasPrefix(strings.Join(extra, "\n"), "To:") {
			fmt.Fprintf(&b, "To: <%s>\r\n", ruri)
		}
		fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d %s\r\nMax-Forwards: 70\r\nContact: <sip:%s@%s>\r\n", callID, cseq, method, user, u.local())
		for _, x := range extra {
			b.WriteString(x + "\r\n")
		}
		if auth != "" {
			b.WriteString(auth + "\r\n")
		}
		b.WriteString("Content-Length: 0\r\n\r\n")
		return b.String()
	}
	res := u.exchange(build(1, ""), 3*time.Second)
	code := statusOf(res)
	if user == "" || (code != 401 && code != 407) {
		return res
	}
	chName, authName := "WWW-Authenticate", "Authorization"
	if code == 407 {
		chName, authName = "Proxy-Authenticate", "Proxy-Authorization"
	}
	ch := headerValue(res, chName)
	realm, nonce := digestParam(ch, "realm"), digestParam(ch, "nonce")
	cnonce := randHex(4)
	resp := md5hex(md5hex(user+":"+realm+":"+pass) + ":" + nonce + ":00000001:" + cnonce + ":auth:" + md5hex(method+":"+ruri))
	auth := fmt.Sprintf(`%s: Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", cnonce="%s", qop=auth, nc=00000001`,
		authName, user, realm, nonce, ruri, resp, cnonce)
	return u.exchange(build(2, auth), 3*time.Second)
}
