package webrtcbridge

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/deskphone/deskphone/test/tone"
)

// exchange runs 1.5 s of audio both ways (the browser sends 1 kHz, the phone 440 Hz), each
// followed by a DTMF '5', then checks what each side heard.
func exchange(t *testing.T, b *browserPeer, ph *phonePeer, bridgeRTP netip.AddrPort, law uint8, phoneDTMF int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); send(ctx, b.writer(), law, 1000, int(b.dtmfPT), 75) }()
	go func() { defer wg.Done(); send(ctx, ph.writer(bridgeRTP), law, 440, phoneDTMF, 75) }()
	wg.Wait()
	time.Sleep(200 * time.Millisecond)

	check := func(who string, r *received, want, other float64, dtmfPT uint8) {
		pcm, events, pts := r.snapshot()
		if len(pcm) < 8000 {
			t.Fatalf("%s received %d samples of audio, want over a second (payload types %v)", who, len(pcm), pts)
		}
		pcm = pcm[1600:] // past the start
		if hz, _ := tone.Dominant(pcm, 8000); hz < want*0.95 || hz > want*1.05 {
			t.Errorf("%s hears %.0f Hz, want %.0f Hz", who, hz, want)
		}
		if w, o := tone.Goertzel(pcm, 8000, want), tone.Goertzel(pcm, 8000, other); w < 10*o {
			t.Errorf("%s: %.0f Hz is not clearly above %.0f Hz (%.3g vs %.3g)", who, want, other, w, o)
		}
		for pt := range pts {
			if pt != law && pt != dtmfPT {
				t.Errorf("%s received payload type %d; only %d (audio) and %d (telephone-event) were negotiated", who, pt, law, dtmfPT)
			}
		}
		if len(events) != 1 || events[0] != 5 {
			t.Errorf("%s received DTMF events %v on payload type %d, want [5]", who, events, dtmfPT)
		}
	}
	check("the phone", &ph.got, 1000, 440, uint8(phoneDTMF))
	check("the browser", &b.got, 440, 1000, b.dtmfPT)
}

func audioLine(sdp []byte) string {
	for _, l := range strings.Split(string(sdp), "\r\n") {
		if strings.HasPrefix(l, "m=audio") {
			return l
		}
	}
	return ""
}

func TestBrowserCallsPhone(t *testing.T) {
	br := startBridge(t)
	b := newBrowser(t, 126)
	ph := newPhone(t, 101)
	ctx := context.Background()

	first := b.offer(t)
	plainOffer, err := br.Offer(ctx, "call-1", "tagB", "", true, first)
	if err != nil {
		t.Fatal(err)
	}
	d, err := parseAudio(plainOffer)
	if err != nil || d.secure || !strings.Contains(audioLine(plainOffer), "RTP/AVP 0 8 126") {
		t.Fatalf("the offer to the phone is not plain G.711 with the browser's DTMF type (%v):\n%s", err, plainOffer)
	}
	// The phone answers PCMA with its own telephone-event type.
	answer, err := br.Answer(ctx, "call-1", "tagB", "tagP", false, ph.sdp("8", 101, "sendrecv"))
	if err != nil {
		t.Fatal(err)
	}
	if l := audioLine(answer); !strings.Contains(l, "UDP/TLS/RTP/SAVPF 8 126") || !bytes.Contains(answer, []byte("a=ice-lite")) {
		t.Fatalf("the answer to the browser is %q, want ICE-lite PCMA + telephone-event 126:\n%s", l, answer)
	}
	b.accept(t, answer)
	b.waitConnected(t)
	// Garbage on the RTP and ICE ports changes nothing.
	for _, to := range []netip.AddrPort{d.addr, br.ICEAddr()} {
		junk, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range [][]byte{{0x80}, []byte("\x80\x08garbage that is not RTP"), bytes.Repeat([]byte{0xff}, 1400),
			{0, 1, 0, 8, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 6, 0, 4}} {
			junk.Write(p)
		}
		junk.Close()
	}
	exchange(t, b, ph, d.addr, ptPCMA, 101)

	// A repeated 2xx gets the same answer; a stray answer with no offer pending is refused.
	again, err := br.Answer(ctx, "call-1", "tagB", "tagP", false, ph.sdp("8", 101, "sendrecv"))
	if err != nil || !bytes.Equal(again, answer) {
		t.Errorf("a retransmitted answer got %v, want the same SDP again", err)
	}
	if _, err := br.Answer(ctx, "call-1", "tagB", "tagP", true, first); err == nil {
		t.Error("an answer from the browser with no offer pending was accepted")
	}

	// Hold from the browser (a sendonly re-offer, as JsSIP sends) reaches the phone as
	// sendonly on the same RTP port; the phone's recvonly answer, sent by the callee with the
	// tags the other way round, reaches the browser as recvonly.
	hold, err := br.Offer(ctx, "call-1", "tagB", "tagP", true, bytes.Replace(b.offer(t), []byte("a=sendrecv"), []byte("a=sendonly"), 1))
	if err != nil {
		t.Fatal(err)
	}
	if d2, _ := parseAudio(hold); d2.addr != d.addr || d2.dir != "sendonly" {
		t.Errorf("the hold re-offer to the phone is %s at %v, want sendonly at %v", d2.dir, d2.addr, d.addr)
	}
	reanswer, err := br.Answer(ctx, "call-1", "tagP", "tagB", false, ph.sdp("8", 101, "recvonly"))
	if err != nil {
		t.Fatalf("the re-INVITE's answer, tags the other way round: %v", err)
	}
	if d3, _ := parseAudio(reanswer); d3.dir != "recvonly" {
		t.Errorf("the browser's hold is answered %s, want recvonly", d3.dir)
	}
	b.accept(t, reanswer)
	if _, err := br.Offer(ctx, "call-1", "tagX", "tagP", true, first); err == nil {
		t.Error("an offer with another dialog's tags was accepted")
	}

	br.Close("call-1")
	if n := br.Calls(); n != 0 {
		t.Errorf("%d calls left after Close", n)
	}
	br.Close("call-1") // twice is harmless
}

