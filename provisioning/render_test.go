package provisioning

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/deskphone/deskphone/firmware/accounts"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files")

// TestRenderGolden pins the generated files for several configs, zones and firmware versions. Run
// `go test ./provisioning -run Golden -update` after an intended change and review the diff.
func TestRenderGolden(t *testing.T) {
	acct := accounts.Account{Extension: "5001", Username: "5001", Password: "Xq7pT2mK9vR4wZ8bN3cH", DisplayName: "IP Touch 4018 (5001)", MAC: macA}
	tests := []struct {
		name   string
		cfg    func(*Config)
		ua     string
		now    time.Time
		acct   accounts.Account
		local  string
		parsed map[string]string // a few values checked by meaning, beside the golden bytes
	}{
		{
			name:   "paris-4018",
			cfg:    func(c *Config) { c.Timezone = "Europe/Paris"; c.Realm = "deskphone" },
			ua:     ua4018,
			now:    time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC),
			acct:   acct,
			local:  "192.168.1.82",
			parsed: map[string]string{"sntp.timezone": "UT::60:032902:102503", "sip.preferred_vocoder": "8,0", "init.application_mode": "0"},
		},
		{
			name: "newyork-4008-inverted-mode",
			cfg: func(c *Config) {
				c.Timezone = "America/New_York"
				c.ToneCountry = "us"
				c.Codecs = []string{"PCMU", "opus", "G722", "pcma"}
				c.NTPServer = "192.168.0.1"
				c.DNSServer = "192.168.0.1"
				c.PollMinutes = 15
				c.SIPPort = 5070
				c.Realm = "office"
			},
			ua:     "Alcatel IP Touch 4008/2.00.50",
			now:    time.Date(2027, 2, 1, 12, 0, 0, 0, time.UTC),
			acct:   accounts.Account{Extension: "101", Username: "frontdesk", Password: "Config-Password-123", DisplayName: "Front desk", MAC: macB},
			local:  "192.168.0.10",
			parsed: map[string]string{"sntp.timezone": "UT::-300:031402:110702", "sip.preferred_vocoder": "0,8", "init.application_mode": "1", "audio.tone_country": "0"},
		},
		{
			name: "sydney-unknown-firmware",
			cfg: func(c *Config) {
				c.Timezone = "Australia/Sydney"
				c.ToneCountry = "uk"
				c.Codecs = []string{"G729", "PCMA"}
			},
			ua:     "",
			now:    time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC),
			acct:   accounts.Account{Extension: "5002", Username: "5002", Password: "h8RmQ4kT6wZ2pX9vB3nC", DisplayName: "  Front\tdesk\n[appl]\nadmin_password=0 ", MAC: macA},
			local:  "10.0.0.2",
			parsed: map[string]string{"sntp.timezone": "UT::600:100402:040503", "sip.preferred_vocoder": "18,8", "sip.display_name": "Front desk [appl] admin_password=0", "sip.authentication_realm": "10.0.0.2"},
		},
		{
			name: "kolkata-no-dst",
			cfg: func(c *Config) {
				c.Timezone = "Asia/Kolkata"
				c.DTMFPayloadType = 101
				c.Realm = "office.example"
				c.ToneCountry = "de"
			},
			ua:     ua4018,
			now:    time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
			acct:   accounts.Account{Extension: "5003", Username: "5003", Password: "r2D2c3POr2D2c3POr2D2", MAC: macA},
			local:  "172.16.5.1",
			parsed: map[string]string{"sntp.timezone": "UT::330:000000:000000", "audio.dtmf_avt_payload_type": "101", "sip.display_name": "5003", "audio.tone_country": "2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.cfg(&cfg)
			dir, _, _ := accounts.Open("", nil)
			srv, err := New(cfg, dir, slog.New(slog.DiscardHandler), WithClock(func() time.Time { return tt.now }))
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("GET", "/sipconfig.txt", nil)
			req.Header.Set("User-Agent", tt.ua)
			req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, net.Addr(&net.TCPAddr{IP: net.ParseIP(tt.local), Port: 80})))
			st, ok := srv.siteFor(req, parseUserAgent(tt.ua), srv.log)
			if !ok {
				t.Fatal("no site")
			}
			p := phone{MAC: tt.acct.MAC, Model: parseUserAgent(tt.ua).Model, Account: tt.acct, AdminPassword: "48213907", TelnetPassword: "5820194736150284"}
			global, err := renderGlobal(st).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			perPhone, err := renderPhone(st, p).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name+".global.golden", global)
			golden(t, tt.name+".phone.golden", perPhone)
			f, err := Parse(perPhone)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.parsed {
				sec, key, _ := cutDot(k)
				if got := mustGet(t, f, sec, key); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			for _, k := range []string{"domain_name", "proxy_addr", "registrar_addr"} {
				if got := mustGet(t, f, "sip", k); got != tt.local {
					t.Errorf("%s = %q, want the Pi's address %s", k, got, tt.local)
				}
			}
		})
	}
}

func cutDot(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// With voicemail on, the message key dials *97 and the phone's MWI URI is its own mailbox; the
// network-wide file carries no extension.
func TestRenderVoicemail(t *testing.T) {
	st := site{Host: "192.168.1.82", SIPPort: 5060, Realm: "deskphone", Vocoders: "8,0", DTMFPayloadType: 96, RegisterExpires: 600, PollMinutes: 60, Voicemail: true}
	p := phone{MAC: "00809f123456", Account: accounts.Account{Extension: "5001", Username: "alcatel", Password: "secret-password"}}
	global, _ := renderGlobal(st).Marshal()
	perPhone, _ := renderPhone(st, p).Marshal()
	for name, b := range map[string][]byte{"global": global, "phone": perPhone} {
		f, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, f, "sip", "voice_mail_uri"); got != "*97@192.168.1.82" {
			t.Errorf("%s voice_mail_uri = %q", name, got)
		}
		want := ""
		if name == "phone" {
			want = "5001@192.168.1.82"
		}
		if got := mustGet(t, f, "sip", "message_waiting_indication_uri"); got != want {
			t.Errorf("%s message_waiting_indication_uri = %q, want %q", name, got, want)
		}
		if n := bytes.Count(b, []byte("message_waiting_indication_uri")); n != 1 {
			t.Errorf("%s: the key appears %d times", name, n)
		}
	}
}
