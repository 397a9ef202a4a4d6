package media

import (
	"bytes"
	"errors"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/deskphone/deskphone/firmware/media/g711"
	"github.com/deskphone/deskphone/test/impair"
)

func TestCallCarriesToneBothWays(t *testing.T) {
	for _, c := range []struct {
		name      string
		a, b      []string
		wantCodec string
	}{
		{"PCMA preferred", []string{"PCMA", "PCMU"}, []string{"PCMA", "PCMU"}, "PCMA"},
		{"PCMU only offer", []string{"PCMU"}, []string{"PCMA", "PCMU"}, "PCMU"},
		{"the offerer's order wins", []string{"PCMU", "PCMA"}, []string{"PCMA", "PCMU"}, "PCMU"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ca, cb := DefaultConfig(), DefaultConfig()
			ca.Codecs, cb.Codecs = c.a, c.b
			a, b := newTestSession(t, ca), newTestSession(t, cb)
			connect(t, a, b, nil, nil)
			ea, eb := runAudio(t, a, 1000), runAudio(t, b, 700)
			waitPlayed(t, 2400+SampleRate, ea, eb)
			// Skip the first 300 ms (buffering, start-up).
			checkTone(t, "B hears A", eb.playedSince(2400), 1000)
			checkTone(t, "A hears B", ea.playedSince(2400), 700)
			sa, sb := a.Stats(), b.Stats()
			if sa.Codec != c.wantCodec || sb.Codec != c.wantCodec {
				t.Fatalf("codecs %s/%s, want %s", sa.Codec, sb.Codec, c.wantCodec)
			}
			if sb.PacketsReceived < 50 || sb.Concealed > 3 || sb.ForeignSourceDropped != 0 || sb.MalformedDropped != 0 {
				t.Fatalf("B stats: %+v", sb)
			}
			if sb.PlayoutDelayMs <= 0 { // measured; its size is a benchmark figure (test/bench)
				t.Fatalf("playout delay not measured: %+v", sb)
			}
		})
	}
}

func TestToneSurvivesFivePercentLoss(t *testing.T) {
	a, b := newTestSession(t, DefaultConfig()), newTestSession(t, DefaultConfig())
	relay, err := impair.New("127.0.0.1", impair.Options{Loss: 0.05, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	// A's offer reaches B naming the relay (face B); B's answer reaches A naming face A.
	connect(t, a, b,
		func(o []byte) []byte { return impair.RewriteSDP(o, relay.FaceB()) },
		func(ans []byte) []byte { return impair.RewriteSDP(ans, relay.FaceA()) })
	relay.Start(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(a.LocalPort())),
		netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(b.LocalPort())))
	_, eb := runAudio(t, a, 1000), runAudio(t, b, 0)
	waitPlayed(t, 2400+3*SampleRate, eb)
	heard := eb.playedSince(2400)
	checkTone(t, "B hears A through 5% loss", heard, 1000)
	silent, total := silentWindows(heard)
	if silent > total*3/100 { // without concealment 5 % loss leaves about 5 % of windows silent
		t.Errorf("%d of %d 10 ms windows silent: gaps not concealed", silent, total)
	}
	st := b.Stats()
	rc := relay.Counters()
	if rc.Dropped == 0 || st.Concealed == 0 || st.Lost == 0 {
		t.Fatalf("relay %+v, B stats %+v: no loss happened or none was concealed", rc, st)
	}
	t.Logf("relay dropped %d of %d; B lost %d, concealed %d, late %d, target %.0f ms",
		rc.Dropped, rc.Dropped+rc.Forwarded, st.Lost, st.Concealed, st.Late, st.BufferTargetMs)
}