func TestPhoneCallsBrowser(t *testing.T) {
	br := startBridge(t)
	b := newBrowser(t, 96)
	ph := newPhone(t, 96)
	ctx := context.Background()

	offer, err := br.Offer(ctx, "call-2", "tagP", "", false, ph.sdp("0 8", 96, "sendrecv"))
	if err != nil {
		t.Fatal(err)
	}
	if l := audioLine(offer); !strings.Contains(l, "UDP/TLS/RTP/SAVPF 0 8 96") {
		t.Fatalf("the browser gets %q, want SAVPF PCMU, PCMA and the phone's DTMF type:\n%s", l, offer)
	}
	plainAnswer, err := br.Answer(ctx, "call-2", "tagP", "tagB", true, b.answer(t, offer))
	if err != nil {
		t.Fatal(err)
	}
	d, err := parseAudio(plainAnswer)
	if err != nil || d.secure || len(d.codecs) != 1 || d.codecs[0] != ptPCMU || d.dtmfPT != 96 {
		t.Fatalf("the phone gets an answer %+v (%v), want PCMU and telephone-event 96:\n%s", d, err, plainAnswer)
	}
	b.waitConnected(t)
	exchange(t, b, ph, d.addr, ptPCMU, 96)

	// Hold from the phone: the browser is offered sendonly, the phone is answered recvonly.
	hold, err := br.Offer(ctx, "call-2", "tagP", "tagB", false, ph.sdp("0", 96, "sendonly"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(hold, []byte("a=sendonly")) {
		t.Errorf("the browser's hold offer is not sendonly:\n%s", hold)
	}
	ans, err := br.Answer(ctx, "call-2", "tagB", "tagP", true, b.answer(t, hold))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := parseAudio(ans); d.dir != "recvonly" {
		t.Errorf("the phone's hold is answered %s, want recvonly", d.dir)
	}

	// The phone's resume gets no answer (the browser refused it with a 491, say); its next
	// one replaces it. A browser offer crossing it is glare and refused.
	if _, err := br.Offer(ctx, "call-2", "tagP", "tagB", false, ph.sdp("0", 96, "sendrecv")); err != nil {
		t.Fatal(err)
	}
	if _, err := br.Offer(ctx, "call-2", "tagB", "tagP", true, []byte(b.pc.LocalDescription().SDP)); err == nil {
		t.Error("a browser offer crossing the phone's was accepted")
	}
	resume, err := br.Offer(ctx, "call-2", "tagP", "tagB", false, ph.sdp("0", 96, "sendrecv"))
	if err != nil {
		t.Fatalf("the phone's second resume after an unanswered one: %v", err)
	}
	if _, err := br.Answer(ctx, "call-2", "tagB", "tagP", true, b.answer(t, resume)); err != nil {
		t.Fatal(err)
	}
	if n := br.Calls(); n != 1 {
		t.Errorf("%d calls after renegotiations, want 1", n)
	}
}

// A late offer: the phone's INVITE had no SDP, the browser offers in its 2xx (both tags known)
// and the phone answers in the ACK.
func TestLateOffer(t *testing.T) {
	br := startBridge(t)
	b := newBrowser(t, 101)
	ph := newPhone(t, 101)
	ctx := context.Background()
	plainOffer, err := br.Offer(ctx, "call-4", "tagP", "tagB", true, b.offer(t))
	if err != nil {
		t.Fatalf("a late offer from the browser: %v", err)
	}
	if d, err := parseAudio(plainOffer); err != nil || d.secure {
		t.Fatalf("the phone gets %v:\n%s", err, plainOffer)
	}
	answer, err := br.Answer(ctx, "call-4", "tagP", "tagB", false, ph.sdp("0", 101, "sendrecv"))
	if err != nil {
		t.Fatal(err)
	}
	b.accept(t, answer)
	b.waitConnected(t)
}

// An initial INVITE sent again (with credentials after a 407) replaces the unanswered offer.
func TestInitialOfferAgain(t *testing.T) {
	br := startBridge(t)
	ph := newPhone(t, 101)
	ctx := context.Background()
	first, err := br.Offer(ctx, "call-3", "tagP", "", false, ph.sdp("0", 101, "sendrecv"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := br.Offer(ctx, "call-3", "tagP", "", false, ph.sdp("0", 101, "sendrecv"))
	if err != nil {
		t.Fatalf("the initial offer again: %v", err)
	}
	if bytes.Equal(first, second) || br.Calls() != 1 {
		t.Errorf("the second initial offer did not replace the first (%d calls)", br.Calls())
	}
	b := newBrowser(t, 101)
	if _, err := br.Answer(ctx, "call-3", "tagP", "tagB", true, b.answer(t, second)); err != nil {
		t.Fatal(err)
	}
	b.waitConnected(t)
}

func TestBadInput(t *testing.T) {
	br := startBridge(t)
	ctx := context.Background()
	ph := newPhone(t, 101)
	cases := []struct {
		name        string
		fromBrowser bool
		body        []byte
	}{
		{"empty", true, nil},
		{"garbage", true, []byte("\x00\xffnot sdp at all")},
		{"huge", false, bytes.Repeat([]byte("a=x\r\n"), 20000)},
		{"plain SDP said to be the browser's", true, ph.sdp("0", 101, "sendrecv")},
		{"no G.711", false, []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 9\r\n")},
		{"no audio", false, []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 4000 RTP/AVP 96\r\n")},
	}
	for _, c := range cases {
		if out, err := br.Offer(ctx, "bad-"+c.name, "t", "", c.fromBrowser, c.body); err == nil {
			t.Errorf("%s: accepted, returned %q", c.name, out)
		}
	}
	if _, err := br.Answer(ctx, "nobody", "a", "b", false, ph.sdp("0", 101, "sendrecv")); err == nil {
		t.Error("an answer for an unknown call was accepted")
	}
	if n := br.Calls(); n != 0 {
		t.Errorf("refused offers left %d calls behind", n)
	}
	br.Close("nobody")
}

func TestRunEndsCalls(t *testing.T) {
	br, stop := runBridge(t, Config{IP: loopback, RTPPortMin: 29000, RTPPortMax: 29003})
	ctx := context.Background()
	ph := newPhone(t, 101)
	for _, id := range []string{"a", "b"} {
		if _, err := br.Offer(ctx, id, "t", "", false, ph.sdp("0", 101, "sendrecv")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := br.Offer(ctx, "c", "t", "", false, ph.sdp("0", 101, "sendrecv")); err == nil || !strings.Contains(err.Error(), "no free RTP port") {
		t.Errorf("a third call in a two-call port range: %v, want a clear port exhaustion error", err)
	}
	stop()
	if n := br.Calls(); n != 0 {
		t.Errorf("%d calls survive the bridge's context", n)
	}
	if _, err := br.Offer(context.Background(), "d", "t", "", false, ph.sdp("0", 101, "sendrecv")); err == nil {
		t.Error("a stopped bridge accepted an offer")
	}
	// The ports are free again: a new bridge binds the same ICE port (runBridge fails the test
	// otherwise) and RTP ports.
	br2, stop2 := runBridge(t, Config{IP: loopback, ICEPort: int(br.ICEAddr().Port()), RTPPortMin: 29000, RTPPortMax: 29003})
	defer stop2()
	if _, err := br2.Offer(ctx, "a", "t", "", false, ph.sdp("0", 101, "sendrecv")); err != nil {
		t.Errorf("the RTP ports stay bound after Run returned: %v", err)
	}
}

// A side of an answered call that sends nothing past the media timeout is named, unless the
// call is on hold; RTCP counts as being heard.
func TestSilentSide(t *testing.T) {
	now := time.Unix(10000, 0)
	ago := func(d time.Duration) int64 { return now.Add(-d).UnixNano() }
	for _, x := range []struct {
		name                   string
		answered, browser, pho int64
		held                   bool
		want                   string
	}{
		{"not answered", 0, 0, 0, false, ""},
		{"both heard", ago(5 * time.Minute), ago(time.Second), ago(time.Second), false, ""},
		{"browser gone", ago(5 * time.Minute), ago(3 * time.Minute), ago(time.Second), false, "browser"},
		{"phone gone", ago(5 * time.Minute), ago(time.Second), ago(3 * time.Minute), false, "phone"},
		{"phone never sent, just answered", ago(time.Minute), ago(time.Second), 0, false, ""},
		{"phone never sent", ago(3 * time.Minute), ago(time.Second), 0, false, "phone"},
		{"on hold", ago(5 * time.Minute), ago(3 * time.Minute), ago(3 * time.Minute), true, ""},
	} {
		c := &call{}
		c.answeredAt.Store(x.answered)
		c.heardBrowser.Store(x.browser)
		c.heardPhone.Store(x.pho)
		c.held.Store(x.held)
		if got, _ := c.silence(now, 2*time.Minute); got != x.want {
			t.Errorf("%s: silent side %q, want %q", x.name, got, x.want)
		}
	}
}

// Once the phone's RTP source is locked, another socket sending to the bridge's RTP port (a
// process on the phone's host, or a LAN host spoofing its address) neither reaches the browser
// nor draws the browser's audio to itself.
func TestPhoneSourceStaysLocked(t *testing.T) {
	br := startBridge(t)
	b := newBrowser(t, 126)
	ph := newPhone(t, 101)
	ctx := context.Background()
	plainOffer, err := br.Offer(ctx, "lock", "tagB", "", true, b.offer(t))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := parseAudio(plainOffer)
	answer, err := br.Answer(ctx, "lock", "tagB", "tagP", false, ph.sdp("8", 101, "sendrecv"))
	if err != nil {
		t.Fatal(err)
	}
	b.accept(t, answer)
	b.waitConnected(t)
	exchange(t, b, ph, d.addr, ptPCMA, 101)

	intruder, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer intruder.Close()
	before, _, _ := b.got.snapshot()
	pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: ptPCMA, SequenceNumber: 9, SSRC: 99}, Payload: make([]byte, 160)}).Marshal()
	if _, err := intruder.WriteToUDPAddrPort(pkt, d.addr); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	sendCtx, cancel := context.WithCancel(ctx)
	send(sendCtx, b.writer(), ptPCMA, 1000, -1, 10)
	cancel()
	_ = intruder.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := intruder.ReadFromUDP(make([]byte, 1500)); err == nil {
		t.Fatalf("the browser's audio went to another socket (%d bytes): the phone's source was taken over", n)
	}
	if after, _, _ := b.got.snapshot(); len(after) != len(before) {
		t.Errorf("the browser got %d samples from another socket", len(after)-len(before))
	}
	br.Close("lock")
}
