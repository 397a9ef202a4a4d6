package registrar

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"testing"
)

func TestParseCredentials(t *testing.T) {
	good := `Digest username="alcatel", realm="deskphone", nonce="abc", uri="sip:10.0.0.1", response="0123456789abcdef0123456789abcdef", algorithm=MD5, cnonce="x y", qop=auth, nc=00000001, opaque="o"`
	tests := []struct {
		name, in string
		ok       bool
		check    func(c credentials) bool
	}{
		{"full", good, true, func(c credentials) bool {
			return c.Username == "alcatel" && c.Cnonce == "x y" && c.NC == "00000001" && c.QOP == "auth" && c.Opaque == "o"
		}},
		{"no qop (RFC 2069)", `Digest username="a", realm="r", nonce="n", uri="sip:x", response="0123456789abcdef0123456789abcdef"`, true, nil},
		{"escaped quote", `Digest username="a\"b", realm="r", nonce="n", uri="sip:x", response="0123456789abcdef0123456789abcdef"`, true,
			func(c credentials) bool { return c.Username == `a"b` }},
		{"lower-case scheme, tabs", "digest\tusername=\"a\",realm=\"r\",nonce=\"n\",uri=\"sip:x\",response=\"0123456789abcdef0123456789abcdef\"", true, nil},
		{"basic scheme", `Basic YWxhZGRpbjpvcGVuc2VzYW1l`, false, nil},
		{"missing response", `Digest username="a", realm="r", nonce="n", uri="sip:x"`, false, nil},
		{"duplicate username", `Digest username="a", username="b", realm="r", nonce="n", uri="sip:x", response="0123456789abcdef0123456789abcdef"`, false, nil},
		{"unterminated quote", `Digest username="a, realm="r"`, false, nil},
		{"empty value", `Digest username=, realm="r", nonce="n", uri="sip:x", response="0123456789abcdef0123456789abcdef"`, false, nil},
		{"SHA-256", strings.Replace(good, "algorithm=MD5", "algorithm=SHA-256", 1), false, nil},
		{"qop auth-int", strings.Replace(good, "qop=auth", "qop=auth-int", 1), false, nil},
		{"qop without nc", strings.Replace(good, "nc=00000001, ", "", 1), false, nil},
		{"short response", strings.Replace(good, "0123456789abcdef0123456789abcdef", "00", 1), false, nil},
		{"control character", strings.Replace(good, `"alcatel"`, "\"al\x00catel\"", 1), false, nil},
		{"huge", `Digest username="` + strings.Repeat("a", 5000) + `"`, false, nil},
		{"missing comma", `Digest username="a" realm="r"`, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseCredentials(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && tc.check != nil && !tc.check(c) {
				t.Fatalf("parsed wrongly: %+v", c)
			}
		})
	}
}

// RFC 2617 §3.5 example, with the SIP method in place of GET.
func TestExpectedResponseRFC2617(t *testing.T) {
	c := credentials{Username: "Mufasa", Realm: "testrealm@host.com", Nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
		URI: "/dir/index.html", QOP: "auth", NC: "00000001", Cnonce: "0a4f113b"}
	got := expectedResponse(c, ha1("Mufasa", "testrealm@host.com", "Circle Of Life"), "GET")
	if got != "6629fae49393a05397450978507c4ef1" {
		t.Fatalf("response %s", got)
	}
}

// FuzzParseCredentials: any header value parses or fails cleanly, never panics, and what parses
// round-trips through the fields a challenge check uses.
func FuzzParseCredentials(f *testing.F) {
	f.Add(`Digest username="alcatel", realm="deskphone", nonce="abc", uri="sip:10.0.0.1", response="0123456789abcdef0123456789abcdef", algorithm=MD5, cnonce="x", qop=auth, nc=00000001`)
	f.Add(`Digest username="a\"b", realm="r", nonce="n", uri="sip:x", response="0123456789abcdef0123456789abcdef"`)
	f.Add(`Digest username=, realm`)
	f.Add(`Digest ,,,,`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCredentials(s)
		if err != nil {
			return
		}
		if c.Username == "" || c.Realm == "" || c.Nonce == "" || len(c.Response) != 32 {
			t.Fatalf("accepted incomplete credentials %+v from %q", c, s)
		}
		for _, v := range []string{c.Username, c.Realm, c.Nonce, c.URI, c.Cnonce, c.NC} {
			if strings.ContainsAny(v, "\r\n\x00") {
				t.Fatalf("control character survived parsing: %q", v)
			}
		}
		_ = checkDigest(c, dummyHA1, "REGISTER")
	})
}

// A reused MAC state gives what a fresh one gives, call after call.
func TestMACsReuse(t *testing.T) {
	key := []byte("route-key")
	m := newMACs(key)
	for _, msg := range []string{"a@host", "", "b@host", "a@host"} {
		h := hmac.New(sha256.New, key)
		h.Write([]byte("stamp"))
		h.Write([]byte(msg))
		if got := m.sum(nil, []byte("stamp"), msg); !hmac.Equal(got, h.Sum(nil)) {
			t.Fatalf("MAC of %q differs from a fresh HMAC", msg)
		}
	}
}

// Checking a digest allocates nothing: it runs for every authenticated request.
func TestCheckDigestNoAllocation(t *testing.T) {
	c := credentials{Username: "alcatel", Realm: "deskphone", Nonce: "abcdefghijklmnopqrstuvwxyz0123456789", URI: "sip:10.0.0.1",
		Response: "00000000000000000000000000000000", QOP: "auth", NC: "00000001", Cnonce: "xyz"}
	if n := testing.AllocsPerRun(100, func() {
		h1 := md5Hex(c.Username, ":", c.Realm, ":", "secret")
		checkDigest(c, string(h1[:]), "REGISTER")
	}); n != 0 {
		t.Errorf("%v allocations per digest check", n)
	}
}
