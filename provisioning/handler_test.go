package provisioning

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deskphone/deskphone/firmware/accounts"
)

// TestPairingWindowClosedRefuses: an unknown phone outside a window gets the common 404, no account
// is made, and the log tells the user how to pair.
func TestPairingWindowClosedRefuses(t *testing.T) {
	r := newRig(t, nil)
	r.want404("/sipconfig-"+strings.ToLower(macA)+".txt", phoneIP, ua4018)
	if _, ok := r.dir.ByMAC(macA); ok {
		t.Fatal("an account was made with the pairing window closed")
	}
	if !strings.Contains(r.logs.String(), "deskphone ctl pair") {
		t.Fatalf("log does not tell the user how to pair:\n%s", r.logs)
	}
}

// TestPairingBootSequence plays a phone's boot as the Alcatel does it (firmware first, then the global
// file, then its own file in lower case) during a pairing window, checks the file against the
// directory the registrar reads, and checks the pairing survives a restart, fetched in upper case.
func TestPairingBootSequence(t *testing.T) {
	r := newRig(t, nil)
	r.writeFirmware("noesip4018", "datsip4018")
	if err := r.srv.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	for _, fw := range []string{"/noesip4018", "/datsip4018"} {
		res := r.get("GET", fw, phoneIP, ua4018)
		if b := body(t, res); res.StatusCode != 200 || b != "firmware "+fw[1:] {
			t.Fatalf("GET %s = %d %q", fw, res.StatusCode, b)
		}
	}
	global := r.fetchConfig("/sipconfig.txt", phoneIP, ua4018)
	if got := mustGet(t, global, "sip", "registrar_addr"); got != piIP {
		t.Fatalf("global registrar_addr = %q, want the Pi's address %s", got, piIP)
	}
	f := r.fetchConfig("/sipconfig-"+strings.ToLower(macA)+".txt", phoneIP, ua4018)

	acct, ok := r.dir.ByMAC(macA)
	if !ok {
		t.Fatal("phone not paired")
	}
	if acct.Extension != "5001" || acct.Origin != accounts.OriginPaired || len(acct.Password) < 16 {
		t.Fatalf("paired account = %+v", acct)
	}
	want := map[string]string{
		"sip.proxy_addr":              piIP,
		"sip.registrar_addr":          piIP,
		"sip.domain_name":             piIP,
		"sip.registrar_port":          "5060",
		"sip.authentication_realm":    "deskphone",
		"sip.authentication_name":     acct.Username,
		"sip.authentication_password": acct.Password,
		"sip.user_name":               acct.Username,
		"sip.preferred_vocoder":       "8,0",
		"audio.dtmf_type":             "0",
		"audio.dtmf_avt_payload_type": "96",
		"init.application_mode":       "0",
		"sntp.sntp_addr":              piIP,
		"sntp.timezone":               "UT::60:032902:102503",
		"admin.config_polling_timer":  "60",
	}
	for k, v := range want {
		sec, key, _ := strings.Cut(k, ".")
		if got := mustGet(t, f, sec, key); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	admin := mustGet(t, f, "appl", "admin_password")
	if len(admin) != adminPasswordDigits || strings.Trim(admin, "0123456789") != "" || admin == "00000000" {
		t.Errorf("admin_password %q is not %d generated digits", admin, adminPasswordDigits)
	}
	if tp := mustGet(t, f, "telnet", "telnet_password"); len(tp) < 16 || tp == admin {
		t.Errorf("telnet_password %q", tp)
	}

	// The window closed with this phone: a second new phone is refused.
	r.want404("/sipconfig-"+macB+".txt", "192.168.1.90:1025", ua4018)
	if _, ok := r.dir.ByMAC(macB); ok {
		t.Fatal("a second phone paired in the same window")
	}

	// Reboot the Pi: same account, same handset password, same binding.
	r.restart()
	f2 := r.fetchConfig("/sipconfig-"+macA+".txt", phoneIP, ua4018)
	if got := mustGet(t, f2, "sip", "authentication_password"); got != acct.Password {
		t.Fatalf("password after restart = %q, want %q", got, acct.Password)
	}
	if got := mustGet(t, f2, "appl", "admin_password"); got != admin {
		t.Fatalf("admin_password changed across a restart: %q → %q", admin, got)
	}
	if a, ok := r.dir.Lookup("5001"); !ok || a.Password != acct.Password {
		t.Fatal("the registrar's directory lost the paired account across a restart")
	}
	r.want404("/sipconfig-"+macA+".txt", "192.168.1.99:1025", ua4018)
}

// TestSecondMACNextWindow: each window pairs one phone, and extensions follow each other.
func TestSecondMACNextWindow(t *testing.T) {
	r := newRig(t, nil)
	for i, mac := range []string{macA, macB} {
		if err := r.srv.OpenPairing(time.Minute); err != nil {
			t.Fatal(err)
		}
		src := []string{"192.168.1.81:1", "192.168.1.91:1"}[i]
		f := r.fetchConfig("/sipconfig-"+mac+".txt", src, ua4008)
		want := []string{"5001", "5002"}[i]
		if got := mustGet(t, f, "sip", "user_name"); got != want {
			t.Fatalf("phone %d got extension %s, want %s", i, got, want)
		}
		if got := mustGet(t, f, "sip", "display_name"); got != "IP Touch 4008 ("+want+")" {
			t.Fatalf("display name %q", got)
		}
	}
}

// TestPairingWindowExpires: the window closes by itself after its time.
func TestPairingWindowExpires(t *testing.T) {
	r := newRig(t, nil)
	if err := r.srv.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(5*time.Minute + time.Second)
	r.want404("/sipconfig-"+macA+".txt", phoneIP, ua4018)
	rep := r.srv.Status().(StatusReport)
	if rep.Pairing.Open {
		t.Fatalf("status still says open: %+v", rep.Pairing)
	}
}

// TestPairingModes: "open" pairs every new phone, "off" none (and refuses to open a window), but a
// phone written in the config file with its MAC is served in every mode.
func TestPairingModes(t *testing.T) {
	open := newRig(t, func(c *Config) { c.Pairing = PairingOpen })
	open.fetchConfig("/sipconfig-"+macA+".txt", "10.0.0.5:1", ua4018)
	open.fetchConfig("/sipconfig-"+macB+".txt", "10.0.0.6:1", ua4018)

	off := newRig(t, func(c *Config) { c.Pairing = PairingOff })
	off.config = []accounts.Account{{Extension: "201", Username: "reception", Password: "Config-Password-123", DisplayName: "Reception", MAC: macB}}
	off.restart()
	if err := off.srv.OpenPairing(0); err == nil {
		t.Fatal("OpenPairing with pairing = off succeeded")
	}
	off.want404("/sipconfig-"+macA+".txt", phoneIP, ua4018)
	f := off.fetchConfig("/sipconfig-"+macB+".txt", phoneIP, ua4018)
	if mustGet(t, f, "sip", "authentication_password") != "Config-Password-123" || mustGet(t, f, "sip", "display_name") != "Reception" {
		t.Fatalf("config account file: %v", f)
	}
	off.want404("/sipconfig-"+macB+".txt", "192.168.1.200:1", ua4018) // now bound
}

// TestMACBoundToSource: after the first fetch, only the first address gets the file; a pairing window
// lets a phone that moved be bound again.
func TestMACBoundToSource(t *testing.T) {
	r := newRig(t, nil)
	r.srv.OpenPairing(0)
	r.fetchConfig("/sipconfig-"+macA+".txt", "192.168.1.81:4000", ua4018)
	r.fetchConfig("/sipconfig-"+macA+".txt", "192.168.1.81:4001", ua4018) // another port is fine
	r.want404("/sipconfig-"+macA+".txt", "192.168.1.82:4000", ua4018)
	r.srv.OpenPairing(0)
	r.fetchConfig("/sipconfig-"+macA+".txt", "192.168.1.82:4000", ua4018)
	r.want404("/sipconfig-"+macA+".txt", "192.168.1.81:4000", ua4018)
	r.clock.Advance(time.Minute)
	r.fetchConfig("/sipconfig-"+macA+".txt", "192.168.1.82:4000", ua4018)
	phones := r.srv.Phones()
	if len(phones) != 1 {
		t.Fatalf("%d phones, want 1 (rebinding made a new account)", len(phones))
	}
	if p := phones[0]; p.BoundAddress != "192.168.1.82" || p.LastFetch == nil || !p.LastFetch.Equal(r.clock.Now()) || p.Firmware != "2.01.10" {
		t.Fatalf("phone info after fetches: %+v", p)
	}
}

// TestOpenModeKeepsBindings: with pairing = "open", new phones pair by themselves but a paired MAC
// is still never handed to another address.
func TestOpenModeKeepsBindings(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Pairing = PairingOpen })
	r.fetchConfig("/sipconfig-"+macA+".txt", "192.168.1.81:1", ua4018)
	r.want404("/sipconfig-"+macA+".txt", "192.168.1.99:1", ua4018)
}

