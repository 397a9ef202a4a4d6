package webrtcbridge

import (
	"context"
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// connect sets up one browser → phone call through br and waits until the browser is connected.
// It returns the peers, a PCMA packet, the bridge's RTP address the phone sends to, and the
// time the bridge took in Offer and Answer.
func connect(b *testing.B, br *Bridge, id string) (*browserPeer, *phonePeer, *rtp.Packet, netip.AddrPort, time.Duration) {
	b.Helper()
	ctx := context.Background()
	brw := newBrowser(b, 126)
	ph := newPhone(b, 101)
	browserOffer := brw.offer(b)
	t0 := time.Now()
	offer, err := br.Offer(ctx, id, "tagB", "", true, browserOffer)
	if err != nil {
		b.Fatal(err)
	}
	d, err := parseAudio(offer)
	if err != nil {
		b.Fatal(err)
	}
	answer, err := br.Answer(ctx, id, "tagB", "tagP", false, ph.sdp("8", 101, "sendrecv"))
	if err != nil {
		b.Fatal(err)
	}
	sdpTime := time.Since(t0)
	brw.accept(b, answer)
	brw.waitConnected(b)
	frame := frames(1000, ptPCMA, 1)[0]
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: ptPCMA, SSRC: 1}, Payload: frame}
	// The phone's first packet latches the bridge; wait until audio flows both ways.
	ph.got.notify, brw.got.notify = make(chan struct{}, 1), make(chan struct{}, 1)
	for _, w := range []struct {
		write func(*rtp.Packet) error
		got   chan struct{}
	}{{ph.writer(d.addr), brw.got.notify}, {brw.writer(), ph.got.notify}} {
		deadline := time.After(5 * time.Second)
	wait:
		for {
			w.write(pkt)
			select {
			case <-w.got:
				break wait
			case <-deadline:
				b.Fatal("no audio through the bridge")
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return brw, ph, pkt, d.addr, sdpTime
}

// BenchmarkCallSetup is the time from the browser's offer to a connected call (ICE and DTLS
// done): the bridge's Offer and Answer (sdp-ms/setup) plus the handshakes, with the browser a
// pion peer in the same process (cpu-ms/setup counts both ends). Most of the time is spent in
// connectivity checks and the DTLS handshake, not in the bridge.
func BenchmarkCallSetup(b *testing.B) {
	br := startBridge(b)
	cpu0 := cpuTime()
	var sdp time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("setup-%d", i)
		brw, _, _, _, d := connect(b, br, id)
		sdp += d
		br.Close(id)
		brw.pc.Close()
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/setup")
	b.ReportMetric(float64(sdp)/float64(b.N)/1e6, "sdp-ms/setup")
}

// BenchmarkRelay relays 20 ms G.711 packets of one call both ways, one packet pair per
// operation (a second of a call is 50 pairs). cpu-ms/call-s counts the whole process, the
// browser peer's SRTP included, so the bridge's own share is below it.
func BenchmarkRelay(b *testing.B) {
	br := startBridge(b)
	brw, ph, pkt, bridgeRTP, _ := connect(b, br, "relay")
	toBridge := ph.writer(bridgeRTP)
	toBrowser := brw.writer()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pkt.SequenceNumber++
		pkt.Timestamp += 160
		toBridge(pkt)
		select {
		case <-brw.got.notify:
		case <-time.After(time.Second):
			b.Fatal("a packet toward the browser was lost")
		}
		toBrowser(pkt)
		select {
		case <-ph.got.notify:
		case <-time.After(time.Second):
			b.Fatal("a packet toward the phone was lost")
		}
	}
	b.StopTimer()
	perPair := float64(cpuTime()-cpu0) / float64(b.N)
	b.ReportMetric(perPair*50/1e6, "cpu-ms/call-s")
}
