package media

import (
	"encoding/base64"
	"math"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/deskphone/deskphone/firmware/media/g711"
)

// benchSession returns a session negotiated with a UDP sink on loopback (which discards).
func benchSession(b *testing.B) (*Session, netip.AddrPort) { return benchSessionWith(b, "") }

// benchKey is the SRTP master key and salt of the remote side in the SRTP benchmarks.
const benchKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"

// benchSessionWith is benchSession with, when crypto is set, SRTP negotiated with benchKey.
func benchSessionWith(b *testing.B, crypto string) (*Session, netip.AddrPort) {
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sink.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := sink.ReadFromUDP(buf); err != nil {
				return
			}
		}
	}()
	cfg := DefaultConfig()
	profile := "RTP/AVP"
	if crypto != "" {
		cfg.SRTP, profile = SRTPMandatory, "RTP/SAVP"
	}
	s, err := NewSession(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	port := sink.LocalAddr().(*net.UDPAddr).Port
	offer := "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio " +
		strconv.Itoa(port) + " " + profile + " 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
	if crypto != "" {
		offer += "a=crypto:1 " + crypto + " inline:" + benchKey + "\r\n"
	}
	if _, err := s.AcceptOffer([]byte(offer)); err != nil {
		b.Fatal(err)
	}
	return s, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
}

func sineFrame() []int16 {
	pcm := make([]int16, FrameLength)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(float64(i)*2*3.141592653589793*1000/SampleRate))
	}
	return pcm
}

// BenchmarkSendFrame: G.711 encode + RTP header + sendto, per 20 ms frame.
func BenchmarkSendFrame(b *testing.B) { benchSend(b, "") }

// BenchmarkSendFrameSRTP: the same with SRTP (AES-128 counter mode, HMAC-SHA1 80-bit tag).
func BenchmarkSendFrameSRTP(b *testing.B) { benchSend(b, "AES_CM_128_HMAC_SHA1_80") }

func benchSend(b *testing.B, crypto string) {
	s, _ := benchSessionWith(b, crypto)
	pcm := sineFrame()
	for b.Loop() {
		s.sendFrame(pcm)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(framePeriod)*100, "%realtime")
}

// BenchmarkReceiveFrame: RTP parse, source check, G.711 decode, jitter buffer, playout, per frame.
func BenchmarkReceiveFrame(b *testing.B) { benchReceive(b, "") }

// BenchmarkReceiveFrameSRTP: the same with SRTP authentication, replay check and decryption.
func BenchmarkReceiveFrameSRTP(b *testing.B) { benchReceive(b, "AES_CM_128_HMAC_SHA1_80") }

func benchReceive(b *testing.B, crypto string) {
	s, src := benchSessionWith(b, crypto)
	var enc *srtp.Context
	if crypto != "" {
		k, _ := base64.StdEncoding.DecodeString(benchKey)
		var err error
		if enc, err = srtp.CreateContext(k[:16], k[16:], srtp.ProtectionProfileAes128CmHmacSha1_80); err != nil {
			b.Fatal(err)
		}
	}
	var sealed []byte
	payload := g711.EncodeALawFrame(make([]byte, FrameLength), sineFrame())
	pkt := make([]byte, 12+FrameLength)
	out := make([]int16, FrameLength)
	now := time.Unix(1000, 0)
	var seq uint16
	for b.Loop() {
		h := rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: seq, Timestamp: uint32(seq) * FrameLength, SSRC: 5}
		n, _ := h.MarshalTo(pkt)
		copy(pkt[n:], payload)
		in := pkt
		if enc != nil {
			sealed, _ = enc.EncryptRTP(sealed[:0], pkt, nil)
			in = sealed
		}
		s.handleRTP(in, src, now)
		s.readFrame(out)
		seq++
		now = now.Add(framePeriod)
	}
	if st := s.Stats(); st.PacketsReceived < uint64(b.N) || st.Concealed > 1 {
		b.Fatalf("receive path did not play every packet: %+v", st)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(framePeriod)*100, "%realtime")
}

// BenchmarkJitterBuffer: push + read of one frame.
func BenchmarkJitterBuffer(b *testing.B) {
	jb := newJitterBuffer(20*time.Millisecond, 200*time.Millisecond)
	pcm, out := sineFrame(), make([]int16, FrameLength)
	now := time.Unix(1000, 0)
	var ts uint32
	for b.Loop() {
		jb.push(1, ts, pcm, now)
		jb.read(out)
		ts += FrameLength
		now = now.Add(framePeriod)
	}
}