// TestBothMACCases: the guide writes the MAC in upper case, wazo and the seed in lower case.
func TestBothMACCases(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Pairing = PairingOpen })
	lower := r.fetchConfig("/sipconfig-"+strings.ToLower(macA)+".txt", phoneIP, ua4018)
	upper := r.fetchConfig("/sipconfig-"+macA+".txt", phoneIP, ua4018)
	mixed := r.fetchConfig("/sipconfig-00809f5607AE.txt", phoneIP, ua4018)
	if !reflect.DeepEqual(lower, upper) || !reflect.DeepEqual(lower, mixed) {
		t.Fatal("the same phone got different files for different MAC cases")
	}
	if len(r.srv.Phones()) != 1 {
		t.Fatal("MAC case made two accounts")
	}
}

// TestFirmware: the 4008 names serve the 4018 files, names match in any case, nothing is served
// while the folder is empty, and Status says so in words.
func TestFirmware(t *testing.T) {
	r := newRig(t, nil)
	rep := r.srv.Status().(StatusReport)
	if rep.Firmware.OK || !strings.Contains(rep.Firmware.Message, "noesip4018 and datsip4018 not found") {
		t.Fatalf("status with no firmware: %+v", rep.Firmware)
	}
	if !strings.Contains(r.logs.String(), "copy noesip4018 and datsip4018") {
		t.Fatalf("no startup warning about the missing firmware:\n%s", r.logs)
	}
	r.want404("/noesip4008", phoneIP, ua4008)
	if !strings.Contains(r.logs.String(), "noesip4008, which is not in") {
		t.Fatalf("no log line for the missing file:\n%s", r.logs)
	}

	r.writeFirmware("NOESIP4018", "datsip4018")
	for path, want := range map[string]string{"/noesip4008": "firmware NOESIP4018", "/datsip4008": "firmware datsip4018", "/noesip4018": "firmware NOESIP4018"} {
		res := r.get("GET", path, phoneIP, ua4008)
		if b := body(t, res); res.StatusCode != 200 || b != want {
			t.Errorf("GET %s = %d %q, want %q", path, res.StatusCode, b, want)
		}
	}
	res := r.get("HEAD", "/noesip4018", phoneIP, ua4018)
	if res.StatusCode != 200 || res.ContentLength != int64(len("firmware NOESIP4018")) {
		t.Fatalf("HEAD = %d length %d", res.StatusCode, res.ContentLength)
	}
	if rep := r.srv.Status().(StatusReport); !rep.Firmware.OK {
		t.Fatalf("status with firmware: %+v", rep.Firmware)
	}
}

