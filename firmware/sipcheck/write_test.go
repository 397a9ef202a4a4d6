package sipcheck

import (
	"bytes"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// parseVia is the Via header sipgo's parser makes of via.
func parseVia(t *testing.T, via string) *sip.ViaHeader {
	t.Helper()
	msg, err := sip.NewParser().ParseSIP([]byte("OPTIONS sip:a@b SIP/2.0\r\nVia: " + via + "\r\nContent-Length: 0\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return msg.(*sip.Request).Via()
}

// WriteHeader writes what sipgo's StringWrite writes.
func TestWriteHeaderAsSipgo(t *testing.T) {
	for _, via := range []string{
		"SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1;rport", "SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bKx;received=2001:db8::2",
		"SIP/2.0/UDP phone.example.com;branch=z9hG4bKx;rport=5999;received=10.0.0.9", "SIP/2.0/WSS abc.invalid;branch=z9hG4bKy",
		"SIP/2.0/UDP [::ffff:10.0.0.1]:5060;branch=z9hG4bKz", "SIP/2.0/UDP 10.0.0.1:65535;branch=\"z9hG4bK q\"",
	} {
		h := parseVia(t, via)
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
		h := parseVia(t, via)
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

// From, To and Contact headers and URIs are written as sipgo writes them.
func TestWriteNameAddrAsSipgo(t *testing.T) {
	p := sip.NewParser()
	for _, hdrs := range []string{
		"From: <sip:bob@10.0.0.1>;tag=1\r\nTo: <sip:bob@10.0.0.1>\r\nContact: <sip:bob@10.0.0.9:5060;transport=UDP>;expires=3600",
		"From: \"Bob B\" <sips:bob:pw@[2001:db8::1]:5061;user=phone;lr?Subject=x&Priority=urgent>;tag=a b\r\nTo: sip:alice@example.com;tag=x\r\nContact: *",
		"From: <tel:+4912345;phone-context=x>;tag=1\r\nTo: <urn:service:sos>\r\nContact: \"A\" <sip:a@b;ob>;+sip.instance=\"<urn:uuid:1>\";reg-id=1",
		"From: <sip:%61lice@h;maddr=[::1]>;tag=1\r\nTo: <sip:h>\r\nContact: <sip:u@10.0.0.1:65000;x=\"q r\">, <sip:v@10.0.0.2>",
	} {
		msg, err := p.ParseSIP([]byte("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\r\n" + hdrs + "\r\nContent-Length: 0\r\n\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range msg.(*sip.Request).Headers() {
			var want strings.Builder
			h.StringWrite(&want)
			var got bytes.Buffer
			WriteHeader(&got, h)
			if got.String() != want.String() {
				t.Errorf("%s written as %q, want %q", h.Name(), got.String(), want.String())
			}
			var addr *sip.Uri
			switch h := h.(type) {
			case *sip.FromHeader:
				addr = &h.Address
			case *sip.ToHeader:
				addr = &h.Address
			case *sip.ContactHeader:
				addr = &h.Address
			}
			if addr != nil && !addr.Wildcard && URIString(addr) != addr.String() {
				t.Errorf("URI written as %q, want %q", URIString(addr), addr.String())
			}
		}
	}
}