func TestHoldAndResumeDirections(t *testing.T) {
	a, b := newTestSession(t, DefaultConfig()), newTestSession(t, DefaultConfig())
	connect(t, a, b, nil, nil)
	ea, eb := runAudio(t, a, 1000), runAudio(t, b, 700)
	waitFor(t, 2*time.Second, "audio both ways", func() bool {
		return a.Stats().PacketsReceived > 10 && b.Stats().PacketsReceived > 10
	})

	// A holds: offers sendonly, B answers recvonly; then nothing flows either way.
	offer, err := a.Hold(true)
	if err != nil {
		t.Fatal(err)
	}
	mustHave(t, offer, "a=sendonly")
	answer, err := b.Update(offer)
	if err != nil {
		t.Fatal(err)
	}
	mustHave(t, answer, "a=recvonly")
	if err := a.AcceptAnswer(answer); err != nil {
		t.Fatal(err)
	}
	if a.Stats().Direction != "sendonly" || b.Stats().Direction != "recvonly" {
		t.Fatalf("directions %s/%s", a.Stats().Direction, b.Stats().Direction)
	}
	time.Sleep(100 * time.Millisecond)
	ra, rb := a.Stats().PacketsReceived, b.Stats().PacketsReceived
	time.Sleep(400 * time.Millisecond)
	if d := b.Stats().PacketsReceived - rb; d > 0 {
		t.Errorf("held: A still sent %d packets", d)
	}
	if d := a.Stats().PacketsReceived - ra; d > 0 {
		t.Errorf("held: B still sent %d packets to a recvonly answer", d)
	}

	// B holds too: B offers inactive (RFC 6337 §5.3: the other side already holds it), A answers inactive.
	offer, err = b.Hold(true)
	if err != nil {
		t.Fatal(err)
	}
	mustHave(t, offer, "a=inactive")
	answer, err = a.Update(offer)
	if err != nil {
		t.Fatal(err)
	}
	mustHave(t, answer, "a=inactive")
	if err := b.AcceptAnswer(answer); err != nil {
		t.Fatal(err)
	}

	// Both resume.
	for _, pair := range [][2]*Session{{a, b}, {b, a}} {
		offer, err := pair[0].Hold(false)
		if err != nil {
			t.Fatal(err)
		}
		answer, err := pair[1].Update(offer)
		if err != nil {
			t.Fatal(err)
		}
		if err := pair[0].AcceptAnswer(answer); err != nil {
			t.Fatal(err)
		}
	}
	mustHave(t, b.lastSDP, "a=sendrecv")
	if a.Stats().Direction != "sendrecv" || b.Stats().Direction != "sendrecv" {
		t.Fatalf("after resume: %s/%s", a.Stats().Direction, b.Stats().Direction)
	}
	na, nb := len(ea.dev.Played()), len(eb.dev.Played())
	waitFor(t, 10*time.Second, "1.2 s of audio after resume", func() bool {
		return len(ea.dev.Played()) >= na+9600 && len(eb.dev.Played()) >= nb+9600
	})
	checkTone(t, "B hears A after resume", eb.playedSince(nb+1600), 1000)
	checkTone(t, "A hears B after resume", ea.playedSince(na+1600), 700)
}

func mustHave(t *testing.T, sdp []byte, line string) {
	t.Helper()
	if !bytes.Contains(sdp, []byte(line+"\r\n")) {
		t.Fatalf("SDP lacks %q:\n%s", line, sdp)
	}
}

func TestDTMFNegotiatedPayloadTypeBothWays(t *testing.T) {
	for _, pt := range []int{96, 101} {
		t.Run("PT"+strconv.Itoa(pt), func(t *testing.T) {
			ca, cb := DefaultConfig(), DefaultConfig()
			ca.DTMFPayloadType = pt // the offerer's PT wins (an Alcatel offers 96)
			cb.DTMFPayloadType = 101
			a, b := newTestSession(t, ca), newTestSession(t, cb)
			offer, _ := a.Offer()
			mustHave(t, offer, "a=rtpmap:"+strconv.Itoa(pt)+" telephone-event/8000")
			answer, err := b.AcceptOffer(offer)
			if err != nil {
				t.Fatal(err)
			}
			mustHave(t, answer, "a=rtpmap:"+strconv.Itoa(pt)+" telephone-event/8000")
			if err := a.AcceptAnswer(answer); err != nil {
				t.Fatal(err)
			}
			runAudio(t, a, 1000)
			runAudio(t, b, 700)
			if err := a.SendDTMF("123#"); err != nil {
				t.Fatal(err)
			}
			if err := b.SendDTMF("*0Ad"); err != nil {
				t.Fatal(err)
			}
			if got := collectDigits(t, b, 4); got != "123#" {
				t.Fatalf("B received %q", got)
			}
			if got := collectDigits(t, a, 4); got != "*0AD" {
				t.Fatalf("A received %q", got)
			}
			a.ReceiveSIPInfoDTMF('5')
			if got := collectDigits(t, a, 1); got != "5" {
				t.Fatalf("SIP INFO digit: %q", got)
			}
			if st := b.Stats(); st.DTMFReceived != 4 || st.UnknownPayloadDropped != 0 {
				t.Fatalf("B stats %+v", st)
			}
		})
	}
}