// TestRefusalsIdentical: every reason to refuse gives byte-identical answers (status, headers except
// Date, body), and the same as a path nobody serves.
func TestRefusalsIdentical(t *testing.T) {
	r := newRig(t, nil)
	r.config = []accounts.Account{{Extension: "201", Username: "reception", Password: "Config-Password-123", MAC: macB}}
	r.restart()
	r.fetchConfig("/sipconfig-"+macB+".txt", "192.168.1.50:1", ua4018) // bind macB

	type answer struct {
		Code   int
		Header http.Header
		Body   string
	}
	capture := func(method, path, src string) answer {
		res := r.get(method, path, src, ua4018)
		h := res.Header.Clone()
		h.Del("Date")
		return answer{res.StatusCode, h, body(t, res)}
	}
	cases := map[string]func() answer{
		"unknown MAC, window closed": func() answer { return capture("GET", "/sipconfig-"+macA+".txt", phoneIP) },
		"known MAC, other address":   func() answer { return capture("GET", "/sipconfig-"+macB+".txt", phoneIP) },
		"missing firmware":           func() answer { return capture("GET", "/noesip4018", phoneIP) },
		"unknown file":               func() answer { return capture("GET", "/index.html", phoneIP) },
		"traversal":                  func() answer { return capture("GET", "/%2e%2e/%2e%2e/etc/passwd", phoneIP) },
		"POST":                       func() answer { return capture("POST", "/sipconfig.txt", phoneIP) },
		"public source":              func() answer { return capture("GET", "/sipconfig.txt", "203.0.113.7:1") },
	}
	want := capture("GET", "/no-such-file", "192.168.1.60:1")
	if want.Code != 404 {
		t.Fatalf("baseline %+v", want)
	}
	for name, f := range cases {
		if got := f(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v, want %+v", name, got, want)
		}
	}
	// A banned source, asking for a file everyone else gets.
	for i := 0; i < 5; i++ {
		r.get("GET", "/sipconfig-00809F00000"+string(rune('0'+i))+".txt", "192.168.1.66:1", ua4018)
	}
	if got := capture("GET", "/sipconfig.txt", "192.168.1.66:1"); !reflect.DeepEqual(got, want) {
		t.Errorf("banned: %+v, want %+v", got, want)
	}
}

