package config

import (
	"errors"
	"testing"
)

func TestSRTPSettings(t *testing.T) {
	cfg := `[[registrar.accounts]]
extension = "5003"
username = "bob"
password = "long-enough-pw"
srtp = "always"

[phone]
srtp = "mandatory"
`
	_, err := Parse("deskphone.toml", []byte(cfg))
	var p *Problems
	if !errors.As(err, &p) {
		t.Fatalf("want *Problems, got %v", err)
	}
	got := map[string]int{}
	for _, x := range p.List {
		got[x.Key] = x.Line
	}
	// The phone's SRTP keys would cross the LAN in clear over UDP; "always" is no policy.
	if got["registrar.accounts.0.srtp"] != 5 || got["phone.srtp"] != 8 || len(p.List) != 2 {
		t.Fatalf("problems %v", p.List)
	}
	f, err := Parse("deskphone.toml", []byte("[[registrar.accounts]]\nextension = \"5003\"\nusername = \"bob\"\npassword = \"long-enough-pw\"\nsrtp = \"optional\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Phone.Media().SRTP != "off" || f.Registrar.Accounts[0].SRTP != "optional" {
		t.Fatalf("phone media %q, account %q", f.Phone.Media().SRTP, f.Registrar.Accounts[0].SRTP)
	}
}
