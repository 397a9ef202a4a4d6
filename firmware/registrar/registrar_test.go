package registrar

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskphone/deskphone/firmware/accounts"
	"github.com/deskphone/deskphone/firmware/certs"
)

// fakeClock is a settable clock for expiry, nonce and ban tables.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)} }
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestApplyRegister(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	contact := func(uri string, exp time.Duration) contactUpdate {
		return contactUpdate{URI: uri, Key: contactKey(uri), Expires: exp}
	}
	bind := func(uri, callID string, cseq uint32, regAgo, expIn time.Duration) Binding {
		return Binding{AOR: "alcatel", Extension: "5001", Contact: uri, Source: "10.0.0.2:5060", Transport: "UDP",
			CallID: callID, CSeq: cseq, Registered: now.Add(-regAgo), Expires: now.Add(expIn), Reachable: true}
	}
	upd := func(callID string, cseq uint32, cs ...contactUpdate) registerUpdate {
		return registerUpdate{Contacts: cs, CallID: callID, CSeq: cseq, Source: "10.0.0.2:5060", Transport: "UDP"}
	}
	tests := []struct {
		name        string
		cur         []Binding
		u           registerUpdate
		max         int
		wantURIs    []string
		wantChanged bool
		wantOutcome registerOutcome
	}{
		{"new binding", nil, upd("c1", 1, contact("sip:a@10.0.0.2", time.Hour)), 5, []string{"sip:a@10.0.0.2"}, true, registerOK},
		{"refresh only moves expiry", []Binding{bind("sip:a@10.0.0.2", "c1", 1, time.Hour, time.Minute)},
			upd("c1", 2, contact("sip:a@10.0.0.2", time.Hour)), 5, []string{"sip:a@10.0.0.2"}, false, registerOK},
		{"same Call-ID, old CSeq is refused", []Binding{bind("sip:a@10.0.0.2", "c1", 5, time.Hour, time.Minute)},
			upd("c1", 5, contact("sip:a@10.0.0.2", time.Hour)), 5, []string{"sip:a@10.0.0.2"}, false, registerOutOfOrder},
		{"other Call-ID may use any CSeq", []Binding{bind("sip:a@10.0.0.2", "c1", 5, time.Hour, time.Minute)},
			upd("c2", 1, contact("sip:a@10.0.0.2", time.Hour)), 5, []string{"sip:a@10.0.0.2"}, false, registerOK},
		{"expires 0 removes one", []Binding{bind("sip:a@10.0.0.2", "c1", 1, time.Hour, time.Minute), bind("sip:b@10.0.0.3", "c9", 1, time.Hour, time.Minute)},
			upd("c1", 2, contact("sip:a@10.0.0.2", 0)), 5, []string{"sip:b@10.0.0.3"}, true, registerOK},
		{"expired bindings are dropped", []Binding{bind("sip:old@10.0.0.9", "c0", 1, 2*time.Hour, -time.Second)},
			upd("c1", 1, contact("sip:a@10.0.0.2", time.Hour)), 5, []string{"sip:a@10.0.0.2"}, true, registerOK},
		{"max contacts replaces the oldest", []Binding{bind("sip:old@10.0.0.9", "c0", 1, 2*time.Hour, time.Hour), bind("sip:mid@10.0.0.8", "c3", 1, time.Hour, time.Hour)},
			upd("c1", 1, contact("sip:a@10.0.0.2", time.Hour)), 2, []string{"sip:mid@10.0.0.8", "sip:a@10.0.0.2"}, true, registerOK},
		{"wildcard removes all", []Binding{bind("sip:a@10.0.0.2", "c1", 1, time.Hour, time.Minute), bind("sip:b@10.0.0.3", "c9", 1, time.Hour, time.Minute)},
			registerUpdate{Wildcard: true, CallID: "c7", CSeq: 1}, 5, nil, true, registerOK},
		{"wildcard with an old CSeq of the same Call-ID is refused", []Binding{bind("sip:a@10.0.0.2", "c1", 9, time.Hour, time.Minute)},
			registerUpdate{Wildcard: true, CallID: "c1", CSeq: 3}, 5, []string{"sip:a@10.0.0.2"}, false, registerOutOfOrder},
		{"contact compare ignores case and parameters", []Binding{bind("sip:A@Host.LAN;ob", "c1", 1, time.Hour, time.Minute)},
			upd("c2", 1, contact("sip:a@host.lan", 0)), 5, nil, true, registerOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, changed, outcome := applyRegister(tc.cur, tc.u, "alcatel", "5001", tc.max, now)
			var uris []string
			for _, b := range got {
				uris = append(uris, b.Contact)
			}
			if fmt.Sprint(uris) != fmt.Sprint(tc.wantURIs) || changed != tc.wantChanged || outcome != tc.wantOutcome {
				t.Fatalf("got %v changed=%v outcome=%v; want %v changed=%v outcome=%v", uris, changed, outcome, tc.wantURIs, tc.wantChanged, tc.wantOutcome)
			}
		})
	}
}