// TestBan: a source guessing MACs is banned after BanThreshold distinct ones in a minute, from every
// file; other sources are served; the ban ends after BanTime. A phone asking for its own unknown
// MAC again and again (rebooting in a loop) is not banned.
func TestBan(t *testing.T) {
	r := newRig(t, nil)
	attacker := "192.168.1.66:5555"
	for i := 0; i < 10; i++ {
		r.want404("/sipconfig-"+macA+".txt", phoneIP, ua4018)
	}
	r.fetchConfig("/sipconfig.txt", phoneIP, ua4018) // the looping phone is still served

	for i := 0; i < 4; i++ {
		r.want404("/sipconfig-00809F12340"+string(rune('0'+i))+".txt", attacker, ua4018)
	}
	r.fetchConfig("/sipconfig.txt", attacker, ua4018) // 4 guesses: not yet
	r.want404("/sipconfig-00809F123499.txt", attacker, ua4018)
	r.want404("/sipconfig.txt", attacker, ua4018)
	if !strings.Contains(r.logs.String(), "source banned from provisioning") {
		t.Fatalf("no ban logged:\n%s", r.logs)
	}
	// Even a pairing window does not let the banned source in.
	r.srv.OpenPairing(0)
	r.want404("/sipconfig-00809F123400.txt", attacker, ua4018)
	r.srv.ClosePairing()
	r.fetchConfig("/sipconfig.txt", "192.168.1.67:1", ua4018)
	if n := r.srv.Status().(StatusReport).BannedSources; n != 1 {
		t.Fatalf("banned sources = %d", n)
	}
	r.clock.Advance(15*time.Minute + time.Second)
	r.fetchConfig("/sipconfig.txt", attacker, ua4018)
}

// TestBanSpreadOverTime: guesses spread wider than the window do not add up.
func TestBanSpreadOverTime(t *testing.T) {
	r := newRig(t, nil)
	for i := 0; i < 8; i++ {
		r.want404("/sipconfig-00809F12340"+string(rune('0'+i))+".txt", "192.168.1.66:1", ua4018)
		r.clock.Advance(20 * time.Second)
	}
	r.fetchConfig("/sipconfig.txt", "192.168.1.66:1", ua4018)
}

