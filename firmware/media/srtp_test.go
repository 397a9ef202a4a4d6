package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pion/rtp"

	"github.com/deskphone/deskphone/firmware/media/g711"
	"github.com/deskphone/deskphone/test/impair"
)

// wireTap is what a capture between two phones sees: the RTP payloads decoded as if they were
// plain G.711 A-law, and the RTCP datagrams.
type wireTap struct {
	mu      sync.Mutex
	audio   []int16
	rtcp    [][]byte
	packets int
	ssrc    uint32 // the stream decoded: the first one seen
}

func (w *wireTap) observe(pkt []byte, rtcp bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if rtcp {
		w.rtcp = append(w.rtcp, append([]byte(nil), pkt...))
		return
	}
	w.packets++
	if len(pkt) < 12+FrameLength {
		return
	}
	ssrc := binary.BigEndian.Uint32(pkt[8:])
	if w.ssrc == 0 {
		w.ssrc = ssrc
	}
	if ssrc == w.ssrc && len(w.audio) < 4*SampleRate {
		pcm := make([]int16, FrameLength)
		g711.DecodeALawFrame(pcm, pkt[12:12+FrameLength])
		w.audio = append(w.audio, pcm...)
	}
}

// toneShare is the share of the captured audio's power in its dominant frequency and that frequency.
func (w *wireTap) toneShare() (float64, float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f, share := dominantFrequency(w.audio)
	return f, share
}

func (w *wireTap) rtcpContains(s string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.rtcp {
		if bytes.Contains(p, []byte(s)) {
			return true
		}
	}
	return false
}

// callThroughTap connects a (offerer) and b through a relay that records the wire, plays 1000 Hz
// from A and 700 Hz from B, and checks that both hear each other.
func callThroughTap(t *testing.T, a, b *Session, rewriteOffer func([]byte) []byte) *wireTap {
	t.Helper()
	tap := &wireTap{}
	relay, err := impair.New("127.0.0.1", impair.Options{Observe: tap.observe})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	connect(t, a, b,
		func(o []byte) []byte {
			if rewriteOffer != nil {
				o = rewriteOffer(o)
			}
			return impair.RewriteSDP(o, relay.FaceB())
		},
		func(ans []byte) []byte { return impair.RewriteSDP(ans, relay.FaceA()) })
	relay.Start(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(a.LocalPort())),
		netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(b.LocalPort())))
	ea, eb := runAudio(t, a, 1000), runAudio(t, b, 700)
	waitPlayed(t, 2400+SampleRate, ea, eb)
	checkTone(t, "B hears A", eb.playedSince(2400), 1000)
	checkTone(t, "A hears B", ea.playedSince(2400), 700)
	return tap
}

func TestSRTPCallCarriesToneAndHidesIt(t *testing.T) {
	for _, c := range []struct {
		name     string
		a, b     string // policies of the offerer and the answerer
		rewrite  func([]byte) []byte
		profile  string // of the offer
		wantSRTP string // suite both ends use, "" for plain RTP
	}{
		{name: "mandatory both", a: SRTPMandatory, b: SRTPMandatory, profile: "RTP/SAVP",
			wantSRTP: "AES_CM_128_HMAC_SHA1_80"},
		{name: "optional offer to mandatory", a: SRTPOptional, b: SRTPMandatory, profile: "RTP/AVP",
			wantSRTP: "AES_CM_128_HMAC_SHA1_80"},
		{name: "mandatory offer to optional", a: SRTPMandatory, b: SRTPOptional, profile: "RTP/SAVP",
			wantSRTP: "AES_CM_128_HMAC_SHA1_80"},
		{name: "32-bit tag only", a: SRTPMandatory, b: SRTPMandatory, profile: "RTP/SAVP",
			rewrite: dropCryptoLine("AES_CM_128_HMAC_SHA1_80"), wantSRTP: "AES_CM_128_HMAC_SHA1_32"},
		{name: "optional offer to off", a: SRTPOptional, b: SRTPOff, profile: "RTP/AVP"},
		{name: "off both", a: SRTPOff, b: SRTPOff, profile: "RTP/AVP"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b, offer := srtpPair(t, c.a, c.b)
			if !bytes.Contains(offer, []byte("m=audio ")) || !strings.Contains(string(offer), " "+c.profile+" ") {
				t.Fatalf("offer is not %s:\n%s", c.profile, offer)
			}
			tap := callThroughTap(t, a, b, c.rewrite)
			sa, sb := a.Stats(), b.Stats()
			if sa.SRTP != c.wantSRTP || sb.SRTP != c.wantSRTP {
				t.Fatalf("SRTP %q / %q, want %q", sa.SRTP, sb.SRTP, c.wantSRTP)
			}
			if sa.SRTPRejected+sb.SRTPRejected+sa.MalformedDropped+sb.MalformedDropped != 0 {
				t.Fatalf("packets rejected: A %+v B %+v", sa, sb)
			}
			f, share := tap.toneShare()
			cname := "deskphone@127.0.0.1"
			waitFor(t, rtcpInterval*2, "RTCP on the wire", func() bool { tap.mu.Lock(); defer tap.mu.Unlock(); return len(tap.rtcp) > 0 })
			if c.wantSRTP == "" {
				// The control: the same capture of a plain call hears the tone and reads RTCP.
				if share < 0.3 {
					t.Fatalf("plain call: the wire carries %.0f Hz at %.0f%%; the tap does not hear the tone", f, share*100)
				}
				if !tap.rtcpContains(cname) {
					t.Fatal("plain call: CNAME not readable in RTCP")
				}
				return
			}
			if share > 0.1 {
				t.Fatalf("encrypted call: the wire carries %.0f Hz at %.0f%% of the power: audio in the clear", f, share*100)
			}
			if tap.rtcpContains(cname) {
				t.Fatal("encrypted call: RTCP carries the CNAME in the clear (SRTCP not applied)")
			}
			t.Logf("wire: dominant %.0f Hz at %.1f%% (noise); A %+v", f, share*100, sa)
		})
	}
}

