package sipcheck

import (
	"bytes"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// WriteHeader writes what sipgo's StringWrite writes.
func TestWriteHeaderAsSipgo(t *testing.T) {
	p := sip.NewParser()
	for _, via := range []string{
		"SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1;rport", "SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bKx;received=2001:db8::2",
		"SIP/2.0/UDP phone.example.com;branch=z9hG4bKx;rport=5999;received=10.0.0.9", "SIP/2.0/WSS abc.invalid;branch=z9hG4bKy",
		"SIP/2.0/UDP [::ffff:10.0.0.1]:5060;branch=z9hG4bKz", "SIP/2.0/UDP 10.0.0.1:65535;branch=\"z9hG4bK q\"",
	} {
		msg, err := p.ParseSIP([]byte("OPTIONS sip:a@b SIP/2.0\r\nVia: " + via + "\r\nContent-Length: 0\r\n\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		h := msg.(*sip.Request).Via()
		var want strings.Builder
		h.StringWrite(&want)
		var got bytes.Buffer
		WriteHeader(&got, h)
		if got.String() != want.String() {
			t.Errorf("Via %q written as %q, want %q", via, got.String(), want.String())
		}
		if n := testing.AllocsPerRun(50, func() { got.Reset(); WriteHeader(&got, h) }); n != 0 {
			t.Errorf("Via %q: %v allocations", via, n)
		}
	}
}

// WriteViaWith writes what HeaderParams.Add on a clone would make sipgo write.
func TestWriteViaWithAsAdd(t *testing.T) {
	p := sip.NewParser()
	sets := [][]sip.HeaderKV{
		nil,
		{{K: "rport", V: "5999"}, {K: "received", V: "10.0.0.9"}},
		{{K: "received", V: "10.0.0.9"}},
		{{K: "a", V: "1"}, {K: "b", V: "2"}, {K: "a", V: "3"}},
		{{K: "branch", V: "z9hG4bK-2"}, {K: "x", V: "has space"}},
	}
	for _, via := range []string{
		"SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1;rport", "SIP/2.0/UDP 10.0.0.1;rport;branch=z9hG4bK-1;received=1.2.3.4",
		"SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1;a=0;a=9", "SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bKx",
	} {
		msg, err := p.ParseSIP([]byte("OPTIONS sip:a@b SIP/2.0\r\nVia: " + via + "\r\nContent-Length: 0\r\n\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		h := msg.(*sip.Request).Via()
		for _, set := range sets {
			c := h.Clone()
			for _, kv := range set {
				c.Params.Add(kv.K, kv.V)
			}
			var want strings.Builder
			c.StringWrite(&want)
			var got bytes.Buffer
			WriteViaWith(&got, h, set...)
			if got.String() != want.String() {
				t.Errorf("Via %q with %v written as %q, want %q", via, set, got.String(), want.String())
			}
		}
	}
}
