package srtpbridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/deskphone/deskphone/firmware/sdes"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// phone is a test phone: a UDP socket pair and, for an SRTP phone, its keys.
type phone struct {
	t         testing.TB
	rtp, rtcp *net.UDPConn
	keys      []sdes.Crypto
	streams   *sdes.Streams
}

func newPhone(t testing.TB, srtp bool) *phone {
	t.Helper()
	p := &phone{t: t}
	for {
		r, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := r.LocalAddr().(*net.UDPAddr).Port
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + 1})
		if err != nil {
			r.Close()
			continue
		}
		p.rtp, p.rtcp = r, c
		break
	}
	t.Cleanup(func() { p.rtp.Close(); p.rtcp.Close() })
	if srtp {
		p.keys, _ = sdes.NewKeys()
	}
	return p
}

func (p *phone) port() int { return p.rtp.LocalAddr().(*net.UDPAddr).Port }

// sdp is the phone's offer (keys: all its suites) or answer (keys: the one it accepts).
func (p *phone) sdp(keys []sdes.Crypto) []byte {
	proto := "RTP/AVP"
	var b strings.Builder
	if len(keys) > 0 {
		proto = "RTP/SAVP"
	}
	fmt.Fprintf(&b, "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d %s 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n", p.port(), proto)
	for _, k := range keys {
		fmt.Fprintf(&b, "a=crypto:%s\r\n", k)
	}
	return []byte(b.String())
}

func mustAudio(t testing.TB, body []byte) *audio {
	t.Helper()
	a, err := parseAudio(body)
	if err != nil {
		t.Fatalf("bridge wrote SDP it cannot read: %v\n%s", err, body)
	}
	return a
}

func packet(seq uint16, pt uint8, payload byte) []byte {
	b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 0x1234}, Payload: bytes.Repeat([]byte{payload}, 160)}).Marshal()
	return b
}

func (p *phone) send(to netip.AddrPort, pkt []byte) {
	if p.streams != nil {
		var err error
		if pkt, err = p.streams.EncryptRTP(nil, pkt, nil); err != nil {
			p.t.Fatal(err)
		}
	}
	if _, err := p.rtp.WriteToUDPAddrPort(pkt, to); err != nil {
		p.t.Fatal(err)
	}
}

func (p *phone) receive() []byte {
	p.t.Helper()
	buf := make([]byte, 1500)
	_ = p.rtp.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err := p.rtp.ReadFromUDP(buf)
	if err != nil {
		p.t.Fatalf("no packet relayed: %v", err)
	}
	if p.streams == nil {
		return buf[:n]
	}
	out, err := p.streams.DecryptRTP(buf[:n])
	if err != nil {
		p.t.Fatalf("relayed packet fails SRTP: %v", err)
	}
	return bytes.Clone(out)
}

func newBridge(t testing.TB) *Bridge {
	t.Helper()
	b, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = b.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return b
}