// TestGlobalFileHasNoSecret: with phones paired, sipconfig.txt holds no password of any kind.
func TestGlobalFileHasNoSecret(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Pairing = PairingOpen })
	r.fetchConfig("/sipconfig-"+macA+".txt", phoneIP, ua4018)
	res := r.get("GET", "/sipconfig.txt", phoneIP, ua4018)
	g := body(t, res)
	var state stateFile
	b, _ := os.ReadFile(r.cfg.StatePath)
	if err := json.Unmarshal(b, &state); err != nil || len(state.Phones) != 1 {
		t.Fatal(err, string(b))
	}
	a, _ := r.dir.ByMAC(macA)
	for _, secret := range []string{a.Password, state.Phones[0].AdminPassword, state.Phones[0].TelnetPassword} {
		if strings.Contains(g, secret) {
			t.Fatalf("global file holds a secret %q:\n%s", secret, g)
		}
	}
	f, _ := Parse([]byte(g))
	for _, k := range f.Keys() {
		if strings.Contains(k, "password") || strings.Contains(k, "authentication_name") {
			t.Fatalf("global file has key %s", k)
		}
	}
}

// TestSecretsPerDevice (T29): 20 paired phones each get their own, unique, generated passwords, and
// each file holds only its own.
func TestSecretsPerDevice(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Pairing = PairingOpen })
	seen := map[string]bool{}
	files := map[string]string{}
	for i := 0; i < 20; i++ {
		mac := "00809F0000" + strings.ToUpper(string("0123456789abcdef"[i/16])+string("0123456789abcdef"[i%16]))
		src := "192.168.2." + strconv.Itoa(10+i) + ":1"
		res := r.get("GET", "/sipconfig-"+mac+".txt", src, ua4018)
		b := body(t, res)
		f, err := Parse([]byte(b))
		if res.StatusCode != 200 || err != nil {
			t.Fatal(res.StatusCode, err)
		}
		files[mac] = b
		for _, k := range [][2]string{{"sip", "authentication_password"}, {"appl", "admin_password"}, {"telnet", "telnet_password"}} {
			v := mustGet(t, f, k[0], k[1])
			if seen[v] {
				t.Fatalf("%s repeated: %q", k[1], v)
			}
			seen[v] = true
		}
	}
	for mac, b := range files {
		for other := range files {
			if other == mac {
				continue
			}
			a, _ := r.dir.ByMAC(other)
			if strings.Contains(b, a.Password) {
				t.Fatalf("%s's file holds %s's password", mac, other)
			}
		}
	}
}

// TestApplicationMode: the SIP value of application_mode follows the firmware in the User-Agent.
func TestApplicationMode(t *testing.T) {
	tests := []struct{ ua, want string }{
		{"Alcatel IP Touch 4018/2.01.10", "0"},
		{"Alcatel IP Touch 4008/2.00.81", "0"},
		{"Alcatel IP Touch 4018/2.00.90", "0"},
		{"Alcatel IP Touch 4018/2.00.20", "0"},
		{"Alcatel IP Touch 4018/2.00.10", "0"},
		{"Alcatel IP Touch 4018/1.50.02", "0"},
		{"Alcatel IP Touch 4018/2.00.30", "1"},
		{"Alcatel IP Touch 4018/2.00.55", "1"},
		{"Alcatel IP Touch 4008/2.00.80", "1"},
		{"curl/8.0", ""},
		{"", ""},
	}
	r := newRig(t, func(c *Config) { c.Pairing = PairingOpen })
	for _, tt := range tests {
		f := r.fetchConfig("/sipconfig.txt", phoneIP, tt.ua)
		got, ok := f.Get("init", "application_mode")
		if tt.want == "" && ok || tt.want != "" && got != tt.want {
			t.Errorf("%q: application_mode = %q (present %v), want %q", tt.ua, got, ok, tt.want)
		}
	}
}

