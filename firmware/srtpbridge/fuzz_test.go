package srtpbridge

import (
	"net/netip"
	"testing"

	"github.com/deskphone/deskphone/firmware/sdes"
)

// FuzzRewrite: any SDP body is read or refused, never a panic, and what the bridge writes from
// it reads back with its address, its port and exactly the keys it put in.
func FuzzRewrite(f *testing.F) {
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj\r\na=rtcp:4001\r\n"))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\nc=IN IP4 10.0.0.2\r\na=rtcp-mux\r\nm=video 5000 RTP/AVP 96\r\n"))
	f.Add([]byte("v=0\r\nm=audio 1 RTP/AVP 0\r\nc=IN IP6 ::1/64\r\n"))
	keys, _ := sdes.NewKeys()
	pi := netip.MustParseAddr("192.0.2.1")
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := parseAudio(body)
		if err != nil {
			return
		}
		for _, k := range [][]sdes.Crypto{nil, keys} {
			out, err := a.rewrite(pi, 30000, k)
			if err != nil {
				return
			}
			b, err := parseAudio(out)
			if err != nil {
				t.Fatalf("the bridge's own SDP does not read: %v\n%s", err, out)
			}
			if b.rtp != netip.AddrPortFrom(pi, 30000) || len(b.crypto) != len(k) || b.savp != (len(k) > 0) {
				t.Fatalf("rewritten to %v savp %v %d keys:\n%s", b.rtp, b.savp, len(b.crypto), out)
			}
		}
	})
}