// srtpPair makes two sessions with SRTP policies pa and pb and the first one's offer.
func srtpPair(t *testing.T, pa, pb string) (a, b *Session, offer []byte) {
	t.Helper()
	ca, cb := DefaultConfig(), DefaultConfig()
	ca.SRTP, cb.SRTP = pa, pb
	a, b = newTestSession(t, ca), newTestSession(t, cb)
	offer, err := a.Offer()
	if err != nil {
		t.Fatal(err)
	}
	return a, b, offer
}

func dropCryptoLine(suite string) func([]byte) []byte {
	return func(sdp []byte) []byte {
		var out []string
		for _, l := range strings.Split(string(sdp), "\r\n") {
			if strings.HasPrefix(l, "a=crypto:") && strings.Contains(l, suite) {
				continue
			}
			out = append(out, l)
		}
		return []byte(strings.Join(out, "\r\n"))
	}
}

func TestSRTPPolicyMismatchIsRefused(t *testing.T) {
	for _, c := range []struct{ name, a, b string }{
		{"plain offer to mandatory", SRTPOff, SRTPMandatory},
		{"SAVP offer to off", SRTPMandatory, SRTPOff},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, b, offer := srtpPair(t, c.a, c.b)
			if _, err := b.AcceptOffer(offer); !errors.Is(err, ErrNoCommonCrypto) {
				t.Fatalf("AcceptOffer: %v, want ErrNoCommonCrypto (488)", err)
			}
			if b.Stats().Codec != "" {
				t.Fatal("a refused offer left media negotiated")
			}
		})
	}
	t.Run("mandatory offerer gets a plain answer", func(t *testing.T) {
		a, plain, offer := srtpPair(t, SRTPMandatory, SRTPOff)
		// A broken answerer that ignores the profile and answers plain RTP/AVP without a key.
		ans, err := plain.AcceptOffer(bytes.Replace(offer, []byte("RTP/SAVP"), []byte("RTP/AVP"), 1))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.AcceptAnswer(ans); !errors.Is(err, ErrNoCommonCrypto) {
			t.Fatalf("AcceptAnswer: %v, want ErrNoCommonCrypto", err)
		}
	})
}

func TestSRTPRejectsPlainPackets(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SRTP = SRTPMandatory
	a := newTestSession(t, cfg)
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	port := conn.LocalAddr().(*net.UDPAddr).Port
	offer := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio " + strconv.Itoa(port) + " RTP/SAVP 8\r\na=rtpmap:8 PCMA/8000\r\n" +
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\r\n"
	if _, err := a.AcceptOffer([]byte(offer)); err != nil {
		t.Fatal(err)
	}
	e := runAudio(t, a, 0)
	// Someone on the path (with the right source address) injects plain RTP with a 1000 Hz tone.
	pcm := make([]int16, FrameLength)
	for i := 0; i < 50; i++ {
		for j := range pcm {
			pcm[j] = int16(8000 * sin(1000, i*FrameLength+j))
		}
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: uint16(i),
			Timestamp: uint32(i * FrameLength), SSRC: 42}, Payload: g711.EncodeALawFrame(make([]byte, FrameLength), pcm)}
		b, _ := p.Marshal()
		conn.WriteToUDP(b, &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: a.LocalPort()})
	}
	waitFor(t, rtcpInterval, "the plain packets to be rejected", func() bool { return a.Stats().SRTPRejected >= 40 })
	if st := a.Stats(); st.PacketsReceived != 0 {
		t.Fatalf("plain RTP accepted on an SRTP call: %+v", st)
	}
	if f, share := dominantFrequency(e.playedSince(0)); share > 0.5 && f > 900 && f < 1100 {
		t.Fatal("the injected tone was played")
	}
}

