package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
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
