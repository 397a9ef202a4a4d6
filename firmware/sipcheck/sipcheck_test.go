package sipcheck

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

const base = "INVITE sip:5002@10.0.0.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK776asdhds\r\n" +
	"Max-Forwards: 70\r\n" +
	"To: <sip:5002@10.0.0.1>\r\n" +
	"From: <sip:5001@10.0.0.1>;tag=1928301774\r\n" +
	"Call-ID: a84b4c76e66710@pc33\r\n" +
	"CSeq: 314159 INVITE\r\n" +
	"Content-Length: 0\r\n\r\n"

func parse(t *testing.T, raw string) *sip.Request {
	t.Helper()
	m, err := NewParser().ParseSIP([]byte(raw))
	if err != nil {
		t.Fatalf("sipgo does not parse the test message: %v", err)
	}
	return m.(*sip.Request)
}

// The RFC 4475 cases sipgo's parser accepts, and what they must be answered with.
func TestRequest(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		status int
	}{
		{"valid", base, 0},
		{"compact headers", strings.NewReplacer("Via:", "v:", "To:", "t:", "From:", "f:", "Call-ID:", "i:").Replace(base), 0},
		{"badvers: SIP/7.0", strings.Replace(base, "SIP/2.0\r\nVia", "SIP/7.0\r\nVia", 1), 505},
		{"unkscm: unknown scheme", strings.Replace(base, "sip:5002@10.0.0.1 SIP", "nope:5002@10.0.0.1 SIP", 1), 416},
		{"mismatch01: CSeq method", strings.Replace(base, "CSeq: 314159 INVITE", "CSeq: 314159 OPTIONS", 1), 400},
		{"insuf: no Call-ID", strings.Replace(base, "Call-ID: a84b4c76e66710@pc33\r\n", "", 1), 400},
		{"no From", strings.Replace(base, "From: <sip:5001@10.0.0.1>;tag=1928301774\r\n", "", 1), 400},
		{"two To headers", strings.Replace(base, "Max-Forwards", "To: <sip:x@y>\r\nMax-Forwards", 1), 400},
		{"two Content-Length", strings.Replace(base, "Max-Forwards", "Content-Length: 0\r\nMax-Forwards", 1), 400},
		{"non-numeric Expires", strings.Replace(base, "Max-Forwards", "Expires: soon\r\nMax-Forwards", 1), 400},
		{"oversized tag", strings.Replace(base, "tag=1928301774", "tag="+strings.Repeat("x", 300), 1), 400},
		{"NUL in a header value", strings.Replace(base, "Max-Forwards", "Subject: a\x00b\r\nMax-Forwards", 1), 400},
		{"escaped NUL in a quoted string (RFC 4475 intmeth)", strings.Replace(base, "Max-Forwards", "Subject: \"a\\\x00b\"\r\nMax-Forwards", 1), 0},
		{"branch is only the magic cookie", strings.Replace(base, "branch=z9hG4bK776asdhds", "branch=z9hG4bK", 1), 400},
		{"longreq: 34 Via headers", strings.Replace(base, "Max-Forwards", strings.Repeat("Via: SIP/2.0/UDP h;branch=z9hG4bKx\r\n", 33)+"Max-Forwards", 1), 0},
		{"CSeq not below 2^31", strings.Replace(base, "CSeq: 314159", "CSeq: 2147483648", 1), 400},
		{"baddn: display name with a comma, unquoted", strings.Replace(base, "From: <sip", "From: Bell, Alexander <sip", 1), 400},
		{"quotbal: unbalanced quote", strings.Replace(base, "To: <sip", "To: \"Mr. J. User <sip", 1), 400},
		{"badaspec: spaces in the addr-spec", strings.Replace(base, "To: <sip:5002@10.0.0.1>", "To: < sip:5002@10.0.0.1 >", 1), 400},
		{"lwsdisp: no space before <", strings.Replace(base, "From: <sip", "From: caller<sip", 1), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Request(parse(t, tc.raw), Limits{})
			got := 0
			if err != nil {
				got = err.Status
			}
			if got != tc.status {
				t.Fatalf("status %d (%v), want %d", got, err, tc.status)
			}
		})
	}
}

func TestUnsupported(t *testing.T) {
	req := parse(t, strings.Replace(base, "Max-Forwards", "Require: 100rel, foo\r\nProxy-Require: bar\r\nMax-Forwards", 1))
	if got := Unsupported(req, "Require", "100rel"); len(got) != 1 || got[0] != "foo" {
		t.Fatalf("Require: %v", got)
	}
	if got := Unsupported(req, "Proxy-Require"); len(got) != 1 || got[0] != "bar" {
		t.Fatalf("Proxy-Require: %v", got)
	}
}

func TestText(t *testing.T) {
	for _, s := range []string{"Alice", "Bureau 12\tgauche", "Émile"} {
		if Text(s) != nil {
			t.Errorf("%q refused", s)
		}
	}
	for _, s := range []string{"a\r\nVia: x", "a\nb", "a\x00", "a%0d%0a\r"} {
		if Text(s) == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// FuzzRequest feeds arbitrary bytes through sipgo's parser and this package: never a panic, and
// a request it accepts has the mandatory headers and no control characters in them.
func FuzzRequest(f *testing.F) {
	f.Add([]byte(base))
	f.Add([]byte(strings.Replace(base, "SIP/2.0\r\nVia", "SIP/7.0\r\nVia", 1)))
	f.Add([]byte("OPTIONS sip:x SIP/2.0\r\nv: SIP/2.0/UDP h\r\n\r\n"))
	f.Add([]byte("REGISTER sip:x SIP/2.0\r\nContent-Length: 999999999\r\n\r\nabc"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := sip.NewParser().ParseSIP(b)
		if err != nil {
			return
		}
		req, ok := m.(*sip.Request)
		if !ok {
			return
		}
		if Request(req, Limits{}) != nil {
			return
		}
		if req.From() == nil || req.To() == nil || req.CallID() == nil || req.CSeq() == nil || req.Via() == nil {
			t.Fatal("accepted a request without mandatory headers")
		}
		for _, h := range req.Headers() {
			if strings.ContainsAny(h.Value(), "\r\n") {
				t.Fatalf("accepted a control character in %s", h.Name())
			}
		}
	})
}
