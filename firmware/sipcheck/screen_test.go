package sipcheck

import (
	"strings"
	"testing"
)

func TestScreen(t *testing.T) {
	tests := []struct {
		name, raw string
		status    int
		repaired  string // the request line after repair, when status is 0
	}{
		{"valid", base, 0, "INVITE sip:5002@10.0.0.1 SIP/2.0"},
		{"lwsstart: extra spaces forgiven", strings.Replace(base, "INVITE sip:5002@10.0.0.1 SIP/2.0", "INVITE  sip:5002@10.0.0.1   SIP/2.0", 1), 0, "INVITE sip:5002@10.0.0.1 SIP/2.0"},
		{"trws: trailing spaces forgiven", strings.Replace(base, "SIP/2.0\r\nVia", "SIP/2.0  \r\nVia", 1), 0, "INVITE sip:5002@10.0.0.1 SIP/2.0"},
		{"lwsruri: space in the Request-URI", strings.Replace(base, "sip:5002@10.0.0.1 SIP", "sip:5002@10.0.0.1; lr SIP", 1), 400, ""},
		{"ltgtruri: Request-URI in <>", strings.Replace(base, "sip:5002@10.0.0.1 SIP", "<sip:5002@10.0.0.1> SIP", 1), 400, ""},
		{"novelsc: scheme with a dot", strings.Replace(base, "sip:5002@10.0.0.1 SIP", "soap.beep://192.0.2.103:3002 SIP", 1), 416, ""},
		{"scalar02: CSeq beyond 2^31", strings.Replace(base, "CSeq: 314159", "CSeq: 36893488147419103232", 1), 400, ""},
		{"ncl: negative Content-Length", strings.Replace(base, "Content-Length: 0", "Content-Length: -999", 1), 400, ""},
		{"clerr: Content-Length beyond the body", strings.Replace(base, "Content-Length: 0", "Content-Length: 9999", 1), 400, ""},
		{"dblreq: bytes after the body are fine", base + "garbage", 0, "INVITE sip:5002@10.0.0.1 SIP/2.0"},
		{"CSeq folded over two lines, with a tab", strings.Replace(base, "CSeq: 314159 INVITE", "CSeq:\t314159\r\n  INVITE", 1), 0, "INVITE sip:5002@10.0.0.1 SIP/2.0"},
		{"CSeq with leading zeros", strings.Replace(base, "CSeq: 314159", "CSeq: 00000000000314159", 1), 0, "INVITE sip:5002@10.0.0.1 SIP/2.0"},
		{"CSeq 2^31", strings.Replace(base, "CSeq: 314159", "CSeq: 2147483648", 1), 400, ""},
		{"CSeq not a number", strings.Replace(base, "CSeq: 314159", "CSeq: 31a4159", 1), 400, ""},
		{"compact Content-Length with spaces", strings.Replace(base, "Content-Length: 0", "l :  0 ", 1), 0, "INVITE sip:5002@10.0.0.1 SIP/2.0"},
		{"tab in the request line forgiven", strings.Replace(base, "INVITE sip:5002@10.0.0.1 SIP/2.0", "INVITE\tsip:5002@10.0.0.1 SIP/2.0", 1), 0, "INVITE sip:5002@10.0.0.1 SIP/2.0"},
		{"a response is left to sipgo", "SIP/2.0 4294967301 big\r\nVia: SIP/2.0/UDP h\r\n\r\n", 0, "SIP/2.0 4294967301 big"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, e := Screen([]byte(tc.raw))
			got := 0
			if e != nil {
				got = e.Status
			}
			if got != tc.status {
				t.Fatalf("status %d (%v), want %d", got, e, tc.status)
			}
			if e != nil {
				return
			}
			if line, _, _ := strings.Cut(string(out), "\r\n"); line != tc.repaired {
				t.Fatalf("request line %q, want %q", line, tc.repaired)
			}
		})
	}
}

// A request sipgo cannot read is still answered from its Via, From, To, Call-ID and CSeq, the
// unreadable CSeq copied as sent and received= added to the Via.
func TestSalvage(t *testing.T) {
	raw := strings.Replace(base, "CSeq: 314159", "CSeq: 36893488147419103232", 1)
	_, e := Screen([]byte(raw))
	res := Salvage(NewParser(), []byte(raw), "192.0.2.9:5062", "UDP", e)
	if res == nil {
		t.Fatal("no response")
	}
	s := res.String()
	for _, want := range []string{"SIP/2.0 400 Bad CSeq\r\n", "received=192.0.2.9", "CSeq: 36893488147419103232 INVITE\r\n", ";tag=1928301774", "Call-ID: a84b4c76e66710@pc33\r\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("response lacks %q:\n%s", want, s)
		}
	}
	if res.Destination() != "192.0.2.9:5060" {
		t.Errorf("sent to %s, want the source address and the Via's port (no rport)", res.Destination())
	}
	if Salvage(NewParser(), []byte(strings.Replace(raw, "INVITE sip", "ACK sip", 1)), "192.0.2.9:5062", "UDP", e) != nil {
		t.Error("an ACK was answered")
	}
}

// RFC 4475 §3.1.1.1: whitespace around ";" and "=" does not lose the tag or quote it.
func TestParserWhitespace(t *testing.T) {
	raw := strings.Replace(base, "From: <sip:5001@10.0.0.1>;tag=1928301774", "from   : \"J R\" <sip:5001@10.0.0.1>\r\n  ;\r\n  tag = 98asjd8", 1)
	req := parse(t, raw)
	if tag, _ := req.From().Params.Get("tag"); tag != "98asjd8" {
		t.Fatalf("From tag %q, want 98asjd8 (params %v)", tag, req.From().Params)
	}
	res := Response(req, 400, "Bad")
	if to := res.To().Value(); strings.Count(to, "tag=") != 1 || strings.Contains(to, `"`) {
		t.Fatalf("To %q: want one unquoted tag", to)
	}
}
