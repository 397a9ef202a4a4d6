package webrtcbridge

import (
	"net/netip"
	"testing"
)

// FuzzParseAudio: any SDP body gets a description or an error, never a panic, and what is
// accepted names only G.711 codecs and a usable direction.
func FuzzParseAudio(f *testing.F) {
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n"))
	f.Add(plainDesc(netip.MustParseAddrPort("10.0.0.2:4000"), 1, 1, []uint8{8}, 126, "recvonly"))
	f.Add([]byte("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 126\r\nc=IN IP4 0.0.0.0\r\na=fingerprint:sha-256 AA:BB\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:126 telephone-event/8000\r\n"))
	f.Add([]byte("v=0\r\nm=audio 1 RTP/AVP 0\r\nc=IN IP6 ::1/64\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := parseAudio(body)
		if err != nil {
			return
		}
		for _, c := range d.codecs {
			if c != ptPCMU && c != ptPCMA {
				t.Fatalf("accepted codec %d", c)
			}
		}
		if d.dtmfPT > 127 {
			t.Fatalf("telephone-event type %d", d.dtmfPT)
		}
		if answerDirection(d.dir) == "" {
			t.Fatalf("direction %q", d.dir)
		}
	})
}
