package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestExampleIsTheDefault(t *testing.T) {
	f, err := Parse("example.toml", []byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f, Default()) {
		t.Fatalf("the example config and Default() disagree:\nexample %+v\ndefault %+v", f, Default())
	}
	if strings.Contains(example, "password = \"") && !strings.Contains(example, "# password = \"a-strong") {
		t.Fatal("the example ships a password")
	}
}

func TestExampleOverrides(t *testing.T) {
	text, err := Example(map[string]string{"web.listen": `"127.0.0.1:8080"`, "audio.input": `"mic.wav"`, "audio.backend": `"file"`, "data_dir": `"/tmp/x"`})
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse("x", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if f.Web.Listen != "127.0.0.1:8080" || f.Audio.Input != "mic.wav" || f.DataDir != "/tmp/x" {
		t.Fatalf("overrides not applied: %+v %+v %s", f.Web, f.Audio, f.DataDir)
	}
	if _, err := Example(map[string]string{"web.nope": "1"}); err == nil {
		t.Fatal("unknown override accepted")
	}
}

func TestProblemsCarryLines(t *testing.T) {
	cfg := `data_dir = "/tmp/d"
[registrar]
realm = "deskphone"
lisen = "0.0.0.0:5060"

[[registrar.accounts]]
extension = "5001"
username = "alcatel"
password = "short"

[[registrar.accounts]]
extension = "5001"
username = "bob"
password = "long-enough-pw"

[phone]
transport = "sctp"
tone_country = "xx"
`
	_, err := Parse("deskphone.toml", []byte(cfg))
	var p *Problems
	if !errors.As(err, &p) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("want *Problems, got %v", err)
	}
	want := map[string]int{
		"registrar.lisen":               4,
		"registrar.accounts.0.password": 9,
		"registrar.accounts.1":          11,
		"phone.transport":               17,
		"phone.tone_country":            18,
	}
	got := map[string]int{}
	for _, x := range p.List {
		got[x.Key] = x.Line
	}
	for k, line := range want {
		if got[k] != line {
			t.Errorf("%s reported at line %d, want %d (all: %v)", k, got[k], line, p.List)
		}
	}
	if len(p.List) != len(want) {
		t.Errorf("got %d problems, want %d: %v", len(p.List), len(want), p.List)
	}
	if !strings.Contains(err.Error(), "deskphone.toml:line 9: registrar.accounts.0.password: is too short") {
		t.Errorf("message does not name file, line and key:\n%s", err)
	}
}

func TestSyntaxErrorHasLine(t *testing.T) {
	_, err := Parse("f.toml", []byte("data_dir = \"/x\"\n[registrar\nenabled = true\n"))
	var p *Problems
	if !errors.As(err, &p) || len(p.List) != 1 || p.List[0].Line != 2 {
		t.Fatalf("want one problem on line 2, got %v", err)
	}
}

func TestTypeErrorHasLine(t *testing.T) {
	_, err := Parse("f.toml", []byte("[registrar]\nrealm = \"x\"\nmax_contacts = \"many\"\n"))
	var p *Problems
	if !errors.As(err, &p) || len(p.List) != 1 || p.List[0].Line != 3 {
		t.Fatalf("want one problem on line 3, got %v", err)
	}
}

func TestExternalRegistrarNeedsPassword(t *testing.T) {
	_, err := Parse("f.toml", []byte("[registrar]\nenabled = false\n[provisioning]\nenabled = false\n[phone]\nregistrar = \"10.0.0.1:5060\"\n"))
	if err == nil || !strings.Contains(err.Error(), "phone.password") {
		t.Fatalf("want a phone.password problem, got %v", err)
	}
}

func TestCodecOrder(t *testing.T) {
	for _, c := range []struct {
		p    Phone
		want string
	}{
		{Phone{ToneCountry: "fr"}, "PCMA,PCMU"},
		{Phone{ToneCountry: "us"}, "PCMU,PCMA"},
		{Phone{ToneCountry: "fr", Codecs: []string{"pcmu"}}, "PCMU"},
	} {
		if got := strings.Join(c.p.CodecOrder(), ","); got != c.want {
			t.Errorf("%+v: %s, want %s", c.p, got, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(example))
	f.Add([]byte("[[registrar.accounts]]\nextension=\"1\"\n"))
	f.Add([]byte("a = '''\nmulti\n'''\n[x]\nb = [1,\n2]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz", data)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Parse returned cfg=%v err=%v", cfg, err)
		}
	})
}