func collectDigits(t *testing.T, s *Session, n int) string {
	t.Helper()
	var got []rune
	timeout := time.After(3 * time.Second)
	for len(got) < n {
		select {
		case d := <-s.DTMF():
			got = append(got, d)
		case <-timeout:
			t.Fatalf("got %q, waiting for %d digits", string(got), n)
		}
	}
	select { // no duplicates from retransmitted end packets
	case d := <-s.DTMF():
		t.Fatalf("extra digit %q after %q", d, string(got))
	case <-time.After(300 * time.Millisecond):
	}
	return string(got)
}

func TestDTMFWithoutTelephoneEvent(t *testing.T) {
	s := newTestSession(t, DefaultConfig())
	offer := "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n"
	if _, err := s.AcceptOffer([]byte(offer)); err != nil {
		t.Fatal(err)
	}
	if err := s.SendDTMF("1"); !errors.Is(err, ErrNoTelephoneEvent) {
		t.Fatalf("err = %v", err)
	}
}

// A third address sprays RTP carrying a 3 kHz tone at B's port during a call (RTP bleed,
// AST-2017-005): B must drop it, keep playing A, and send nothing to the sprayer.
func TestThirdSourceRTPIsDropped(t *testing.T) {
	for _, latch := range []bool{false, true} {
		name := "strict"
		if latch {
			name = "latching"
		}
		t.Run(name, func(t *testing.T) {
			ca, cb := DefaultConfig(), DefaultConfig()
			ca.Latch, cb.Latch = latch, latch
			a, b := newTestSession(t, ca), newTestSession(t, cb)
			connect(t, a, b, nil, nil)
			runAudio(t, a, 1000)
			eb := runAudio(t, b, 700)
			waitFor(t, 2*time.Second, "call audio", func() bool { return b.Stats().PacketsReceived > 5 })

			attacker, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.2")})
			if err != nil {
				attacker, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
				if err != nil {
					t.Fatal(err)
				}
			}
			defer attacker.Close()
			target := &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: b.LocalPort()}
			pcm := make([]int16, 160)
			buf := make([]byte, 172)
			n0 := len(eb.dev.Played())
			for i := 0; i < 1000; i++ { // 1 s at 1000 packets/s
				for j := range pcm {
					pcm[j] = int16(12000 * sin(3000, i*160+j))
				}
				h := rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 0xBAD}
				n, _ := h.MarshalTo(buf)
				g711.EncodeALawFrame(buf[n:], pcm)
				attacker.WriteToUDP(buf[:n+160], target)
				time.Sleep(time.Millisecond)
			}
			st := b.Stats()
			if st.ForeignSourceDropped < 900 {
				t.Fatalf("only %d foreign packets dropped: %+v", st.ForeignSourceDropped, st)
			}
			if st.Latched != "" {
				t.Fatalf("latched to %s", st.Latched)
			}
			checkTone(t, "B still hears A, not the attacker", eb.playedSince(n0), 1000)
			attacker.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if n, _, err := attacker.ReadFromUDP(buf); err == nil {
				t.Fatalf("the phone sent %d bytes to the attacker", n)
			}
		})
	}
}

func sin(f float64, i int) float64 {
	return math.Sin(2 * 3.141592653589793 * f * float64(i) / SampleRate)
}

// rawPeer is a hand-driven remote endpoint: a UDP socket whose address is in the SDP offer.
type rawPeer struct {
	conn *net.UDPConn
	s    *Session
}

func newRawPeer(t *testing.T, cfg Config, pt uint8) *rawPeer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := newTestSession(t, cfg)
	port := conn.LocalAddr().(*net.UDPAddr).Port
	offer := "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio " + strconv.Itoa(port) + " RTP/AVP " + strconv.Itoa(int(pt)) + " 101\r\na=rtpmap:101 telephone-event/8000\r\n" +
		"a=rtcp:" + strconv.Itoa(port) + "\r\n" // RFC 3605: RTCP from the same socket
	if _, err := s.AcceptOffer([]byte(offer)); err != nil {
		t.Fatal(err)
	}
	return &rawPeer{conn: conn, s: s}
}

