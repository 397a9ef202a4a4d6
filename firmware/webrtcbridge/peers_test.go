package webrtcbridge

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/deskphone/deskphone/firmware/media/g711"
	"github.com/deskphone/deskphone/test/tone"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// startBridge runs a bridge on loopback for the test's lifetime.
func startBridge(t testing.TB) *Bridge {
	t.Helper()
	b, stop := runBridge(t, Config{IP: loopback, RTPPortMin: 28000, RTPPortMax: 28999})
	t.Cleanup(stop)
	return b
}

// runBridge runs a bridge until stop, which returns once Run has.
func runBridge(t testing.TB, cfg Config) (b *Bridge, stop func()) {
	t.Helper()
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	return b, func() { cancel(); <-done }
}

// received collects what one peer got: decoded audio and telephone-events.
type received struct {
	mu     sync.Mutex
	pcm    []float64
	events []uint8 // event codes of end-of-event packets, once each
	pts    map[uint8]int
	lastTS uint32
	notify chan struct{} // if set, signalled on each packet (benchmarks)
}

func (r *received) add(p *rtp.Packet, dtmfPT uint8) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pts == nil {
		r.pts = map[uint8]int{}
	}
	r.pts[p.PayloadType]++
	if r.notify != nil {
		select {
		case r.notify <- struct{}{}:
		default:
		}
	}
	switch p.PayloadType {
	case ptPCMU:
		for _, s := range g711.DecodeULawFrame(make([]int16, len(p.Payload)), p.Payload) {
			r.pcm = append(r.pcm, float64(s)/32768)
		}
	case ptPCMA:
		for _, s := range g711.DecodeALawFrame(make([]int16, len(p.Payload)), p.Payload) {
			r.pcm = append(r.pcm, float64(s)/32768)
		}
	case dtmfPT:
		if len(p.Payload) >= 4 && p.Payload[1]&0x80 != 0 && p.Timestamp != r.lastTS {
			r.events = append(r.events, p.Payload[0])
			r.lastTS = p.Timestamp
		}
	}
}

func (r *received) snapshot() ([]float64, []uint8, map[uint8]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pts := map[uint8]int{}
	for k, v := range r.pts {
		pts[k] = v
	}
	return append([]float64(nil), r.pcm...), append([]uint8(nil), r.events...), pts
}

// frames makes 20 ms G.711 frames of a sine.
func frames(hz float64, law uint8, n int) [][]byte {
	pcm := tone.Sine(hz, 8000, time.Duration(n)*20*time.Millisecond, 10000)
	out := make([][]byte, n)
	for i := range out {
		f := pcm[i*160 : (i+1)*160]
		if law == ptPCMA {
			out[i] = g711.EncodeALawFrame(make([]byte, 160), f)
		} else {
			out[i] = g711.EncodeULawFrame(make([]byte, 160), f)
		}
	}
	return out
}

// send paces packets every 20 ms: audio frames of the given law, then a DTMF digit '5'
// (event 5, three packets, the last marking the end) when dtmfPT >= 0.
func send(ctx context.Context, write func(*rtp.Packet) error, law uint8, hz float64, dtmfPT int, n int) {
	ssrc := uint32(time.Now().UnixNano())
	seq, ts := uint16(1000), uint32(8000)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i, f := range frames(hz, law, n) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		_ = write(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: law, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc, Marker: i == 0}, Payload: f})
		seq++
		ts += 160
	}
	if dtmfPT < 0 {
		return
	}
	for i, dur := range []uint16{160, 320, 480} {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pl := []byte{5, 10, 0, 0}
		if i == 2 {
			pl[1] |= 0x80
		}
		binary.BigEndian.PutUint16(pl[2:], dur)
		_ = write(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: uint8(dtmfPT), SequenceNumber: seq, Timestamp: ts, SSRC: ssrc, Marker: i == 0}, Payload: pl})
		seq++
	}
}

// phonePeer is a plain RTP endpoint on loopback, as a desk phone is.
type phonePeer struct {
	conn *net.UDPConn
	got  received
	wg   sync.WaitGroup
}

func newPhone(t testing.TB, dtmfPT uint8) *phonePeer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &phonePeer{conn: conn}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		buf := make([]byte, 1500)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			var pkt rtp.Packet
			if pkt.Unmarshal(buf[:n]) == nil {
				p.got.add(&pkt, dtmfPT)
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); p.wg.Wait() })
	return p
}

func (p *phonePeer) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

func (p *phonePeer) sdp(codecs string, dtmfPT int, dir string) []byte {
	return []byte(fmt.Sprintf("v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP %s %d\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"+
		"a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\na=%s\r\n", p.port(), codecs, dtmfPT, dtmfPT, dtmfPT, dir))
}

func (p *phonePeer) writer(to netip.AddrPort) func(*rtp.Packet) error {
	return func(pkt *rtp.Packet) error {
		b, err := pkt.Marshal()
		if err != nil {
			return err
		}
		_, err = p.conn.WriteToUDPAddrPort(b, to)
		return err
	}
}

// browserPeer is a full (not lite) WebRTC endpoint like a browser: it offers or answers with
// PCMU, PCMA and telephone-event, checks connectivity as the controlling agent and speaks
// DTLS-SRTP.
type browserPeer struct {
	pc        *webrtc.PeerConnection
	track     *relayTrack
	got       received
	dtmfPT    uint8
	connected chan struct{}
}

func newBrowser(t testing.TB, dtmfPT uint8) *browserPeer {
	t.Helper()
	m := &webrtc.MediaEngine{}
	for _, c := range []webrtc.RTPCodecParameters{audioCodec(ptPCMU), audioCodec(ptPCMA), dtmfCodec(int(dtmfPT))} {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	b := &browserPeer{pc: pc, track: &relayTrack{}, dtmfPT: dtmfPT, connected: make(chan struct{})}
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(b.connected) })
		}
	})
	var wg sync.WaitGroup
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		wg.Add(1)
		defer wg.Done()
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			b.got.add(p, dtmfPT)
		}
	})
	if _, err := pc.AddTrack(b.track); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	return b
}

func (b *browserPeer) offer(t testing.TB) []byte {
	t.Helper()
	o, err := b.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b.setLocal(t, o)
}

func (b *browserPeer) answer(t testing.TB, offer []byte) []byte {
	t.Helper()
	if err := b.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(offer)}); err != nil {
		t.Fatalf("browser: the bridge's offer: %v\n%s", err, offer)
	}
	a, err := b.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b.setLocal(t, a)
}

func (b *browserPeer) setLocal(t testing.TB, d webrtc.SessionDescription) []byte {
	t.Helper()
	g := webrtc.GatheringCompletePromise(b.pc)
	if err := b.pc.SetLocalDescription(d); err != nil {
		t.Fatal(err)
	}
	<-g
	return []byte(b.pc.LocalDescription().SDP)
}

func (b *browserPeer) accept(t testing.TB, answer []byte) {
	t.Helper()
	if err := b.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		t.Fatalf("browser: the bridge's answer: %v\n%s", err, answer)
	}
}

func (b *browserPeer) waitConnected(t testing.TB) {
	t.Helper()
	select {
	case <-b.connected:
	case <-time.After(10 * time.Second):
		t.Fatalf("the browser never connected to the bridge (ICE/DTLS), state %s", b.pc.ConnectionState())
	}
}

func (b *browserPeer) writer() func(*rtp.Packet) error {
	return func(p *rtp.Packet) error { return b.track.write(&p.Header, p.Payload) }
}
