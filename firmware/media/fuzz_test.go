package media

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
)

const fuzzOffer = "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 4000 RTP/AVP 0 8 96\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\na=sendrecv\r\n"

// FuzzSDP: any input gives an error or a usable stream, and our answer to it parses again.
func FuzzSDP(f *testing.F) {
	f.Add([]byte(fuzzOffer))
	f.Add([]byte("v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 4294967296\r\nc=IN IP4 127.0.0.1\r\n"))
	f.Add([]byte("v=0\r\nm=audio 4000 RTP/AVP 8\r\nc=IN IP4 127.0.0.1\r\n"))
	f.Add([]byte("v=0\r\no=x 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\na=rtcp:4001 IN IP6 ::1\r\nm=video 0 RTP/AVP 31\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sd, err := parseSDP(b)
		if err != nil {
			return
		}
		ra, err := extractAudio(sd)
		if err != nil {
			return
		}
		ans, err := localDesc{sessionID: 1, version: 1, ip: netip.MustParseAddr("127.0.0.1"), port: 5000,
			codecs: ra.codecs, dtmfPT: ra.dtmfPT, dir: sendrecv, remote: ra.mlines, audioIndex: ra.index}.build()
		if err != nil {
			return // e.g. the remote's m= line cannot be echoed; the caller answers 488
		}
		if _, err := parseSDP(ans); err != nil {
			t.Fatalf("our answer does not parse: %v\n%s", err, ans)
		}
	})
}

// FuzzRTCP: parsing never panics and never reports more blocks than it has room for.
func FuzzRTCP(f *testing.F) {
	sr := buildRTCP(nil, 1, &senderInfo{ntp: 1 << 40, rtpTS: 160, packets: 5, octets: 800},
		&reportBlock{ssrc: 2, fractionLost: 3, totalLost: -1, highestSeq: 9, jitter: 4, lsr: 5, dlsr: 6}, "deskphone@127.0.0.1")
	f.Add(sr)
	f.Add(buildRTCP(nil, 1, nil, nil, ""))
	f.Add([]byte{0x80, 200, 0, 0})
	f.Add([]byte{0x80, 201, 0, 1, 0, 0, 0, 1, 0x81, 203, 0, 2, 0, 0, 0, 1, 200, 0, 0, 0})
	f.Add([]byte{0xA0, 201, 0, 1, 0, 0, 0, 1, 0x80, 207, 0, 9, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := parseRTCP(b)
		if err == nil && info.nBlocks > len(info.blocks) {
			t.Fatal("too many blocks")
		}
	})
}

// FuzzRTP feeds datagrams from the negotiated source through the whole receive path (RTP
// parsing, DTMF, jitter buffer, playout); nothing may panic.
func FuzzRTP(f *testing.F) {
	good := func(pt uint8, payload []byte) []byte {
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: 7, Timestamp: 1600, SSRC: 9}, Payload: payload}).Marshal()
		return b
	}
	f.Add(good(8, make([]byte, 160)))
	f.Add(good(0, make([]byte, 80)))
	f.Add(good(96, []byte{1, 0x8a, 0, 160}))
	f.Add(append([]byte{0x8F, 8, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}, 0xD5, 0xD5))
	f.Add([]byte{0x90, 8, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xBE, 0xDE, 0xFF, 0xFF})
	f.Add(append([]byte{0xA0, 8, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}, 0xD5, 0xFF))
	s, err := NewSession(DefaultConfig(), nil)
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	if _, err := s.AcceptOffer([]byte(fuzzOffer)); err != nil {
		f.Fatal(err)
	}
	src := netip.MustParseAddrPort("127.0.0.1:4000")
	out := make([]int16, FrameLength)
	now := time.Unix(1000, 0)
	f.Fuzz(func(t *testing.T, b []byte) {
		now = now.Add(7 * time.Millisecond)
		s.handleRTP(b, src, now)
		s.readFrame(out)
		s.mu.Lock()
		panics := s.counters.panics
		s.mu.Unlock()
		if panics != 0 {
			t.Fatalf("receive path panicked on %x", b)
		}
	})
}
