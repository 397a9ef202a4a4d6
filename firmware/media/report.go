package media

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/pion/rtp"
)

// RTCP for a Session (RFC 3550 §6): the statistics of the stream we receive and of the stream
// we send, the reports built from them every few seconds, the reports the remote sends us, and
// the Stats snapshot. The two stream types are fed each packet with its time, as the streams of
// pion/interceptor's report package are, so they need no clock or socket and test on their own.

// receiverStream is what we know of the stream we receive: RFC 3550 Appendix A.1 (sequence
// numbers), A.3 (loss) and A.8 (interarrival jitter), and the last sender report the remote sent,
// for the LSR/DLSR fields of our reports.
type receiverStream struct {
	rxStats
	lsr   uint32    // middle 32 bits of the NTP time of the last sender report (§6.4.1)
	lsrAt time.Time // when it arrived
}

// rxStats is the per-source part of receiverStream; it starts over for a new SSRC.
type rxStats struct {
	have            bool
	ssrc            uint32
	baseSeq, maxSeq uint16
	cycles          uint32
	received, bytes uint64
	expectedPrior   uint64
	receivedPrior   uint64
	jitter          float64 // timestamp units
	lastTransit     int64
	haveTransit     bool
	epoch           time.Time
	lastPacket      time.Time
}

func (r *rxStats) extendedMax() uint32 { return r.cycles + uint32(r.maxSeq) }

func (r *rxStats) expected() uint64 {
	if !r.have {
		return 0
	}
	return uint64(r.extendedMax()) - uint64(r.baseSeq) + 1
}

func (r *rxStats) lost() int64 { return int64(r.expected()) - int64(r.received) }

// processRTP counts packet p, which arrived at now; audio packets also feed the jitter estimate
// (telephone events keep one timestamp for a whole digit). It reports whether p came from a new
// source (SSRC), which restarts the statistics.
func (r *receiverStream) processRTP(p *rtp.Packet, now time.Time, audio bool) (newSource bool) {
	if r.have && p.SSRC != r.ssrc {
		newSource = true
		r.have = false
	}
	if !r.have {
		r.rxStats = rxStats{have: true, ssrc: p.SSRC, baseSeq: p.SequenceNumber, maxSeq: p.SequenceNumber, epoch: now}
	} else {
		delta := p.SequenceNumber - r.maxSeq
		switch {
		case delta == 0:
		case delta < 3000: // in order, maybe with a gap (RFC 3550 A.1 MAX_DROPOUT)
			if p.SequenceNumber < r.maxSeq {
				r.cycles += 1 << 16
			}
			r.maxSeq = p.SequenceNumber
		case delta <= math.MaxUint16-100: // big jump: the sender restarted
			r.rxStats = rxStats{have: true, ssrc: p.SSRC, baseSeq: p.SequenceNumber, maxSeq: p.SequenceNumber, epoch: now}
		}
	}
	r.received++
	r.bytes += uint64(len(p.Payload))
	r.lastPacket = now
	if audio { // A.8 interarrival jitter, in timestamp units
		arrival := int64(now.Sub(r.epoch)) * SampleRate / int64(time.Second)
		transit := arrival - int64(p.Timestamp)
		if r.haveTransit {
			d := transit - r.lastTransit
			r.jitter += (math.Abs(float64(int32(d))) - r.jitter) / 16
		}
		r.lastTransit, r.haveTransit = transit, true
	}
	return newSource
}

// processSenderReport notes a sender report with NTP time ntp that arrived at now.
func (r *receiverStream) processSenderReport(ntp uint64, now time.Time) {
	r.lsr, r.lsrAt = uint32(ntp>>16), now
}