// An SRTP softphone calls a plain phone through the bridge, for each suite the softphone may
// offer alone: the plain phone gets RTP/AVP without keys, the softphone an answer with the
// bridge's key for its suite and tag, and packets (tone and DTMF) cross both ways.
func TestSRTPCallerPlainCallee(t *testing.T) {
	for _, suite := range []int{0, 1} {
		b := newBridge(t)
		soft, plain := newPhone(t, true), newPhone(t, false)
		offered := []sdes.Crypto{soft.keys[suite]}
		offered[0].Tag = 5
		if err := b.Start("c1", true, false, loopback, loopback); err != nil {
			t.Fatal(err)
		}
		toPlain, err := b.Offer(context.Background(), "c1", true, soft.sdp(offered))
		if err != nil {
			t.Fatal(err)
		}
		fwd := mustAudio(t, toPlain)
		if fwd.savp || len(fwd.crypto) > 0 || bytes.Contains(toPlain, []byte("crypto")) {
			t.Fatalf("the plain phone's offer carries SRTP:\n%s", toPlain)
		}
		if fwd.rtp.Port() == uint16(soft.port()) || !bytes.Contains(toPlain, []byte("telephone-event")) {
			t.Fatalf("offer not anchored or lost DTMF:\n%s", toPlain)
		}
		toSoft, err := b.Answer(context.Background(), "c1", false, plain.sdp(nil))
		if err != nil {
			t.Fatal(err)
		}
		ans := mustAudio(t, toSoft)
		if !ans.savp || len(ans.crypto) != 1 || ans.crypto[0].Tag != 5 || ans.crypto[0].Suite != offered[0].Suite {
			t.Fatalf("answer to the softphone: savp %v crypto %v, want one %s line tagged 5:\n%s", ans.savp, ans.crypto, offered[0].Suite.Name, toSoft)
		}
		if again, _ := b.Answer(context.Background(), "c1", false, plain.sdp(nil)); !bytes.Equal(again, toSoft) {
			t.Error("a retransmitted answer got a different SDP")
		}
		soft.streams, err = sdes.NewStreams(offered[0], ans.crypto[0])
		if err != nil {
			t.Fatal(err)
		}
		for seq := uint16(1); seq <= 3; seq++ {
			soft.send(ans.rtp, packet(seq, 0, 0x55))
			if got := plain.receive(); !bytes.Equal(got, packet(seq, 0, 0x55)) {
				t.Fatalf("%s: plain phone got %x", offered[0].Suite.Name, got[:12])
			}
			plain.send(fwd.rtp, packet(seq, 101, 0x01)) // telephone-event
			if got := soft.receive(); !bytes.Equal(got, packet(seq, 101, 0x01)) {
				t.Fatalf("%s: softphone got %x", offered[0].Suite.Name, got[:12])
			}
		}
		// Plain RTP injected towards the SRTP leg is not relayed.
		if _, err := soft.rtp.WriteToUDPAddrPort(packet(9, 0, 0x77), ans.rtp); err != nil {
			t.Fatal(err)
		}
		_ = plain.rtp.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, _, err := plain.rtp.ReadFromUDP(make([]byte, 1500)); err == nil {
			t.Errorf("an unauthenticated packet was relayed (%d bytes)", n)
		}
		b.Close("c1")
	}
}

// A plain phone calls a softphone whose leg must be SRTP: the softphone is offered both suites
// with the bridge's keys, and its answer's key decrypts what it sends.
func TestPlainCallerSRTPCallee(t *testing.T) {
	b := newBridge(t)
	plain, soft := newPhone(t, false), newPhone(t, true)
	if err := b.Start("c2", false, true, loopback, loopback); err != nil {
		t.Fatal(err)
	}
	toSoft, err := b.Offer(context.Background(), "c2", true, plain.sdp(nil))
	if err != nil {
		t.Fatal(err)
	}
	off := mustAudio(t, toSoft)
	if !off.savp || len(off.crypto) != 2 {
		t.Fatalf("the softphone's offer: savp %v %d keys:\n%s", off.savp, len(off.crypto), toSoft)
	}
	// The softphone accepts the _32 line (tag 2) with its own key.
	mine := soft.keys[1]
	mine.Tag = off.crypto[1].Tag
	toPlain, err := b.Answer(context.Background(), "c2", false, soft.sdp([]sdes.Crypto{mine}))
	if err != nil {
		t.Fatal(err)
	}
	ans := mustAudio(t, toPlain)
	if ans.savp || len(ans.crypto) > 0 {
		t.Fatalf("the plain phone's answer carries SRTP:\n%s", toPlain)
	}
	soft.streams, _ = sdes.NewStreams(mine, off.crypto[1])
	soft.send(off.rtp, packet(1, 8, 0x33))
	if got := plain.receive(); !bytes.Equal(got, packet(1, 8, 0x33)) {
		t.Fatalf("plain phone got %x", got[:12])
	}
	plain.send(ans.rtp, packet(1, 8, 0x44))
	if got := soft.receive(); !bytes.Equal(got, packet(1, 8, 0x44)) {
		t.Fatalf("softphone got %x", got[:12])
	}
}