func TestNonces(t *testing.T) {
	clk := newFakeClock()
	tab := newNonces(30*time.Second, 100)
	n := tab.issue("10.0.0.2", clk.Now())
	other := newNonces(30*time.Second, 100).issue("10.0.0.2", clk.Now()) // another start's secret
	tampered := []byte(n)
	tampered[3] ^= 1
	steps := []struct {
		name   string
		nonce  string
		source string
		qop    string
		nc     string
		after  time.Duration
		want   nonceVerdict
	}{
		{"first use", n, "10.0.0.2", "auth", "00000001", 0, nonceOK},
		{"next nc", n, "10.0.0.2", "auth", "00000002", 0, nonceOK},
		{"replayed nc", n, "10.0.0.2", "auth", "00000002", 0, nonceReplay},
		{"lower nc", n, "10.0.0.2", "auth", "00000001", 0, nonceReplay},
		{"bad nc", n, "10.0.0.2", "auth", "xyz", 0, nonceReplay},
		{"other source", n, "10.0.0.3", "auth", "00000003", 0, nonceStale},
		{"unknown nonce", "forged", "10.0.0.2", "auth", "00000001", 0, nonceStale},
		{"signed by another start", other, "10.0.0.2", "auth", "00000001", 0, nonceStale},
		{"issue time changed", string(tampered), "10.0.0.2", "auth", "00000003", 0, nonceStale},
		{"after lifetime", n, "10.0.0.2", "auth", "00000003", 31 * time.Second, nonceStale},
	}
	for _, s := range steps {
		clk.Advance(s.after)
		if got := tab.use(s.nonce, s.source, s.qop, s.nc, 0, clk.Now()); got != s.want {
			t.Fatalf("%s: got %v, want %v", s.name, got, s.want)
		}
	}
	m := tab.issue("10.0.0.2", clk.Now())
	if tab.use(m, "10.0.0.2", "", "", 0, clk.Now()) != nonceOK || tab.use(m, "10.0.0.2", "", "", 0, clk.Now()) != nonceReplay {
		t.Fatal("a nonce without qop must be accepted once only")
	}
	if a, b := tab.issue("10.0.0.2", clk.Now()), tab.issue("10.0.0.2", clk.Now()); a == b {
		t.Fatal("two challenges in the same instant got the same nonce")
	}
}

// A flood of challenges must not cost memory nor push out the nonce a phone is answering with
// (field notes: with a bounded table, 1 % of correct answers got stale=true under load).
func TestNoncesSurviveChallengeFlood(t *testing.T) {
	clk := newFakeClock()
	tab := newNonces(30*time.Second, 100)
	phone := tab.issue("10.0.0.2", clk.Now())
	if tab.use(phone, "10.0.0.2", "auth", "00000001", 0, clk.Now()) != nonceOK {
		t.Fatal("fresh nonce refused")
	}
	pending := tab.issue("10.0.0.2", clk.Now()) // challenged, not yet answered
	for i := range 200000 {
		tab.issue(fmt.Sprintf("127.0.1.%d", i%50+1), clk.Now())
	}
	if s := tab.size(); s != 1 {
		t.Fatalf("%d nonce records after a flood of challenges; want only the one answered", s)
	}
	if got := tab.use(pending, "10.0.0.2", "auth", "00000001", 0, clk.Now()); got != nonceOK {
		t.Fatalf("the phone's pending nonce after the flood: got %v, want OK", got)
	}
	if got := tab.use(phone, "10.0.0.2", "auth", "00000002", 0, clk.Now()); got != nonceOK {
		t.Fatalf("the phone's reused nonce after the flood: got %v, want OK", got)
	}
	// Records go when their nonce expires.
	clk.Advance(31 * time.Second)
	tab.expire(clk.Now())
	if s := tab.size(); s != 0 {
		t.Fatalf("%d nonce records kept after their nonces expired", s)
	}
}