// report is the report block about this stream for a report sent at now (nil before the first
// packet); it starts the next interval of the fraction lost (A.3).
func (r *receiverStream) report(now time.Time) *reportBlock {
	if !r.have {
		return nil
	}
	expected := r.expected()
	expInt, recvInt := expected-r.expectedPrior, r.received-r.receivedPrior
	r.expectedPrior, r.receivedPrior = expected, r.received
	var fraction uint8
	if lostInt := int64(expInt) - int64(recvInt); expInt > 0 && lostInt > 0 {
		fraction = uint8(lostInt << 8 / int64(expInt))
	}
	lost := min(max(r.lost(), -0x800000), 0x7FFFFF)
	block := &reportBlock{ssrc: r.ssrc, fractionLost: fraction, totalLost: int32(lost),
		highestSeq: r.extendedMax(), jitter: uint32(r.jitter)}
	if !r.lsrAt.IsZero() {
		block.lsr = r.lsr
		block.dlsr = uint32(now.Sub(r.lsrAt) * 65536 / time.Second)
	}
	return block
}

// senderStream is what we know of the stream we send: its counts for our sender reports, and
// what the remote's last report said about it (loss, jitter, round-trip time).
type senderStream struct {
	packets, octets uint64
	sentInPeriod    bool // a packet went out since the last report: send SR, not RR (§6.4)

	remote     reportBlock
	haveRemote bool
	rtt        time.Duration
}

// processRTP counts one packet sent with payloadLen bytes of payload.
func (t *senderStream) processRTP(payloadLen int) {
	t.packets++
	t.octets += uint64(payloadLen)
	t.sentInPeriod = true
}

// report is the sender info for a report sent at now while the RTP clock reads rtpTS, or nil when
// nothing was sent since the last report.
func (t *senderStream) report(now time.Time, rtpTS uint32) *senderInfo {
	if !t.sentInPeriod {
		return nil
	}
	t.sentInPeriod = false
	return &senderInfo{ntp: ntpTime(now), rtpTS: rtpTS, packets: uint32(t.packets), octets: uint32(t.octets)}
}

// processReceiverReport takes the remote's report block about our stream, received at now, and
// derives the round-trip time from its LSR and DLSR (RFC 3550 §6.4.1).
func (t *senderStream) processReceiverReport(blk reportBlock, now time.Time) {
	t.remote, t.haveRemote = blk, true
	if blk.lsr != 0 {
		nowMid := uint32(ntpTime(now) >> 16)
		if rtt := int64(nowMid-blk.lsr-blk.dlsr) * int64(time.Second) >> 16; rtt >= 0 && rtt < int64(10*time.Second) {
			t.rtt = time.Duration(rtt)
		}
	}
}

func (s *Session) receiveRTCP(ctx context.Context) {
	defer s.wg.Done()
	buf := make([]byte, maxDatagram+1)
	for {
		n, src, err := s.rtcp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if !pause(ctx, readErrorPause) {
				return
			}
			continue
		}
		s.handleRTCP(buf[:n], netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), time.Now())
	}
}

func (s *Session) handleRTCP(b []byte, src netip.AddrPort, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if s.neg == nil {
		s.counters.early++
		return
	}
	if !(src == s.neg.remoteRTCP || (s.latched.IsValid() && src.Addr() == s.latched.Addr())) {
		s.counters.foreign++
		if s.counters.foreign == 1 || s.counters.foreign%1000 == 0 {
			s.log.Info("RTCP from an unexpected source dropped", "src", src.String(), "count", s.counters.foreign)
		}
		return
	}
	if len(b) > maxDatagram {
		s.counters.malformedRTCP++
		return
	}
	if s.neg.srtp != nil && (len(b) < 8 || b[0]>>6 != 2) { // not RTCP (a STUN probe, RFC 7983)
		s.counters.malformedRTCP++
		return
	}
	b, ok := s.unprotect(b, src, true)
	if !ok {
		return
	}
	info, err := parseRTCP(b)
	if err != nil {
		s.counters.malformedRTCP++
		if s.counters.malformedRTCP <= 3 {
			s.log.Info("malformed RTCP dropped", "src", src.String(), "err", err, "len", len(b), "head", fmt.Sprintf("%x", b[:min(len(b), 48)]))
		}
		return
	}
	s.counters.rtcpReceived++
	s.rtcpAt = now
	if info.hasSR {
		s.rx.processSenderReport(info.srNTP, now)
	}
	for _, blk := range info.blocks[:info.nBlocks] {
		if blk.ssrc == s.ssrc {
			s.tx.processReceiverReport(blk, now)
		}
	}
}