func TestBadOffersAreErrors(t *testing.T) {
	b := newBridge(t)
	soft := newPhone(t, true)
	plain := newPhone(t, false)
	if err := b.Start("c3", true, false, loopback, loopback); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string][]byte{
		"no crypto":     plain.sdp(nil),
		"empty":         nil,
		"garbage":       []byte("hello"),
		"no audio":      []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 4000 RTP/AVP 96\r\n"),
		"short key":     bytes.Replace(soft.sdp(soft.keys), []byte("inline:"), []byte("inline:QUJD"), 1),
		"unknown suite": []byte(strings.ReplaceAll(string(soft.sdp(soft.keys)), "AES_CM_128_HMAC_SHA1", "F8_128_HMAC_SHA1")),
		"host name":     bytes.Replace(soft.sdp(soft.keys), []byte("c=IN IP4 127.0.0.1"), []byte("c=IN IP4 phone.lan"), 1),
	} {
		if _, err := b.Offer(context.Background(), "c3", true, body); !errors.Is(err, ErrBadSDP) {
			t.Errorf("%s: err = %v, want ErrBadSDP", name, err)
		}
	}
	if _, err := b.Offer(context.Background(), "nope", true, soft.sdp(soft.keys)); err == nil {
		t.Error("an offer for an unknown call was accepted")
	}
	if _, err := b.Answer(context.Background(), "c3", false, plain.sdp(nil)); err == nil {
		t.Error("an answer before any offer was accepted")
	}
}

// Close and Run's end free every port and goroutine, also for calls never answered.
func TestCloseFreesPortsAndGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	// Ten pairs (two legs a call) for the five calls, below the kernel's ephemeral range (which
	// any process's outgoing socket may take a port of), every one checked free at the end.
	const portMin, portMax = 31000, 31019
	b, err := New(Config{RTPPortMin: portMin, RTPPortMax: portMax, SetupTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = b.Run(ctx); close(done) }()
	for i := range 5 {
		if err := b.Start(fmt.Sprint("call", i), true, false, loopback, loopback); err != nil {
			t.Fatal(err)
		}
	}
	b.Close("call0")
	if b.Calls() != 4 {
		t.Fatalf("%d calls after closing one of 5", b.Calls())
	}
	deadline := time.Now().Add(3 * time.Second)
	for b.Calls() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if b.Calls() != 0 {
		t.Fatalf("%d unanswered calls kept past the setup timeout", b.Calls())
	}
	if err := b.Start("late", true, false, loopback, loopback); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	if err := b.Start("after", true, false, loopback, loopback); err == nil {
		t.Error("Start worked after Run returned")
	}
	for p := portMin; p <= portMax; p++ {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: p})
		if err != nil {
			t.Fatalf("port %d still taken: %v", p, err)
		}
		c.Close()
	}
	for i := 0; runtime.NumGoroutine() > before && i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines left running (%d before)", n-before, before)
	}
}