// Beyond max correct answers within one lifetime, older nonces turn stale; none is replayable.
func TestNoncesBoundedRecords(t *testing.T) {
	clk := newFakeClock()
	tab := newNonces(time.Minute, 100)
	var issued []string
	for range 250 {
		n := tab.issue("10.0.0.2", clk.Now())
		if tab.use(n, "10.0.0.2", "auth", "00000001", 0, clk.Now()) != nonceOK {
			t.Fatal("fresh nonce refused")
		}
		issued = append(issued, n)
		clk.Advance(10 * time.Millisecond)
	}
	if s := tab.size(); s > 100 {
		t.Fatalf("%d nonce records; cap is 100", s)
	}
	for i, n := range issued {
		if got := tab.use(n, "10.0.0.2", "auth", "00000001", 0, clk.Now()); got == nonceOK {
			t.Fatalf("nonce %d replayed with the same nonce-count after records were dropped", i)
		}
	}
	if got := tab.use(issued[len(issued)-1], "10.0.0.2", "auth", "00000002", 0, clk.Now()); got != nonceOK {
		t.Fatalf("the newest nonce with the next count: got %v, want OK", got)
	}
}

func TestGuard(t *testing.T) {
	clk := newFakeClock()
	cfg := DefaultConfig()
	cfg.NeverBan = []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}
	g := newGuard(cfg, clk, slog.New(slog.DiscardHandler))
	a := netip.MustParseAddr("10.0.0.66")

	for i := 0; i < 16; i++ {
		if !g.packet(a) {
			t.Fatalf("packet %d of 16 in 2 s dropped", i+1)
		}
	}
	if g.packet(a) {
		t.Fatal("17th packet within 2 s was not dropped")
	}
	clk.Advance(299 * time.Second)
	if g.packet(a) {
		t.Fatal("banned source let through before ban_time")
	}
	clk.Advance(2 * time.Second)
	if !g.packet(a) {
		t.Fatal("ban did not end after ban_time")
	}

	b := netip.MustParseAddr("10.0.0.67")
	for i := 0; i < 16; i++ { // 16 per window, windows apart: never banned
		clk.Advance(130 * time.Millisecond)
		if !g.packet(b) {
			t.Fatalf("steady 7.7 packets/s source dropped at packet %d", i)
		}
	}

	c := netip.MustParseAddr("10.0.0.68")
	for i := 1; i < 10; i++ {
		if g.authFailed(c) {
			t.Fatalf("banned after %d failures", i)
		}
	}
	if !g.authFailed(c) || g.packet(c) {
		t.Fatal("10 failures in 60 s did not ban")
	}
	d := netip.MustParseAddr("10.0.0.69")
	for i := 1; i <= 20; i++ {
		clk.Advance(7 * time.Second) // 9 per minute at most
		if g.authFailed(d) {
			t.Fatalf("source failing slowly banned after %d failures", i)
		}
	}

	trusted := netip.MustParseAddr("192.168.1.20")
	for i := 0; i < 100; i++ {
		g.authFailed(trusted)
		if !g.packet(trusted) {
			t.Fatal("never_ban source was banned")
		}
	}

	known := netip.MustParseAddr("10.0.0.70")
	g.known = func(ip netip.Addr) bool { return ip == known }
	for i := 0; i < 16*knownFactor; i++ {
		if !g.packet(known) {
			t.Fatalf("registered phone dropped at packet %d of a %d budget", i+1, 16*knownFactor)
		}
	}
	if g.packet(known) {
		t.Fatal("registered phone over its larger budget was not dropped")
	}

	small := cfg
	small.MaxSources = 50
	gs := newGuard(small, clk, slog.New(slog.DiscardHandler))
	for i := 0; i < 1000; i++ {
		gs.packet(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}))
	}
	if len(gs.sources) > 50 {
		t.Fatalf("source table grew to %d; cap is 50", len(gs.sources))
	}
}

