package media

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/rtp"
)

func pkt(ssrc uint32, seq uint16, ts uint32) *rtp.Packet {
	return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SSRC: ssrc, SequenceNumber: seq, Timestamp: ts}, Payload: make([]byte, 160)}
}

// The receive statistics are fed (packet, arrival time): loss and its fraction per report
// interval (RFC 3550 A.3), sequence wrap (A.1), jitter (A.8), a new source, and LSR/DLSR.
func TestReceiverStreamReports(t *testing.T) {
	var r receiverStream
	t0 := time.Unix(1_000_000, 0)
	if r.report(t0) != nil {
		t.Fatal("a report block before any packet")
	}
	// 100 packets from sequence 65500 (wrapping), every 4th lost, 20 ms apart, no jitter.
	sent := 0
	for i := 0; i < 100; i++ {
		if i%4 == 3 {
			continue
		}
		sent++
		if r.processRTP(pkt(7, uint16(65500+i), uint32(i*160)), t0.Add(time.Duration(i)*framePeriod), true) {
			t.Fatalf("packet %d reported as a new source", i)
		}
	}
	r.processSenderReport(0x0000_1234_5678_0000, t0.Add(time.Second))
	b := r.report(t0.Add(3 * time.Second))
	// The last packet (i = 99) was lost, so the highest sequence seen is 65500+98.
	if b.ssrc != 7 || b.totalLost != int32(99-sent) || b.highestSeq != 1<<16+uint32(65500+98-65536) || b.jitter != 0 {
		t.Fatalf("report %+v, want SSRC 7, %d lost, highest %d, no jitter", b, 99-sent, 1<<16+uint32(65500+98-65536))
	}
	if b.fractionLost != uint8(24*256/99) {
		t.Errorf("fraction lost %d/256, want %d", b.fractionLost, 24*256/99)
	}
	if b.lsr != 0x1234_5678 || b.dlsr != 2*65536 {
		t.Errorf("LSR %x DLSR %d, want 12345678 and 2 s", b.lsr, b.dlsr)
	}
	if b := r.report(t0.Add(4 * time.Second)); b.fractionLost != 0 || b.totalLost != int32(99-sent) {
		t.Errorf("second interval without packets: %+v, want no new loss", b)
	}

	// Packets arriving 0 or 40 ms late in turn: jitter converges towards 20 ms (160 units).
	var j receiverStream
	for i := 0; i < 500; i++ {
		late := time.Duration(i%2) * 40 * time.Millisecond
		j.processRTP(pkt(1, uint16(i), uint32(i*160)), t0.Add(time.Duration(i)*framePeriod+late), true)
	}
	if got := j.report(t0).jitter; got < 300 || got > 340 {
		t.Errorf("jitter %d timestamp units, want about 320 (40 ms of transit change per packet)", got)
	}
	if !j.processRTP(pkt(2, 9, 0), t0, true) || j.received != 1 || j.ssrc != 2 {
		t.Errorf("a new SSRC must restart the statistics: %+v", j.rxStats)
	}
}

// Our sender report carries what we sent; the remote's report about our stream gives the RTT.
func TestSenderStreamReports(t *testing.T) {
	var s senderStream
	now := time.Unix(2_000_000, 0)
	if s.report(now, 0) != nil {
		t.Fatal("a sender report before anything was sent")
	}
	for i := 0; i < 50; i++ {
		s.processRTP(160)
	}
	si := s.report(now, 8000)
	if si == nil || si.packets != 50 || si.octets != 8000 || si.rtpTS != 8000 || si.ntp != ntpTime(now) {
		t.Fatalf("sender info %+v", si)
	}
	if s.report(now, 8000) != nil {
		t.Fatal("a second sender report with nothing sent in between")
	}
	// The remote got our SR at now, held it 100 ms, and its report reaches us 150 ms after now.
	lsr := uint32(ntpTime(now) >> 16)
	s.processReceiverReport(reportBlock{ssrc: 1, lsr: lsr, dlsr: 65536 / 10, fractionLost: 3}, now.Add(150*time.Millisecond))
	if s.rtt < 49*time.Millisecond || s.rtt > 51*time.Millisecond || !s.haveRemote || s.remote.fractionLost != 3 {
		t.Fatalf("RTT %v (want 50 ms), remote %+v", s.rtt, s.remote)
	}
}

// RTCP reports go out at randomised intervals: the first after 1.25-3.75 s, then every 2.5-7.5 s
// (RFC 3550 §6.2, 5 s minimum, randomised by 0.5-1.5). A minute of fake time, run at once.
func TestReportIntervals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		start := time.Now()
		var at []time.Duration
		done := make(chan struct{})
		go func() {
			defer close(done)
			reportEvery(ctx, func() { at = append(at, time.Since(start)) })
		}()
		time.Sleep(time.Minute)
		cancel()
		<-done
		if len(at) < 8 || len(at) > 24 {
			t.Fatalf("%d reports in a minute, want 8-24: %v", len(at), at)
		}
		if at[0] < rtcpInterval/4 || at[0] > rtcpInterval*3/4 {
			t.Errorf("first report after %v, want 1.25-3.75 s", at[0])
		}
		for i := 1; i < len(at); i++ {
			if gap := at[i] - at[i-1]; gap < rtcpInterval/2 || gap > rtcpInterval*3/2 {
				t.Errorf("report %d came %v after the previous one, want 2.5-7.5 s", i, gap)
			}
		}
	})
}