// An answered call whose phones went silent (a lost BYE) is released after MediaTimeout, and so
// is one where a single phone went silent (unplugged, killed); the proxy hears which. One with
// packets flowing both ways is kept, and so is a call on hold where one phone sends nothing.
func TestSilentCallIsReleased(t *testing.T) {
	type report struct {
		leg    string
		silent time.Duration
	}
	var mu sync.Mutex
	reports := map[string]report{}
	b, err := New(Config{MediaTimeout: time.Minute, OnMediaDead: func(id, leg string, silent time.Duration) {
		mu.Lock()
		reports[id] = report{leg, silent}
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	soft, plain := newPhone(t, true), newPhone(t, false)
	for _, id := range []string{"silent", "talking", "one-way", "held"} {
		if err := b.Start(id, true, false, loopback, loopback); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Offer(context.Background(), id, true, soft.sdp(soft.keys)); err != nil {
			t.Fatal(err)
		}
		answer := plain.sdp(nil)
		if id == "held" {
			answer = []byte(strings.Replace(string(answer), "m=audio", "a=recvonly\r\nm=audio", 1))
		}
		if _, err := b.Answer(context.Background(), id, false, answer); err != nil {
			t.Fatal(err)
		}
	}
	at := func(id string, caller, callee time.Duration) {
		c, _ := b.get(id)
		c.mu.Lock()
		c.legs[0].lastPacket, c.legs[1].lastPacket = time.Now().Add(caller), time.Now().Add(callee)
		c.mu.Unlock()
	}
	at("talking", 50*time.Second, 50*time.Second)
	at("one-way", 0, 50*time.Second)
	at("held", 0, 50*time.Second)
	b.expire(time.Now().Add(90 * time.Second))
	for id, kept := range map[string]bool{"silent": false, "talking": true, "one-way": false, "held": true} {
		if b.Has(id) != kept {
			t.Errorf("after 90 s: call %s kept %v, want %v", id, b.Has(id), kept)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if r := reports["silent"]; r.leg != "" || r.silent < 89*time.Second {
		t.Errorf("silent call reported %+v, want both phones silent for 90 s", r)
	}
	if r := reports["one-way"]; r.leg != "caller" || r.silent < 89*time.Second {
		t.Errorf("one-way call reported %+v, want the caller silent for 90 s", r)
	}
	if len(reports) != 2 {
		t.Errorf("reports %v, want only the two released calls", reports)
	}
	b.Close("talking")
	b.Close("held")
}

// A host on the LAN that sends to the plain leg's port before the phone does (it can guess the
// bridge's ports) must not get its audio to the other phone, nor lock the real phone out; nor
// may another socket of the phone's own host once the phone's stream is locked. The media keeps
// going to the address the phone's SDP names.
func TestThirdPartyRTPIsNotRelayed(t *testing.T) {
	b := newBridge(t)
	soft, plain := newPhone(t, true), newPhone(t, false)
	if err := b.Start("inj", true, false, loopback, loopback); err != nil {
		t.Fatal(err)
	}
	b.Expect("inj", true, loopback)
	b.Expect("inj", false, loopback)
	toPlain, err := b.Offer(context.Background(), "inj", true, soft.sdp(soft.keys[:1]))
	if err != nil {
		t.Fatal(err)
	}
	fwd := mustAudio(t, toPlain)
	toSoft, err := b.Answer(context.Background(), "inj", false, plain.sdp(nil))
	if err != nil {
		t.Fatal(err)
	}
	ans := mustAudio(t, toSoft)
	soft.streams, _ = sdes.NewStreams(soft.keys[0], ans.crypto[0])

	// Another host (127.0.0.2 stands for one) sends first.
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Skipf("no second loopback address: %v", err)
	}
	defer other.Close()
	for seq := uint16(1); seq <= 5; seq++ {
		if _, err := other.WriteToUDPAddrPort(packet(seq, 0, 0x66), fwd.rtp); err != nil {
			t.Fatal(err)
		}
	}
	noPacket := func(p *phone, who string) {
		t.Helper()
		_ = p.rtp.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		buf := make([]byte, 1500)
		for {
			n, _, err := p.rtp.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if p.streams != nil {
				out, err := p.streams.DecryptRTP(buf[:n])
				if err != nil {
					t.Fatalf("%s got a packet failing SRTP", who)
				}
				if out[len(out)-1] == 0x66 {
					t.Fatalf("%s got the injected packet", who)
				}
			}
		}
	}
	noPacket(soft, "the softphone")
	// The real phone's audio still goes through, and the softphone's still reaches it.
	for seq := uint16(1); seq <= 3; seq++ {
		plain.send(fwd.rtp, packet(seq, 0, 0x11))
		if got := soft.receive(); !bytes.Equal(got, packet(seq, 0, 0x11)) {
			t.Fatalf("softphone got %x, want the plain phone's packet %d", got[:12], seq)
		}
		soft.send(ans.rtp, packet(seq, 0, 0x22))
		if got := plain.receive(); !bytes.Equal(got, packet(seq, 0, 0x22)) {
			t.Fatalf("plain phone got %x", got[:12])
		}
	}
	// Now locked onto the phone's socket: another socket, even on the phone's host, is dropped.
	same, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer same.Close()
	for _, c := range []*net.UDPConn{other, same} {
		if _, err := c.WriteToUDPAddrPort(packet(50, 0, 0x66), fwd.rtp); err != nil {
			t.Fatal(err)
		}
	}
	noPacket(soft, "the softphone")
	c, _ := b.get("inj")
	if n := c.foreign.Load(); n < 7 {
		t.Errorf("%d packets counted as rejected, want the 7 injected", n)
	}
}

// A new call reusing the Call-ID of an answered bridged call (a collision, or someone who saw
// it) is refused and leaves the call as it is: its offer does not redirect the media.
func TestStartRefusesAnAnsweredCallsID(t *testing.T) {
	b := newBridge(t)
	soft, plain := newPhone(t, true), newPhone(t, false)
	if err := b.Start("dup", true, false, loopback, loopback); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Offer(context.Background(), "dup", true, soft.sdp(soft.keys)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Answer(context.Background(), "dup", false, plain.sdp(nil)); err != nil {
		t.Fatal(err)
	}
	if err := b.Start("dup", true, false, loopback, loopback); err == nil {
		t.Fatal("a second call with an answered call's Call-ID was started")
	}
	if !b.Has("dup") {
		t.Fatal("the answered call was dropped")
	}
}

// The bridge takes at most MaxCalls calls: the next is refused with ErrFull (the proxy answers
// 488 and says why), and a call closing makes room again. A call sent again (same Call-ID, not
// answered) replaces itself and does not count twice.
func TestMaxCalls(t *testing.T) {
	b, err := New(Config{MaxCalls: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "b"} {
		if err := b.Start(id, true, false, loopback, loopback); err != nil {
			t.Fatalf("call %s: %v", id, err)
		}
	}
	defer b.Close("a")
	defer b.Close("b")
	if err := b.Start("c", true, false, loopback, loopback); !errors.Is(err, ErrFull) {
		t.Fatalf("third call: err = %v, want ErrFull", err)
	}
	if b.Calls() != 2 {
		t.Fatalf("%d calls, want 2", b.Calls())
	}
	b.Close("a")
	if err := b.Start("c", true, false, loopback, loopback); err != nil {
		t.Fatalf("a call after one closed: %v", err)
	}
	b.Close("c")
}

// logLines is a slog handler that keeps each record's message and attributes as a line.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (l *logLines) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logLines) WithGroup(string) slog.Handler            { return l }
func (l *logLines) Handle(_ context.Context, r slog.Record) error {
	line := r.Message
	r.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
	return nil
}

func (l *logLines) count(substr string) (n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		if strings.Contains(s, substr) {
			n++
		}
	}
	return n
}

// A softphone sending with a key the bridge does not know (a wrong key) gets one clear log line,
// not one per packet; so does a LAN host sending from elsewhere; each kind is counted and the
// counts are logged when the call closes.
func TestRejectedPacketsAreCountedAndLoggedOnce(t *testing.T) {
	logs := &logLines{}
	b, err := New(Config{Log: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	soft, plain := newPhone(t, true), newPhone(t, false)
	if err := b.Start("k", true, false, loopback, loopback); err != nil {
		t.Fatal(err)
	}
	toPlain, _ := b.Offer(context.Background(), "k", true, soft.sdp(soft.keys[:1]))
	toSoft, err := b.Answer(context.Background(), "k", false, plain.sdp(nil))
	if err != nil {
		t.Fatal(err)
	}
	ans, fwd := mustAudio(t, toSoft), mustAudio(t, toPlain)
	wrong, _ := sdes.NewKeys()
	soft.streams, _ = sdes.NewStreams(wrong[0], ans.crypto[0]) // sends with a key it never offered
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Skipf("no second loopback address: %v", err)
	}
	defer other.Close()
	for seq := uint16(1); seq <= 50; seq++ {
		soft.send(ans.rtp, packet(seq, 0, 0x55))
		_, _ = other.WriteToUDPAddrPort(packet(seq, 0, 0x66), fwd.rtp)
	}
	c, _ := b.get("k")
	deadline := time.Now().Add(2 * time.Second)
	for c.unauthentic.Load()+c.foreign.Load() < 100 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	b.Close("k")
	if n := logs.count("fail SRTP authentication"); n != 1 {
		t.Errorf("%d log lines about SRTP authentication for 50 bad packets, want 1:\n%s", n, strings.Join(logs.lines, "\n"))
	}
	if n := logs.count("unexpected source"); n != 1 {
		t.Errorf("%d log lines about the foreign source for 50 packets, want 1:\n%s", n, strings.Join(logs.lines, "\n"))
	}
	if logs.count("unauthentic=50") != 1 || logs.count("foreign=50") != 1 {
		t.Errorf("the call's end does not count 50 unauthentic and 50 foreign packets:\n%s", strings.Join(logs.lines, "\n"))
	}
}

// A re-INVITE from the SRTP phone with a new key that the other phone refuses (491, 488…)
// leaves the phone sending with its old key: its audio must still get through. Once it sends
// with the new key (the re-INVITE went through), that one is used.
func TestRefusedReofferKeepsTheOldKey(t *testing.T) {
	b := newBridge(t)
	soft, plain := newPhone(t, true), newPhone(t, false)
	if err := b.Start("re", true, false, loopback, loopback); err != nil {
		t.Fatal(err)
	}
	toPlain, err := b.Offer(context.Background(), "re", true, soft.sdp(soft.keys[:1]))
	if err != nil {
		t.Fatal(err)
	}
	fwd := mustAudio(t, toPlain)
	toSoft, err := b.Answer(context.Background(), "re", false, plain.sdp(nil))
	if err != nil {
		t.Fatal(err)
	}
	ans := mustAudio(t, toSoft)
	soft.streams, _ = sdes.NewStreams(soft.keys[0], ans.crypto[0])
	soft.send(ans.rtp, packet(1, 0, 0x10))
	if got := plain.receive(); !bytes.Equal(got, packet(1, 0, 0x10)) {
		t.Fatalf("plain phone got %x", got[:12])
	}
	newKeys, _ := sdes.NewKeys()
	if _, err := b.Offer(context.Background(), "re", true, soft.sdp(newKeys[:1])); err != nil {
		t.Fatal(err)
	}
	// The plain phone refuses the re-INVITE: no answer reaches the bridge.
	for seq := uint16(2); seq <= 4; seq++ {
		soft.send(ans.rtp, packet(seq, 0, 0x20))
		if got := plain.receive(); !bytes.Equal(got, packet(seq, 0, 0x20)) {
			t.Fatalf("after a refused re-offer: plain phone got %x", got[:12])
		}
		plain.send(fwd.rtp, packet(seq, 0, 0x30))
		if got := soft.receive(); !bytes.Equal(got, packet(seq, 0, 0x30)) {
			t.Fatalf("after a refused re-offer: softphone got %x", got[:12])
		}
	}
	// A phone whose re-INVITE went through sends with its new key.
	soft.streams, _ = sdes.NewStreams(newKeys[0], ans.crypto[0])
	soft.send(ans.rtp, packet(5, 0, 0x40))
	if got := plain.receive(); !bytes.Equal(got, packet(5, 0, 0x40)) {
		t.Fatalf("with the new key: plain phone got %x", got[:12])
	}
}

// A re-offer with a new key from the SRTP phone keeps the bridge's own sending context when its
// key stays the same (RFC 4568 §7.1.4): the rollover counter goes on, so what the bridge sends
// after the sequence numbers wrapped still authenticates at the phone.
func TestReofferKeepsOurRolloverCounter(t *testing.T) {
	b := newBridge(t)
	soft, plain := newPhone(t, true), newPhone(t, false)
	if err := b.Start("roc", true, false, loopback, loopback); err != nil {
		t.Fatal(err)
	}
	toPlain, _ := b.Offer(context.Background(), "roc", true, soft.sdp(soft.keys[:1]))
	fwd := mustAudio(t, toPlain)
	toSoft, err := b.Answer(context.Background(), "roc", false, plain.sdp(nil))
	if err != nil {
		t.Fatal(err)
	}
	ans := mustAudio(t, toSoft)
	soft.streams, _ = sdes.NewStreams(soft.keys[0], ans.crypto[0])
	for _, seq := range []uint16{65534, 65535, 0, 1} { // the rollover counter becomes 1
		plain.send(fwd.rtp, packet(seq, 0, 0x30))
		if got := soft.receive(); !bytes.Equal(got, packet(seq, 0, 0x30)) {
			t.Fatalf("softphone got %x", got[:12])
		}
	}
	newKeys, _ := sdes.NewKeys()
	if _, err := b.Offer(context.Background(), "roc", true, soft.sdp(newKeys[:1])); err != nil {
		t.Fatal(err)
	}
	plain.send(fwd.rtp, packet(2, 0, 0x31))
	if got := soft.receive(); !bytes.Equal(got, packet(2, 0, 0x31)) {
		t.Fatalf("after the re-offer: softphone got %x", got[:12])
	}
}