type mapAccounts map[string]accounts.Account

func (m mapAccounts) Lookup(u string) (accounts.Account, bool) {
	for _, a := range m {
		if a.Username == u || a.Extension == u {
			return a, true
		}
	}
	return accounts.Account{}, false
}

// testAccounts is read only.
var testAccounts = mapAccounts{
	"alcatel": {Extension: "5001", Username: "alcatel", Password: "alcatel-secret-1"},
}

// startTest runs a registrar on a free loopback port until the test ends or stop is called.
func startTest(t *testing.T, cfg Config, accts AccountSource, opts ...Option) (r *Registrar, stop func()) {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	cfg.QualifyInterval = -1
	r, err := New(cfg, accts, slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case <-r.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	return r, stop
}

// register runs the REGISTER → 401 → REGISTER exchange over UDP and returns the last response.
func register(t *testing.T, r *Registrar, user, pass string) string {
	t.Helper()
	c, err := net.Dial("udp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	host := r.Addr().String()
	msg := func(cseq int, auth string) string {
		s := fmt.Sprintf("REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%d;rport\r\nFrom: <sip:%s@%s>;tag=1\r\nTo: <sip:%s@%s>\r\nCall-ID: unit-%s\r\nCSeq: %d REGISTER\r\nContact: <sip:%s@%s>\r\nMax-Forwards: 70\r\n",
			host, c.LocalAddr(), cseq, user, host, user, host, user, cseq, user, c.LocalAddr())
		if auth != "" {
			s += "Authorization: " + auth + "\r\n"
		}
		return s + "Content-Length: 0\r\n\r\n"
	}
	read := func() string {
		buf := make([]byte, 4096)
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no answer from the registrar: %v", err)
		}
		return string(buf[:n])
	}
	c.Write([]byte(msg(1, "")))
	res := read()
	i := strings.Index(res, `nonce="`)
	if i < 0 {
		return res
	}
	nonce := res[i+7:]
	nonce = nonce[:strings.IndexByte(nonce, '"')]
	cred := credentials{Username: user, Realm: "deskphone", Nonce: nonce, URI: "sip:" + host, QOP: "auth", NC: "00000001", Cnonce: "abc"}
	resp := expectedResponse(cred, ha1(user, "deskphone", pass), "REGISTER")
	c.Write([]byte(msg(2, fmt.Sprintf(`Digest username="%s", realm="deskphone", nonce="%s", uri="sip:%s", response="%s", qop=auth, nc=00000001, cnonce="abc", algorithm=MD5`, user, nonce, host, resp))))
	return read()
}

// Bindings are written to data_dir before the 200 OK and come back on the next start.
func TestBindingsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.DataDir = dir
	func() {
		r, stop := startTest(t, cfg, testAccounts)
		defer stop()
		if res := register(t, r, "alcatel", "alcatel-secret-1"); !strings.HasPrefix(res, "SIP/2.0 200") {
			t.Fatalf("register: %s", res)
		}
		if res := register(t, r, "alcatel", "wrong"); !strings.HasPrefix(res, "SIP/2.0 401") {
			t.Fatalf("wrong password: %s", res)
		}
	}()
	r, err := New(cfg, testAccounts, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	bs := r.Bindings()
	if len(bs) != 1 || bs[0].Extension != "5001" || bs[0].AOR != "alcatel" || bs[0].ExpiresIn < time.Hour-time.Minute {
		t.Fatalf("after restart: %+v", bs)
	}
}

// One source cannot hold more than maxConnsPerSource TCP connections (slowloris), and a closed
// one frees its slot.
func TestTCPConnectionsPerSourceAreCapped(t *testing.T) {
	r, _ := startTest(t, DefaultConfig(), testAccounts)
	addr := r.Addr().String()
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	alive := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		return err != nil && strings.Contains(err.Error(), "timeout")
	}
	for i := 0; i < maxConnsPerSource; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if alive(extra) {
		t.Fatalf("connection %d from one source was kept open", maxConnsPerSource+1)
	}
	open[0].Close()
	time.Sleep(100 * time.Millisecond)
	again, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if !alive(again) {
		t.Fatal("a slot freed by a closed connection was not reused")
	}
}