func TestCryptoAttributeParsing(t *testing.T) {
	key := "inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"
	for _, c := range []struct {
		line   string
		usable bool
		bad    bool
	}{
		{"1 AES_CM_128_HMAC_SHA1_80 " + key, true, false},
		{"2 AES_CM_128_HMAC_SHA1_32 " + key + "|2^31", true, false},
		{"3 AES_CM_128_HMAC_SHA1_80 " + key + "|2^20|1:4", false, false},         // MKI
		{"4 AES_CM_128_HMAC_SHA1_80 " + key + " UNENCRYPTED_SRTP", false, false}, // session parameter
		{"5 F8_128_HMAC_SHA1_80 " + key, false, false},                           // suite we lack
		{"6 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=", false, true},               // short key
		{"7 AES_CM_128_HMAC_SHA1_80 inline:!!!", false, true},
		{"x AES_CM_128_HMAC_SHA1_80 " + key, false, true},
		{"1234567890 AES_CM_128_HMAC_SHA1_80 " + key, false, true},
		{"1 AES_CM_128_HMAC_SHA1_80", false, true},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + strings.Repeat("A", 4096), false, true},
	} {
		_, ok, err := parseCrypto(c.line)
		if ok != c.usable || (err != nil) != c.bad {
			t.Errorf("%.60q: usable %v err %v, want usable %v bad %v", c.line, ok, err, c.usable, c.bad)
		}
		if err != nil && !errors.Is(err, ErrBadSDP) {
			t.Errorf("%.60q: %v is not ErrBadSDP", c.line, err)
		}
	}
}

// baresip (srtp.so) answers our SRTP offer; a relay between us records the wire. We hear its
// 700 Hz tone, it decodes our DTMF and reports on our stream over SRTCP, and the wire carries
// neither tone nor CNAME in the clear.
func TestSRTPInteropWithBaresip(t *testing.T) {
	for _, c := range []struct{ mediaenc, policy, profile string }{
		{"srtp-mand", SRTPMandatory, "RTP/SAVP"},
		{"srtp", SRTPOptional, "RTP/AVP"},
	} {
		t.Run(c.mediaenc, func(t *testing.T) {
			peer := startBaresip(t, 700, c.mediaenc)
			cfg := DefaultConfig()
			cfg.SRTP = c.policy
			s := newTestSession(t, cfg)
			tap := &wireTap{}
			relay, err := impair.New("127.0.0.1", impair.Options{Observe: tap.observe})
			if err != nil {
				t.Fatal(err)
			}
			defer relay.Close()
			offer, err := s.Offer()
			if err != nil {
				t.Fatal(err)
			}
			call, answer := callBaresip(t, peer, impair.RewriteSDP(offer, relay.FaceB()))
			if !bytes.Contains(answer, []byte("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:")) {
				t.Fatalf("answer without our first suite's tag:\n%s", answer)
			}
			if !strings.Contains(string(answer), " "+c.profile+" ") {
				t.Fatalf("answer is not %s:\n%s", c.profile, answer)
			}
			remote, err := impair.AudioAddr(answer)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.AcceptAnswer(impair.RewriteSDP(answer, relay.FaceA())); err != nil {
				t.Fatalf("baresip's answer: %v\n%s", err, answer)
			}
			relay.Start(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(s.LocalPort())), remote)

			e := runAudio(t, s, 1000)
			waitPlayed(t, 2*SampleRate, e)
			events := peer.Events()
			if err := s.SendDTMF("159#"); err != nil {
				t.Fatal(err)
			}
			waitBaresipDigits(t, peer, events, "159#") // decrypted by baresip
			waitReportAboutUs(t, s)                    // over SRTCP
			st := s.Stats()
			checkTone(t, "we hear baresip", e.playedSince(8000), 700)
			// baresip 1.0 sends one short RTCP packet before its SRTP starts; that one is
			// rejected, rightly.
			if st.SRTP == "" || st.SRTPRejected > 2 || st.MalformedDropped+st.RTCPMalformedDropped != 0 {
				t.Errorf("stats: %+v", st)
			}
			f, share := tap.toneShare()
			if share > 0.1 {
				t.Errorf("the wire carries %.0f Hz at %.0f%% of the power: audio in the clear", f, share*100)
			}
			if tap.rtcpContains("deskphone@") {
				t.Error("our CNAME is readable in RTCP on the wire")
			}
			call.hangup(t)
			t.Logf("suite %s; wire: dominant %.0f Hz at %.1f%%; %d RTP packets captured", st.SRTP, f, share*100, tap.count())
		})
	}
}

func (w *wireTap) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.packets
}