// reportLoop sends RTCP reports until ctx ends.
func (s *Session) reportLoop(ctx context.Context) {
	defer s.wg.Done()
	reportEvery(ctx, func() {
		s.mu.Lock()
		if !s.closed {
			s.sendReportLocked(false)
		}
		s.mu.Unlock()
	})
}

// reportEvery calls send at randomised intervals of rtcpInterval (0.5 to 1.5 times, RFC 3550
// §6.2, §6.3.1), the first one after half the interval, until ctx ends.
func reportEvery(ctx context.Context, send func()) {
	interval := rtcpInterval / 2
	for {
		d := time.Duration(float64(interval) * (0.5 + mrand.Float64()))
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		interval = rtcpInterval
		send()
	}
}

// sendReportLocked sends SR or RR + SDES (+ BYE). Called with s.mu held.
func (s *Session) sendReportLocked(bye bool) {
	if s.neg == nil {
		return
	}
	dst := s.neg.remoteRTCP
	if s.latched.IsValid() {
		dst = netip.AddrPortFrom(s.latched.Addr(), s.latched.Port()+1)
	}
	if !dst.IsValid() || dst.Addr().IsUnspecified() || dst.Port() == 0 {
		return
	}
	now := time.Now()
	sender, block := s.tx.report(now, s.ts), s.rx.report(now)
	b := buildRTCP(make([]byte, 0, 128), s.ssrc, sender, block, s.cfg.CNAME)
	if bye { // RFC 3550 §6.6
		b = append(b, 0x81, rtcpBYE, 0, 1)
		b = binary.BigEndian.AppendUint32(b, s.ssrc)
	}
	if s.neg.srtp != nil {
		var err error
		if b, err = s.neg.srtp.EncryptRTCP(nil, b); err != nil {
			return
		}
	}
	if _, err := s.rtcp.WriteToUDPAddrPort(b, dst); err == nil {
		s.counters.rtcpSent++
	}
}

// Heard tells when the far end was last heard from (RTP or RTCP, or the moment the media was
// negotiated or taken off hold, if later), and whether it is expected to send at all: media
// negotiated both ways and the call on hold in neither direction. The phone hangs up a call
// silent for longer than its rtp_timeout, as Asterisk's rtptimeout does.
func (s *Session) Heard() (last time.Time, expected bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	last = s.expectSince
	for _, t := range []time.Time{s.rx.lastPacket, s.rtcpAt} {
		if t.After(last) {
			last = t
		}
	}
	expected = !s.closed && s.neg != nil && s.neg.dir == sendrecv && !s.localHold && !s.remoteHold
	return last, expected
}

// Silence tells how long the far end has sent nothing while it should (see Heard), and whether
// that is longer than the configured RTPTimeout (never when it is 0).
func (s *Session) Silence() (silent time.Duration, timedOut bool) {
	last, expected := s.Heard()
	if !expected {
		return 0, false
	}
	silent = time.Since(last)
	return silent, s.cfg.RTPTimeout > 0 && silent >= s.cfg.RTPTimeout
}