// A damaged bindings file does not stop the phone system: it starts empty and phones register
// again.
func TestDamagedBindingsFileStartsEmpty(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, bindingsFile), []byte("{\"bindings\": [{\"aor\": "), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.DataDir = dir
	r, err := New(cfg, testAccounts, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("damaged bindings file stopped the registrar: %v", err)
	}
	if bs := r.Bindings(); len(bs) != 0 {
		t.Fatalf("bindings from a damaged file: %+v", bs)
	}
}

// TestFloodBanLogSaysWhy: the ban line tells the admin how many requests the source sent.
func TestFloodBanLogSaysWhy(t *testing.T) {
	var logged strings.Builder
	g := newGuard(DefaultConfig(), newFakeClock(), slog.New(slog.NewTextHandler(&logged, nil)))
	a := netip.MustParseAddr("10.0.0.66")
	for i := 0; i < 17; i++ {
		g.packet(a)
	}
	if !strings.Contains(logged.String(), "reason=flood requests=17 ") {
		t.Fatalf("ban log does not give the 17 requests that caused it:\n%s", logged.String())
	}
}

// In-dialog targets are found by contact, through an index kept in step with every change.
func TestLocationFindByContact(t *testing.T) {
	l := newLocation()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	set := func(aor string, contacts ...string) {
		l.update(aor, func([]Binding) ([]Binding, bool) {
			var bs []Binding
			for _, c := range contacts {
				bs = append(bs, Binding{AOR: aor, Contact: c, Source: c, Expires: now.Add(time.Minute)})
			}
			return bs, true
		})
	}
	for i := range 1000 {
		set(fmt.Sprintf("u%d", i), fmt.Sprintf("sip:u%d@10.0.%d.%d:5060", i, i/250, i%250))
	}
	if b, ok := l.findByContact("<SIP:u7@10.0.0.7:5060;ob>"); !ok || b.AOR != "u7" {
		t.Fatalf("contact of u7 (case and parameters aside): %+v, %v", b, ok)
	}
	set("u7", "sip:u7@10.9.9.9:5060")
	if _, ok := l.findByContact("sip:u7@10.0.0.7:5060"); ok {
		t.Fatal("a replaced contact is still found")
	}
	if b, ok := l.findByContact("sip:u7@10.9.9.9:5060"); !ok || b.AOR != "u7" {
		t.Fatalf("the new contact of u7: %+v, %v", b, ok)
	}
	set("u8")
	if _, ok := l.findByContact("sip:u8@10.0.0.8:5060"); ok {
		t.Fatal("an unregistered contact is still found")
	}
	l.expire(now.Add(2 * time.Minute))
	if _, ok := l.findByContact("sip:u9@10.0.0.9:5060"); ok || len(l.byContact) != 0 {
		t.Fatalf("after expiry: contact still found or %d index entries left", len(l.byContact))
	}
}

// With every listener on (UDP, TCP, TLS, WebSocket), Run still returns when its context ends:
// a service that restarts to apply a new config must not hang on the way down.
func TestRunStopsWithEveryListener(t *testing.T) {
	auth, err := certs.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Ensure([]string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Listen, cfg.QualifyInterval = "127.0.0.1:0", -1
	cfg.TLSListen, cfg.TLS = "127.0.0.1:0", &tls.Config{GetCertificate: auth.GetCertificate}
	r, err := New(cfg, testAccounts, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-r.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	if r.TLSAddr() == nil {
		t.Fatal("no TLS listener")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s of its context ending")
	}
}
