package provisioning

import (
	"reflect"
	"strings"
	"testing"

	"github.com/deskphone/deskphone/firmware/accounts"
)

// FuzzParsePath: the router never panics, and whatever it accepts is one of the allowed names at the
// root: no traversal, no encoding, no second segment. Seeds in testdata/fuzz/FuzzParsePath.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/sipconfig.txt", "/sipconfig-00809f5607ae.txt", "/noesip4018", "/../etc/passwd", "/%2e%2e/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		rt := parsePath(p)
		if rt.kind == kindNone {
			return
		}
		lower := strings.ToLower(p)
		if strings.Count(p, "/") != 1 || p[0] != '/' || strings.ContainsAny(p, "%\\\x00") || strings.Contains(p, "..") || len(p) > maxPathLen {
			t.Fatalf("accepted hostile path %q as %+v", p, rt)
		}
		switch rt.kind {
		case kindGlobal:
			if lower != "/sipconfig.txt" {
				t.Fatalf("%q routed to the global file", p)
			}
		case kindPhone:
			if accounts.NormalizeMAC(rt.mac) != rt.mac || lower != "/sipconfig-"+strings.ToLower(rt.mac)+".txt" {
				t.Fatalf("%q routed to phone %q", p, rt.mac)
			}
		case kindFirmware:
			if _, ok := firmwareNames[rt.file]; !ok || lower != "/"+rt.file {
				t.Fatalf("%q routed to firmware %q", p, rt.file)
			}
		}
	})
}

// FuzzRenderParse (render → parse round trip): whatever a user puts in an account, the rendered file
// either is refused (a password or name with a control character) or parses back to exactly the
// keys of a plain account, with the same credentials: no text can add a line or a key.
func FuzzRenderParse(f *testing.F) {
	f.Add("5001", "Xq7pT2mK9vR4wZ8bN3cH", "Front desk")
	f.Add("bob", "pw\n[appl]\nadmin_password=0", "x")
	f.Add("bob", "pw", "Bob\r\n[sip]\nproxy_addr=6.6.6.6")
	f.Add("b=o#b", "p=w#1 ", "\u2028é\u0085")
	st := site{Host: "192.168.1.82", SIPPort: 5060, Realm: "r", Timezone: "UT::60:032902:102503", Vocoders: "8,0", DTMFPayloadType: 96, RegisterExpires: 600, PollMinutes: 60, AppMode: "0"}
	plain := renderPhone(st, phone{MAC: macA, Account: accounts.Account{Extension: "1", Username: "u", Password: "p", DisplayName: "n"}, AdminPassword: "1", TelnetPassword: "2"})
	f.Fuzz(func(t *testing.T, user, password, name string) {
		acct := accounts.Account{Extension: "5001", Username: user, Password: password, DisplayName: name}
		out, err := renderPhone(st, phone{MAC: macA, Account: acct, AdminPassword: "12345678", TelnetPassword: "1234567812345678"}).Marshal()
		if err != nil {
			if checkValue(user) == nil && checkValue(password) == nil {
				t.Fatalf("refused clean values %q %q: %v", user, password, err)
			}
			return
		}
		got, err := Parse(out)
		if err != nil {
			t.Fatalf("rendered file does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(got.Keys(), plain.Keys()) {
			t.Fatalf("keys changed:\n%v\n%v", got.Keys(), plain.Keys())
		}
		if v, _ := got.Get("sip", "authentication_password"); v != password {
			t.Fatalf("password %q came back as %q", password, v)
		}
		if v, _ := got.Get("sip", "user_name"); v != user {
			t.Fatalf("user %q came back as %q", user, v)
		}
		if v, _ := got.Get("appl", "admin_password"); v != "12345678" {
			t.Fatalf("admin_password overridden: %q", v)
		}
	})
}

// FuzzParse: the file parser never panics, and what it accepts survives Marshal → Parse unchanged.
func FuzzParse(f *testing.F) {
	f.Add("[sip]\nproxy_addr=1.2.3.4\n")
	f.Add("# c\n  [audio]\r\n dtmf_type = 0\n\n")
	f.Add("key=before section\n")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse([]byte(s))
		if err != nil {
			return
		}
		b, err := a.Marshal()
		if err != nil {
			t.Fatalf("parsed file does not marshal: %v", err)
		}
		c, err := Parse(b)
		if err != nil || !reflect.DeepEqual(a.Sections, c.Sections) {
			t.Fatalf("round trip: %v\n%#v\n%#v", err, a.Sections, c.Sections)
		}
	})
}