func (p *rawPeer) send(t *testing.T, b []byte) {
	t.Helper()
	if _, err := p.conn.WriteToUDP(b, &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: p.s.LocalPort()}); err != nil {
		t.Fatal(err)
	}
}

func (p *rawPeer) sendRTCP(t *testing.T, b []byte) {
	t.Helper()
	if _, err := p.conn.WriteToUDP(b, &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: p.s.LocalPort() + 1}); err != nil {
		t.Fatal(err)
	}
}

// A new SSRC whose timestamps lie behind the old stream's (Asterisk bridging another leg) plays at
// once instead of being dropped as late. Packets are fed to the session with their arrival times
// and frames taken every 20 ms of that same clock, so no real time passes.
func TestSSRCChangeRestartsJitterBuffer(t *testing.T) {
	p := newRawPeer(t, DefaultConfig(), 8)
	src := p.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	buf := make([]byte, 172)
	pcm := make([]int16, 160)
	out := make([]int16, FrameLength)
	now := time.Unix(1_000_000, 0)
	var played []int16
	send := func(ssrc uint32, seq uint16, ts uint32, f float64) {
		for j := range pcm {
			pcm[j] = int16(8000 * sin(f, int(ts)+j))
		}
		h := rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}
		n, _ := h.MarshalTo(buf)
		g711.EncodeALawFrame(buf[n:], pcm)
		p.s.handleRTP(buf[:n+160], src, now.Add(3*time.Millisecond))
		p.s.readFrame(out)
		played = append(played, out...)
		now = now.Add(framePeriod)
	}
	// Stream 1: 400 ms of 1 kHz from timestamp 100000.
	for i := 0; i < 20; i++ {
		send(1111, uint16(i), 100000+uint32(i*160), 1000)
	}
	// Stream 2: new SSRC, timestamps *behind* stream 1's. Without a restart these packets would
	// all be "late" and the caller would hear nothing.
	n0 := len(played)
	for i := 0; i < 40; i++ {
		send(2222, uint16(5000+i), 50000+uint32(i*160), 500)
	}
	st := p.s.Stats()
	if st.BufferResets != 1 || st.SSRCChanges != 1 {
		t.Fatalf("resets %d, SSRC changes %d", st.BufferResets, st.SSRCChanges)
	}
	if st.Late > 0 {
		t.Fatalf("%d packets of the new stream dropped as late", st.Late)
	}
	checkTone(t, "new stream plays", played[n0+1600:], 500)
}

func TestMalformedPacketsAreCountedNotFatal(t *testing.T) {
	p := newRawPeer(t, DefaultConfig(), 8)
	e := runAudio(t, p.s, 0)
	good := func(seq uint16) []byte {
		h := rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 7}
		b, _ := h.Marshal()
		return append(b, bytes.Repeat([]byte{0xD5}, 160)...)
	}
	bad := [][]byte{
		{0x80},                                  // 1 byte
		{0x40, 8, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}, // version 1
		append([]byte{0x8F, 8, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}, 0xD5, 0xD5),            // CSRC count 15, 2-byte payload
		{0x90, 8, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xBE, 0xDE, 0xFF, 0xFF},              // extension length beyond packet
		append([]byte{0xA0, 8, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}, 0xD5, 0xFF),            // padding 255 > packet
		append([]byte{0x80, 8, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}, make([]byte, 1400)...), // 1400-byte "G.711" payload
		{0x80, 101, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 1},                                 // telephone-event of 1 byte
	}
	for i, b := range bad {
		p.send(t, b)
		p.send(t, good(uint16(10+i)))
	}
	rtcpBad := [][]byte{
		{0x80, 200, 0, 0},             // 4-byte RTCP
		{0x81, 203, 0, 0, 0, 0, 0, 1}, // BYE counting a source its length leaves out
		{0x80, 201, 0, 1, 0, 0, 0, 1, 0x81, 203, 0, 2, 0, 0, 0, 1, 200, 0, 0, 0}, // BYE reason longer than packet
		{0x81, 201, 0, 1, 0, 0, 0, 1},                                            // RR claiming a report block it does not have
		{0x80, 201, 0xFF, 0xFF, 0, 0, 0, 1},                                      // length far beyond datagram
		{0x80, 201, 0, 1, 0, 0, 0, 1, 0x80, 207, 0, 9, 1, 2, 3, 4},               // XR block longer than packet
	}
	for _, b := range rtcpBad {
		p.sendRTCP(t, b)
	}
	waitFor(t, 2*time.Second, "packets counted", func() bool {
		st := p.s.Stats()
		return st.MalformedDropped >= uint64(len(bad)) && st.RTCPMalformedDropped >= uint64(len(rtcpBad))
	})
	st := p.s.Stats()
	if st.MalformedDropped != uint64(len(bad)) || st.RTCPMalformedDropped != uint64(len(rtcpBad)) {
		t.Fatalf("malformed RTP %d (want %d), RTCP %d (want %d)", st.MalformedDropped, len(bad), st.RTCPMalformedDropped, len(rtcpBad))
	}
	if st.PacketsReceived != uint64(len(bad)) {
		t.Fatalf("good packets received %d, want %d", st.PacketsReceived, len(bad))
	}
	_ = e
}