// The usual PBX style names an account by its number; only two different accounts sharing a
// name collide, and the second one is reported at its own line.
func TestAccountMayUseItsNumberAsUserName(t *testing.T) {
	ok := "[[registrar.accounts]]\nextension = \"5001\"\nusername = \"5001\"\npassword = \"long-enough-pw\"\n"
	if _, err := Parse("f.toml", []byte(ok)); err != nil {
		t.Fatalf("an account named by its own number is refused: %v", err)
	}
	clash := ok + "\n[[registrar.accounts]]\nextension = \"5002\"\nusername = \"5001\"\npassword = \"long-enough-pw\"\n"
	_, err := Parse("f.toml", []byte(clash))
	var p *Problems
	if !errors.As(err, &p) || len(p.List) != 1 || p.List[0].Key != "registrar.accounts.1" || p.List[0].Line != 6 ||
		!strings.Contains(p.List[0].Msg, `"5001" is already used by registrar.accounts.0`) {
		t.Fatalf("want one clash reported for registrar.accounts.1 at line 6, got %v", err)
	}
}

// With an external registrar the phone's extension and user name are any SIP user part (an
// Asterisk endpoint named "rpi"); with the built-in one the extension is the phone's number.
func TestPhoneExtensionIsAnySIPUser(t *testing.T) {
	external := "[registrar]\nenabled = false\n[provisioning]\nenabled = false\n[phone]\nregistrar = \"10.0.0.1:5060\"\npassword = \"secret\"\n"
	for _, c := range []struct {
		ext, user string
		problem   string // key reported, "" for none
	}{
		{"rpi", "rpi", ""},
		{"5002", "5002", ""},
		{"pi.office-1", "a%41b!~*'()&=+$,;?/", ""},
		{"r pi", "rpi", "phone.extension"},
		{"rpi", "bad%4", "phone.username"},
		{"rpi", "é", "phone.username"},
		{"", "rpi", "phone.extension"},
	} {
		cfg := external + fmt.Sprintf("extension = %q\nusername = %q\n", c.ext, c.user)
		_, err := Parse("f.toml", []byte(cfg))
		var p *Problems
		switch {
		case c.problem == "" && err != nil:
			t.Errorf("extension %q username %q refused: %v", c.ext, c.user, err)
		case c.problem != "" && (!errors.As(err, &p) || len(p.List) != 1 || p.List[0].Key != c.problem || p.List[0].Line != 8+btoi(c.problem == "phone.username")):
			t.Errorf("extension %q username %q: want one %s problem on its line, got %v", c.ext, c.user, c.problem, err)
		}
	}
	_, err := Parse("f.toml", []byte("[phone]\nextension = \"rpi\"\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2: phone.extension: must be 1-15 digits: it is the phone's number on the built-in registrar") {
		t.Fatalf("with the built-in registrar a named extension must be refused, got %v", err)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// rtp_timeout: "0" turns it off, a few seconds is fine, less than a second is refused.
func TestRTPTimeout(t *testing.T) {
	for _, c := range []struct {
		v    string
		want time.Duration
		bad  bool
	}{{`"0"`, 0, false}, {`"3s"`, 3 * time.Second, false}, {`"500ms"`, 0, true}, {`"-1s"`, 0, true}} {
		f, err := Parse("f.toml", []byte("[phone]\nrtp_timeout = "+c.v+"\n"))
		switch {
		case c.bad && (err == nil || !strings.Contains(err.Error(), "phone.rtp_timeout")):
			t.Errorf("rtp_timeout = %s: %v, want a phone.rtp_timeout problem", c.v, err)
		case !c.bad && err != nil:
			t.Errorf("rtp_timeout = %s: %v", c.v, err)
		case !c.bad && f.Phone.Media().RTPTimeout != c.want:
			t.Errorf("rtp_timeout = %s gives %s", c.v, f.Phone.Media().RTPTimeout)
		}
	}
	if d := Default().Phone.RTPTimeout.Duration; d != 60*time.Second {
		t.Errorf("default rtp_timeout %s, want 60s", d)
	}
}

// The SRTP bridge's port range must hold two even/odd pairs (one per leg of a call).
func TestSRTPBridgePortRange(t *testing.T) {
	for _, c := range []struct {
		min, max int
		bad      bool
	}{{0, 0, false}, {20000, 20003, false}, {1025, 1029, false}, {1025, 1028, true}, {1000, 1010, true}, {20000, 20002, true}} {
		_, err := Parse("f.toml", []byte(fmt.Sprintf("[registrar]\nsrtp_bridge_port_min = %d\nsrtp_bridge_port_max = %d\n", c.min, c.max)))
		switch {
		case c.bad && (err == nil || !strings.Contains(err.Error(), "registrar.srtp_bridge_port_min")):
			t.Errorf("%d–%d: %v, want a registrar.srtp_bridge_port_min problem", c.min, c.max, err)
		case !c.bad && err != nil:
			t.Errorf("%d–%d: %v", c.min, c.max, err)
		}
	}
}