// Stats are the call's media counters, for the status API and tests.
type Stats struct {
	Codec                 string  `json:"codec"`
	SRTP                  string  `json:"srtp,omitempty"` // crypto suite when the media is encrypted
	RemoteAddr            string  `json:"remote_addr"`
	Direction             string  `json:"direction"`
	PacketsSent           uint64  `json:"packets_sent"`
	BytesSent             uint64  `json:"bytes_sent"`
	PacketsReceived       uint64  `json:"packets_received"`
	BytesReceived         uint64  `json:"bytes_received"`
	Lost                  int64   `json:"lost"`
	Late                  uint64  `json:"late"`
	Concealed             uint64  `json:"concealed"`
	JitterBufferDropped   uint64  `json:"jitter_buffer_dropped"`
	MalformedDropped      uint64  `json:"malformed_dropped"`
	RTCPMalformedDropped  uint64  `json:"rtcp_malformed_dropped"`
	ForeignSourceDropped  uint64  `json:"foreign_source_dropped"`
	EarlyDropped          uint64  `json:"early_dropped"` // arrived before the SDP exchange completed
	UnknownPayloadDropped uint64  `json:"unknown_payload_dropped"`
	SRTPRejected          uint64  `json:"srtp_rejected"` // SRTP/SRTCP failing authentication or replayed
	JitterMs              float64 `json:"jitter_ms"`
	BufferTargetMs        float64 `json:"buffer_target_ms"`
	BufferDepthMs         float64 `json:"buffer_depth_ms"`
	BufferResets          uint64  `json:"buffer_resets"`
	SSRCChanges           uint64  `json:"ssrc_changes"`
	DTMFSent              uint64  `json:"dtmf_sent"`
	DTMFReceived          uint64  `json:"dtmf_received"`
	RTCPSent              uint64  `json:"rtcp_sent"`
	RTCPReceived          uint64  `json:"rtcp_received"`
	RemoteFractionLost    float64 `json:"remote_fraction_lost"`
	RemoteLost            int64   `json:"remote_lost"`
	RemoteJitterMs        float64 `json:"remote_jitter_ms"`
	RTTMs                 float64 `json:"rtt_ms"`
	PlayoutDelayMs        float64 `json:"playout_delay_ms"`
	PlayoutDelayMaxMs     float64 `json:"playout_delay_max_ms"`
	Latched               string  `json:"latched,omitempty"`
	LastPacketAgoMs       float64 `json:"last_packet_ago_ms"`
}

// Stats returns a snapshot of the counters.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	jb := s.jb.snapshot()
	st := Stats{
		PacketsSent: s.tx.packets, BytesSent: s.tx.octets,
		PacketsReceived: s.rx.received, BytesReceived: s.rx.bytes, Lost: max(s.rx.lost(), 0),
		Late: jb.late, Concealed: jb.concealed, JitterBufferDropped: jb.dropped, BufferResets: jb.resets,
		MalformedDropped: s.counters.malformedRTP, RTCPMalformedDropped: s.counters.malformedRTCP,
		ForeignSourceDropped: s.counters.foreign, UnknownPayloadDropped: s.counters.unknownPT,
		EarlyDropped: s.counters.early, SRTPRejected: s.counters.srtpRejected,
		JitterMs: s.rx.jitter * 1000 / SampleRate, BufferTargetMs: jb.targetMs, BufferDepthMs: jb.depthMs,
		SSRCChanges: s.counters.ssrcChanges, DTMFSent: s.counters.dtmfSent, DTMFReceived: s.counters.dtmfReceived,
		RTCPSent: s.counters.rtcpSent, RTCPReceived: s.counters.rtcpReceived,
		RTTMs: float64(s.tx.rtt) / float64(time.Millisecond),
	}
	if s.neg != nil {
		st.Codec, st.RemoteAddr, st.Direction = s.neg.send.name, s.neg.remoteRTP.String(), s.neg.dir.String()
		st.SRTP = s.neg.suite()
	}
	if s.latched.IsValid() {
		st.Latched = s.latched.String()
	}
	if s.tx.haveRemote {
		st.RemoteFractionLost = float64(s.tx.remote.fractionLost) / 256
		st.RemoteLost = int64(s.tx.remote.totalLost)
		st.RemoteJitterMs = float64(s.tx.remote.jitter) * 1000 / SampleRate
	}
	if s.playout.n > 0 {
		st.PlayoutDelayMs = float64(s.playout.sum) / float64(s.playout.n) / float64(time.Millisecond)
		st.PlayoutDelayMaxMs = float64(s.playout.worst) / float64(time.Millisecond)
	}
	if !s.rx.lastPacket.IsZero() {
		st.LastPacketAgoMs = float64(time.Since(s.rx.lastPacket)) / float64(time.Millisecond)
	}
	return st
}