func TestSDPRejectsAbsurdInputAndKeepsState(t *testing.T) {
	s := newTestSession(t, DefaultConfig())
	good := "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
	if _, err := s.AcceptOffer([]byte(good)); err != nil {
		t.Fatal(err)
	}
	before := s.Stats()
	cases := map[string]string{
		"payload type 2^32":   strings.Replace(good, "RTP/AVP 8 101", "RTP/AVP 4294967296", 1),
		"payload type 128":    strings.Replace(good, "RTP/AVP 8 101", "RTP/AVP 8 128", 1),
		"m= before c=":        "v=0\r\nm=audio 4000 RTP/AVP 8\r\nc=IN IP4 127.0.0.1\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",
		"no c= at all":        strings.Replace(good, "c=IN IP4 127.0.0.1\r\n", "", 1),
		"NUL in attribute":    strings.Replace(good, "a=rtpmap:101", "a=fmtp\x00:101", 1),
		"hostname address":    strings.Replace(good, "c=IN IP4 127.0.0.1", "c=IN IP4 pbx.example", 1),
		"port 70000":          strings.Replace(good, "m=audio 4000", "m=audio 70000", 1),
		"empty":               "",
		"garbage":             "hello",
		"bad rtpmap":          good + "a=rtpmap:101\r\n",
		"two directions":      good + "a=sendonly\r\na=recvonly\r\n",
		"empty a=rtcp":        good + "a=rtcp:\r\n",
		"IP6 type, IP4 value": strings.Replace(good, "c=IN IP4 127.0.0.1", "c=IN IP6 127.0.0.1", 1),
	}
	for name, body := range cases {
		if _, err := s.Update([]byte(body)); !errors.Is(err, ErrBadSDP) {
			t.Errorf("%s: err = %v, want ErrBadSDP", name, err)
		}
	}
	if _, err := s.Update([]byte(strings.Replace(good, "RTP/AVP 8 101", "RTP/AVP 18 101", 1))); !errors.Is(err, ErrNoCommonCodec) {
		t.Errorf("G.729 only: err = %v, want ErrNoCommonCodec", err)
	}
	if after := s.Stats(); after.RemoteAddr != before.RemoteAddr || after.Codec != before.Codec || after.Direction != before.Direction {
		t.Fatalf("state changed by rejected SDP: %+v → %+v", before, after)
	}
}

