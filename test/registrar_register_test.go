package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// maskedShape is what a scanner can compare between two responses: the status line, the header
// names in order, the realm, the Server header and the digest parameters offered.
func maskedShape(res string) string {
	head, _, _ := strings.Cut(res, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	var b strings.Builder
	b.WriteString(lines[0] + "\n")
	for _, l := range lines[1:] {
		name, _, _ := strings.Cut(l, ":")
		b.WriteString(name + "\n")
	}
	ch := headerValue(res, "WWW-Authenticate")
	ch = regexp.MustCompile(`nonce="[^"]*"`).ReplaceAllString(ch, `nonce=""`)
	fmt.Fprintf(&b, "challenge: %s\nserver: %s\n", ch, headerValue(res, "Server"))
	return b.String()
}

// Unknown users get exactly the response known users get (field notes §0.1, T1): status line,
// header names and order, realm, Server; before and after answering the challenge.
func TestRegistrarUnknownUserIndistinguishable(t *testing.T) {
	e := startRegistrar(t, "")
	known := newRawUA(t, "127.0.0.1", e.Addr)
	unknown := newRawUA(t, "127.0.0.1", e.Addr)

	a := known.exchange(known.register("alcatel", e.Addr, ""), 3*time.Second)
	b := unknown.exchange(unknown.register("mallory", e.Addr, ""), 3*time.Second)
	if statusOf(a) != 401 || maskedShape(a) != maskedShape(b) {
		t.Fatalf("first challenge differs between a known and an unknown user:\n%s\n---\n%s", a, b)
	}
	a = known.registerWithAuth("alcatel", "alcatel", "wrong-password")
	b = unknown.registerWithAuth("mallory", "mallory", "wrong-password")
	if statusOf(a) != 401 || maskedShape(a) != maskedShape(b) {
		t.Fatalf("wrong password and unknown user are told apart:\n%s\n---\n%s", a, b)
	}
	if strings.Contains(a, "deskphone/") || regexp.MustCompile(`Server: .*\d+\.\d+`).MatchString(a) {
		t.Errorf("Server header gives a version: %q", headerValue(a, "Server"))
	}
}

// Expiry rules of RFC 3261 §10.3: Contact expires over Expires, 423 with Min-Expires, cut to the
// maximum, bindings that lapse stop routing, `Contact: *` with `Expires: 0` removes everything,
// and only the owner may do that.
func TestRegistrarExpiryAndWildcard(t *testing.T) {
	e := startRegistrar(t, `min_expires = "2s"
max_expires = "7200s"`)
	ua := newRawUA(t, "127.0.0.1", e.Addr)

	res := ua.registerWithAuth("alcatel", "alcatel", "alcatel-secret-1", "Expires: 1")
	if statusOf(res) != 423 || headerValue(res, "Min-Expires") != "2" {
		t.Fatalf("too short expiry: want 423 with Min-Expires: 2, got:\n%s", res)
	}
	res = ua.registerWithAuth("alcatel", "alcatel", "alcatel-secret-1", "Expires: 99999",
		"Contact: <sip:alcatel@127.0.0.1:40001>;expires=3, <sip:alcatel@127.0.0.1:40002>")
	if statusOf(res) != 200 {
		t.Fatalf("two contacts: %s", res)
	}
	got := strings.Join(headerValues(res, "Contact"), " | ")
	if !strings.Contains(got, "40001>;expires=3") || !strings.Contains(got, "40002>;expires=7200") {
		t.Fatalf("200 OK does not list both bindings with their times (Contact param over Expires, cut to max): %s", got)
	}
	time.Sleep(3500 * time.Millisecond)
	res = ua.registerWithAuth("alcatel", "alcatel", "alcatel-secret-1", noContact)
	got = strings.Join(headerValues(res, "Contact"), " | ")
	if statusOf(res) != 200 || strings.Contains(got, "40001") || !strings.Contains(got, "40002") {
		t.Fatalf("after 3 s the first binding should be gone and the second kept: %s\n%s", got, res)
	}

	other := newRawUA(t, "127.0.0.1", e.Addr)
	res = other.registerWithAuth("alcatel", "rpi", "rpi-secret-22", "Contact: *", "Expires: 0")
	if statusOf(res) != 403 {
		t.Fatalf("wildcard removal with another account's password: want 403, got:\n%s", res)
	}
	res = ua.registerWithAuth("alcatel", "alcatel", "alcatel-secret-1", "Contact: *", "Expires: 0")
	if statusOf(res) != 200 || len(headerValues(res, "Contact")) != 0 {
		t.Fatalf("wildcard removal: want 200 without Contact, got:\n%s", res)
	}
	runSIPp(t, e.Addr, "-sf", sippScenario(t, "uac_480.xml"), "-s", "5001", "-key", "aor", "rpi", "-au", "rpi", "-ap", "rpi-secret-22", "-i", "127.0.0.1")
	e.WaitLog(t, "phone unregistered", time.Second)
}

// Bindings survive a restart, including one whose REGISTER was on the wire while the service
// was down; calls still route to a phone that registered before the restart.
func TestRegistrarRestartKeepsBindings(t *testing.T) {
	e := startRegistrar(t, "")
	uas := freePort(t, "udp")
	e.sippRegister(t, "rpi", "rpi-secret-22", uas)

	e.Stop()
	ua := newRawUA(t, "127.0.0.1", e.Addr)
	result := make(chan string, 1)
	go func() { result <- ua.registerWithAuth("guillaume", "guillaume", "guillaume-secret-3") }()
	time.Sleep(300 * time.Millisecond) // the REGISTER is being retransmitted into a closed port
	e.start(t)
	if res := <-result; statusOf(res) != 200 {
		t.Fatalf("REGISTER sent during the restart: %q", res)
	}
	e.restart(t)

	res := ua.registerWithAuth("guillaume", "guillaume", "guillaume-secret-3", noContact)
	if !strings.Contains(headerValue(res, "Contact"), ua.local()) {
		t.Fatalf("binding made during the restart is lost:\n%s", res)
	}
	wait := startSIPp(t, "-sf", sippScenario(t, "uas_answer.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(uas))
	runSIPp(t, e.Addr, "-sf", sippScenario(t, "uac_call.xml"), "-s", "5002", "-key", "aor", "alcatel", "-au", "alcatel", "-ap", "alcatel-secret-1", "-i", "127.0.0.1")
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.Logs(), "bindings restored") {
		t.Errorf("log does not say bindings were restored")
	}
}

// A crash or power cut (SIGKILL) right after a 200 OK loses nothing the 200 OK acknowledged: a
// new binding, a refresh that moved its expiry, and a removal are all there after the restart,
// and a call still routes to the phone that registered last.
func TestRegistrarKillKeepsAcknowledgedBindings(t *testing.T) {
	e := startRegistrar(t, "")
	uas := freePort(t, "udp")
	alc := newRawUA(t, "127.0.0.1", e.Addr)
	if res := alc.registerWithAuth("alcatel", "alcatel", "alcatel-secret-1"); statusOf(res) != 200 {
		t.Fatalf("alcatel REGISTER: %s", res)
	}
	if res := alc.registerWithAuth("alcatel", "alcatel", "alcatel-secret-1", "Expires: 0"); statusOf(res) != 200 {
		t.Fatalf("alcatel removal: %s", res)
	}
	e.sippRegister(t, "rpi", "rpi-secret-22", uas)
	gui := newRawUA(t, "127.0.0.1", e.Addr)
	if res := gui.registerWithAuth("guillaume", "guillaume", "guillaume-secret-3", "Expires: 120"); statusOf(res) != 200 {
		t.Fatalf("first REGISTER: %s", res)
	}
	// The last 200 OK before the crash: a refresh that moves the binding's expiry from 120 s to
	// 7000 s; lost, the phone would be unreachable after two minutes.
	if res := gui.registerWithAuth("guillaume", "guillaume", "guillaume-secret-3", "Expires: 7000"); statusOf(res) != 200 {
		t.Fatalf("refresh: %s", res)
	}

	e.Kill()
	e.start(t)

	q := newRawUA(t, "127.0.0.1", e.Addr)
	res := q.registerWithAuth("guillaume", "guillaume", "guillaume-secret-3", noContact)
	c := headerValue(res, "Contact")
	if !strings.Contains(c, gui.local()) {
		t.Fatalf("acknowledged binding lost by the crash:\n%s", res)
	}
	exp, _ := strconv.Atoi(strings.TrimPrefix(c[strings.LastIndex(c, "expires="):], "expires="))
	if exp < 6900 {
		t.Fatalf("acknowledged refresh lost by the crash: binding expires in %d s, want about 7000:\n%s", exp, res)
	}
	if res := q.registerWithAuth("alcatel", "alcatel", "alcatel-secret-1", noContact); len(headerValues(res, "Contact")) != 0 {
		t.Fatalf("acknowledged removal undone by the crash:\n%s", res)
	}
	wait := startSIPp(t, "-sf", sippScenario(t, "uas_answer.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(uas))
	runSIPp(t, e.Addr, "-sf", sippScenario(t, "uac_call.xml"), "-s", "5002", "-key", "aor", "alcatel", "-au", "alcatel", "-ap", "alcatel-secret-1", "-i", "127.0.0.1")
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}