// TestAddressFromConnection: the files name the address the phone's connection reached.
func TestAddressFromConnection(t *testing.T) {
	r := newRig(t, nil)
	f := r.fetchConfig("/sipconfig.txt", phoneIP, ua4018)
	if got := mustGet(t, f, "sip", "proxy_addr"); got != piIP {
		t.Fatalf("proxy_addr = %q", got)
	}
	r.cfg.SIPHost = "10.1.2.3"
	r.cfg.SIPPort = 5070
	r.restart()
	f = r.fetchConfig("/sipconfig.txt", phoneIP, ua4018)
	if mustGet(t, f, "sip", "proxy_addr") != "10.1.2.3" || mustGet(t, f, "sip", "proxy_port") != "5070" {
		t.Fatalf("configured SIP host ignored: %v", f)
	}
}

// TestUnsafeConfigPasswordRefused: a password with a line break in the config file would add lines to
// the phone's file; it is refused and logged, never served.
func TestUnsafeConfigPasswordRefused(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Pairing = PairingOff })
	r.config = []accounts.Account{{Extension: "201", Username: "r", Password: "x\n[appl]\nadmin_password=000000", MAC: macA,
		DisplayName: "Bob\r\n[appl]\nadmin_password=1"}}
	r.restart()
	r.want404("/sipconfig-"+macA+".txt", phoneIP, ua4018)
	if !strings.Contains(r.logs.String(), "control character") {
		t.Fatalf("log:\n%s", r.logs)
	}
}

// TestStateFileDamaged: a damaged state file stops the start with a message saying what to do.
func TestStateFileDamaged(t *testing.T) {
	data := t.TempDir()
	path := filepath.Join(data, "alcatel.json")
	os.WriteFile(path, []byte("{not json"), 0o600)
	dir, _, _ := accounts.Open("", nil)
	cfg := DefaultConfig()
	cfg.StatePath = path
	_, err := New(cfg, dir, nil)
	if err == nil || !strings.Contains(err.Error(), "move it away") {
		t.Fatalf("err = %v", err)
	}
}

// TestConfigErrors: bad settings are reported in words.
func TestConfigErrors(t *testing.T) {
	dir, _, _ := accounts.Open("", nil)
	for name, mutate := range map[string]func(*Config){
		"pairing":  func(c *Config) { c.Pairing = "maybe" },
		"timezone": func(c *Config) { c.Timezone = "Paris" },
		"first":    func(c *Config) { c.FirstExtension = "50a1" },
		"poll":     func(c *Config) { c.PollMinutes = 2 },
		"dtmf":     func(c *Config) { c.DTMFPayloadType = 101000 },
		"host":     func(c *Config) { c.SIPHost = "1.2.3.4\nproxy_addr=6.6.6.6" },
	} {
		cfg := DefaultConfig()
		mutate(&cfg)
		if _, err := New(cfg, dir, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestGuardStaysBounded: a flood of guesses from 20,000 addresses keeps the guard's table under its
// cap, and a source banned just before is still banned afterwards if the flood came from
// addresses that were never banned.
func TestGuardStaysBounded(t *testing.T) {
	g := newGuard(5, time.Minute, 15*time.Minute)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	bad := netip.MustParseAddr("192.168.1.66")
	for i := 0; i < 5; i++ {
		g.refused(bad, "00809F00000"+strconv.Itoa(i), now)
	}
	if !g.banned(bad, now) {
		t.Fatal("not banned after 5 MACs")
	}
	for i := 0; i < 20000; i++ {
		g.refused(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), "00809F000001", now)
		if len(g.sources) > maxTrackedSources {
			t.Fatalf("%d sources tracked, cap %d", len(g.sources), maxTrackedSources)
		}
	}
	if !g.banned(bad, now.Add(time.Minute)) {
		t.Fatal("the flood from other addresses lifted a ban")
	}
}

// TestOpenModeHasACap: with pairing = "open", phones pair by themselves only up to MaxPhones; the
// next unknown MAC gets the same 404 as any refusal and no account.
func TestOpenModeHasACap(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Pairing = PairingOpen; c.MaxPhones = 1 })
	r.fetchConfig("/sipconfig-"+macA+".txt", "10.0.0.5:1", ua4018)
	r.want404("/sipconfig-"+macB+".txt", "10.0.0.6:1", ua4018)
	if n := len(r.srv.Phones()); n != 1 {
		t.Fatalf("%d phones paired, want the cap of 1", n)
	}
}