func TestSessionRefreshAndAddressChange(t *testing.T) {
	s := newTestSession(t, DefaultConfig())
	offer := "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 96\r\na=rtpmap:96 telephone-event/8000\r\nm=video 4002 RTP/AVP 99\r\n"
	a1, err := s.AcceptOffer([]byte(offer))
	if err != nil {
		t.Fatal(err)
	}
	mustHave(t, a1, "m=video 0 RTP/AVP 99")                                 // refused stream keeps its place (RFC 3264 §6)
	mustHave(t, a1, "m=audio "+strconv.Itoa(s.LocalPort())+" RTP/AVP 0 96") // the offerer's first codec
	a2, err := s.Update([]byte(offer))                                      // session refresh
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a1, a2) {
		t.Fatalf("refresh changed the answer:\n%s\n%s", a1, a2)
	}
	moved := strings.ReplaceAll(offer, "127.0.0.1", "127.0.0.3")
	a3, err := s.Update([]byte(moved))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a1, a3) { // our side did not change: same answer, same o= version
		t.Fatalf("answer changed although only the remote moved:\n%s\n%s", a1, a3)
	}
	if got := s.Stats().RemoteAddr; got != "127.0.0.3:4000" {
		t.Fatalf("remote %s after direct-media re-INVITE", got)
	}
	held := strings.Replace(offer, "m=audio 4000 RTP/AVP 0 8 96\r\n", "m=audio 4000 RTP/AVP 0 8 96\r\na=sendonly\r\n", 1)
	a4, err := s.Update([]byte(held))
	if err != nil {
		t.Fatal(err)
	}
	mustHave(t, a4, "a=recvonly")
	if !bytes.Contains(a4, []byte(" 2 IN IP4")) {
		t.Fatalf("changed answer must bump the o= version:\n%s", a4)
	}
	// RFC 2543 hold: c=0.0.0.0.
	old := strings.Replace(offer, "c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0", 1)
	a5, err := s.Update([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	mustHave(t, a5, "a=recvonly")
}

func TestAnswerAgainAfterEarlyMedia(t *testing.T) {
	a := newTestSession(t, DefaultConfig())
	early := "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n"
	if err := a.AcceptAnswer([]byte(early)); !errors.Is(err, ErrNoPendingOffer) {
		t.Fatalf("answer without offer: %v", err)
	}
	if _, err := a.Offer(); err != nil {
		t.Fatal(err)
	}
	final := strings.Replace(early, "4000", "4100", 1) // the 200 OK came from another fork
	if err := a.AcceptAnswer([]byte(early)); err != nil {
		t.Fatal(err)
	}
	if err := a.AcceptAnswer([]byte(final)); err != nil {
		t.Fatal(err)
	}
	if got := a.Stats().RemoteAddr; got != "127.0.0.1:4100" {
		t.Fatalf("remote %s, want the final answer's", got)
	}
	if _, err := a.Update([]byte(final)); err != nil { // a remote re-INVITE: now we answer
		t.Fatal(err)
	}
	if err := a.AcceptAnswer([]byte(final)); !errors.Is(err, ErrNoPendingOffer) {
		t.Fatalf("answer after answering an offer: %v", err)
	}
}

// Heard follows the far end's packets, and media is not expected while the call is on hold in
// either direction; resuming restarts the count.
func TestHeardFollowsPacketsAndHold(t *testing.T) {
	a, b := newTestSession(t, DefaultConfig()), newTestSession(t, DefaultConfig())
	if _, expected := a.Heard(); expected {
		t.Error("media expected before any SDP")
	}
	connect(t, a, b, nil, nil)
	runAudio(t, a, 1000)
	runAudio(t, b, 700)
	waitFor(t, 2*time.Second, "audio both ways", func() bool { return a.Stats().PacketsReceived > 10 })
	if last, expected := a.Heard(); !expected || time.Since(last) > time.Second {
		t.Fatalf("talking: heard %s ago, expected %v", time.Since(last), expected)
	}
	hold := func(x, y *Session, on bool) {
		t.Helper()
		offer, err := x.Hold(on)
		if err != nil {
			t.Fatal(err)
		}
		answer, err := y.Update(offer)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.AcceptAnswer(answer); err != nil {
			t.Fatal(err)
		}
	}
	hold(a, b, true)
	if _, expected := a.Heard(); expected {
		t.Error("holding: media still expected")
	}
	if _, expected := b.Heard(); expected {
		t.Error("held: media still expected")
	}
	resumed := time.Now()
	hold(a, b, false)
	last, expected := b.Heard()
	if !expected || last.Before(resumed) {
		t.Errorf("resumed: expected %v, heard at %s (resumed at %s)", expected, last, resumed)
	}
	b.Close()
	time.Sleep(300 * time.Millisecond)
	if last, _ := a.Heard(); time.Since(last) < 250*time.Millisecond {
		t.Errorf("the far end closed, yet heard %s ago", time.Since(last))
	}
}
