package media

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/deskphone/deskphone/firmware/media/g711"
)

const (
	maxDatagram = 1500 // larger datagrams are not RTP we sent for
	latchWindow = 5    // packets during which Config.Latch may adopt another source (rtpengine's rule)
	pcCN        = 13   // RFC 3389 comfort noise: ignored
)

// Session is the media of one call: an RTP/RTCP port pair, the SDP offer/answer state, the
// sender, the receiver with its jitter buffer, and DTMF in both directions.
type Session struct {
	cfg     Config
	log     *slog.Logger
	ip      netip.Addr
	port    int
	codecs  []codec
	rtpSock *rtpSocket
	rtcp    *net.UDPConn
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	digits  chan rune

	mu     sync.Mutex
	closed bool
	// attached: the audio loop collects RTP each tick (drainRTP) and receiveRTP sleeps on rxWake.
	attached bool
	rxWake   *sync.Cond
	drainBuf []byte // used by the audio loop only

	// offer/answer (RFC 3264)
	sessionID, version    uint64
	lastSDP               []byte
	pending               bool
	answered              bool // the last exchange was our offer and the remote's answer
	offeredDir            direction
	localHold, remoteHold bool
	neg                   *negotiation

	// sender
	ssrc         uint32
	seq          uint16
	ts           uint32
	marker       bool
	txBuf        [maxDatagram]byte
	payload      [jbMaxSamples]byte
	dtmfTx       dtmfSender
	sentPackets  uint64
	sentOctets   uint64
	sentInPeriod bool
	txErrors     uint64

	// receiver
	latched      netip.AddrPort
	heardRemote  bool
	rxSinceNeg   int
	jb           *jitterBuffer
	pcm          [jbMaxSamples]int16
	dtmfRx       dtmfReceiver
	rx           rxStats
	lsr          uint32
	lsrAt        time.Time
	remoteReport reportBlock
	haveReport   bool
	rtt          time.Duration

	counters counters
	playout  struct {
		sum   time.Duration
		n     uint64
		worst time.Duration
	}
}

// negotiation is the agreed media.
type negotiation struct {
	remoteRTP, remoteRTCP netip.AddrPort
	send                  codec // codec we send
	dtmfSendPT            int   // -1 = none
	dtmfRecvPT            int
	dir                   direction // our effective direction
}

type counters struct {
	malformedRTP, malformedRTCP, foreign, unknownPT uint64
	rtcpSent, rtcpReceived                          uint64
	dtmfSent, dtmfReceived, dtmfDropped             uint64
	ssrcChanges                                     uint64
	panics                                          uint64 // recovered in handleRTP; fuzzing keeps this 0
	early                                           uint64 // RTP/RTCP before media was negotiated
}

// rxStats follows RFC 3550 Appendix A.1 (sequence numbers), A.3 (loss) and A.8 (jitter).
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

// NewSession binds an even RTP port and the RTCP port above it in [PortMin, PortMax] on
// cfg.LocalIP and starts receiving. Close releases them.
func NewSession(cfg Config, log *slog.Logger) (*Session, error) {
	def := DefaultConfig()
	cfg.DTMFPayloadType = cmp.Or(cfg.DTMFPayloadType, def.DTMFPayloadType)
	cfg.JitterMin = cmp.Or(cfg.JitterMin, def.JitterMin)
	cfg.JitterMax = cmp.Or(cfg.JitterMax, def.JitterMax)
	cfg.PTime = cmp.Or(cfg.PTime, def.PTime)
	if len(cfg.Codecs) == 0 {
		cfg.Codecs = def.Codecs
	}
	if ps := cfg.Check(); len(ps) > 0 {
		return nil, ps[0]
	}
	ip, err := netip.ParseAddr(cfg.LocalIP)
	if err != nil || ip.IsUnspecified() {
		return nil, fmt.Errorf("media: local address %q must be this host's IP address as peers reach it", cfg.LocalIP)
	}
	ip = ip.Unmap()
	var codecs []codec
	for _, name := range cfg.Codecs {
		c, _ := codecByName(name) // Check refused unknown names
		codecs = append(codecs, c)
	}
	if cfg.CNAME == "" {
		cfg.CNAME = "deskphone@" + ip.String()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sock, rtcpConn, err := bindPair(ip, cfg.PortMin, cfg.PortMax)
	if err != nil {
		return nil, err
	}
	port := sock.port
	s := &Session{
		cfg: cfg, ip: ip, port: port, codecs: codecs, rtpSock: sock, rtcp: rtcpConn,
		drainBuf: make([]byte, maxDatagram+1),
		log:      log.With("rtp_port", port),
		digits:   make(chan rune, 32),
		jb:       newJitterBuffer(cfg.JitterMin, cfg.JitterMax),
		marker:   true, version: 1,
	}
	s.rxWake = sync.NewCond(&s.mu)
	var r [18]byte
	if _, err := rand.Read(r[:]); err != nil {
		sock.close()
		rtcpConn.Close()
		return nil, fmt.Errorf("media: random: %w", err)
	}
	s.ssrc = binary.BigEndian.Uint32(r[0:])
	s.seq = binary.BigEndian.Uint16(r[4:])
	s.ts = binary.BigEndian.Uint32(r[6:])
	s.sessionID = binary.BigEndian.Uint64(r[10:]) >> 2 // fits NTP-style ids, positive
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(3)
	go s.receiveRTP(ctx)
	go s.receiveRTCP(ctx)
	go s.reportLoop(ctx)
	return s, nil
}

// bindPair binds RTP on an even port and RTCP on the next port (RFC 3550 §11), trying ports
// from a random start within the range.
func bindPair(ip netip.Addr, lo, hi int) (*rtpSocket, *net.UDPConn, error) {
	if lo <= 0 || hi > 65535 || hi <= lo {
		return nil, nil, fmt.Errorf("media: RTP port range %d-%d is invalid", lo, hi)
	}
	first := (lo + 1) &^ 1
	n := (hi - first + 1) / 2 // even ports p with p+1 <= hi
	if n <= 0 {
		return nil, nil, fmt.Errorf("media: RTP port range %d-%d has no even/odd port pair", lo, hi)
	}
	start := mrand.IntN(n)
	for i := 0; i < min(n, 256); i++ {
		p := first + 2*((start+i)%n)
		a, err := listenRTP(ip, p)
		if err != nil {
			continue
		}
		b, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(p+1))))
		if err != nil {
			a.close()
			continue
		}
		return a, b, nil
	}
	return nil, nil, fmt.Errorf("media: no free RTP/RTCP port pair in %d-%d on %s", lo, hi, ip)
}

// LocalPort returns the bound RTP port (RTCP is LocalPort()+1).
func (s *Session) LocalPort() int { return s.port }

// Offer returns our SDP offer (initial INVITE, or a re-offer during the call). The next
// AcceptAnswer applies the remote's answer.
func (s *Session) Offer() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	// RFC 6337 §5.3: hold is sendonly, or inactive when the remote holds us too; while only the
	// remote holds us we keep offering to receive.
	var dir direction
	switch {
	case s.localHold && s.remoteHold:
		dir = inactive
	case s.localHold:
		dir = sendonly
	case s.remoteHold && s.neg != nil:
		dir = recvonly
	default:
		dir = sendrecv
	}
	codecs := s.codecs
	if s.neg != nil { // keep the codec in use first (no needless switch on hold/resume)
		codecs = []codec{s.neg.send}
		for _, c := range s.codecs {
			if c.name != s.neg.send.name {
				codecs = append(codecs, c)
			}
		}
	}
	body, err := s.render(localDesc{codecs: codecs, dtmfPT: s.cfg.DTMFPayloadType, dir: dir, audioIndex: -1})
	if err != nil {
		return nil, err
	}
	s.pending, s.offeredDir = true, dir
	return body, nil
}

// render builds our SDP, bumping the o= version only when the content changed (RFC 3264 §8).
func (s *Session) render(l localDesc) ([]byte, error) {
	l.sessionID, l.version, l.ip, l.port = s.sessionID, s.version, s.ip, s.port
	body, err := l.build()
	if err != nil {
		return nil, err
	}
	if s.lastSDP != nil && !sameBody(body, s.lastSDP) {
		s.version++
		l.version = s.version
		if body, err = l.build(); err != nil {
			return nil, err
		}
	}
	s.lastSDP = body
	return body, nil
}

// AcceptOffer answers the remote's initial offer. ErrNoCommonCodec means answer 488.
func (s *Session) AcceptOffer(remote []byte) ([]byte, error) { return s.answer(remote) }

// Update answers an offer received during the call (re-INVITE or UPDATE): remote hold
// (sendonly/inactive → we answer recvonly/inactive), resume, a new address or port (Asterisk
// direct media), or a plain session refresh (same SDP → same answer, same version). On error the
// session is left unchanged. A re-INVITE without a body is answered with Offer instead, and the
// SDP in the ACK goes to AcceptAnswer.
func (s *Session) Update(remote []byte) ([]byte, error) { return s.answer(remote) }

func (s *Session) answer(remote []byte) ([]byte, error) {
	sd, err := parseSDP(remote)
	if err != nil {
		return nil, err
	}
	ra, err := extractAudio(sd)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	chosen, ok := s.choose(ra.codecs)
	if !ok {
		return nil, fmt.Errorf("remote offers %s: %w", codecNames(ra.codecs), ErrNoCommonCodec)
	}
	remoteSends := ra.dir.sends() && ra.rtp.Port() != 0
	remoteRecvs := ra.dir.receives() && !ra.hold
	dir := makeDirection(remoteRecvs, remoteSends && !s.localHold)
	body, err := s.render(localDesc{codecs: []codec{chosen}, dtmfPT: ra.dtmfPT, dir: dir,
		remote: ra.mlines, audioIndex: ra.index})
	if err != nil {
		return nil, err
	}
	s.remoteHold = !remoteRecvs
	s.pending, s.answered = false, false
	s.apply(&negotiation{remoteRTP: ra.rtp, remoteRTCP: ra.rtcp, send: chosen,
		dtmfSendPT: ra.dtmfPT, dtmfRecvPT: ra.dtmfPT, dir: dir})
	return body, nil
}

// AcceptAnswer applies the remote's answer to our last Offer or Hold. The answer may be given
// again (the SDP of a 183 and then of the 200 OK, possibly from another fork): the latest wins.
func (s *Session) AcceptAnswer(remote []byte) error {
	sd, err := parseSDP(remote)
	if err != nil {
		return err
	}
	ra, err := extractAudio(sd)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if !s.pending && !s.answered {
		return ErrNoPendingOffer
	}
	chosen, found := s.choose(ra.codecs)
	if !found {
		return fmt.Errorf("answer has %s: %w", codecNames(ra.codecs), ErrNoCommonCodec)
	}
	remoteRecvs := ra.dir.receives() && !ra.hold
	dir := makeDirection(s.offeredDir.sends() && remoteRecvs, s.offeredDir.receives() && ra.dir.sends())
	s.pending, s.answered = false, true
	s.remoteHold = !remoteRecvs
	s.apply(&negotiation{remoteRTP: ra.rtp, remoteRTCP: ra.rtcp, send: chosen,
		dtmfSendPT: ra.dtmfPT, dtmfRecvPT: s.cfg.DTMFPayloadType, dir: dir})
	return nil
}

// apply installs a new negotiation. Called with s.mu held.
func (s *Session) apply(n *negotiation) {
	if s.neg == nil || s.neg.remoteRTP != n.remoteRTP {
		// New remote address: the source check starts over for it.
		s.latched, s.heardRemote, s.rxSinceNeg = netip.AddrPort{}, false, 0
	}
	if s.neg == nil || !s.neg.dir.sends() {
		s.marker = true
	}
	s.neg = n
	s.log.Info("media negotiated", "codec", n.send.name, "remote", n.remoteRTP.String(),
		"direction", n.dir.String(), "telephone_event_pt", n.dtmfSendPT)
}

// choose picks the first codec in the offerer's order that we are configured for, with the
// offerer's payload type. Following the offerer (RFC 3264 §6.1 leaves the answerer free to) means
// a PBX offering PCMU first, as Asterisk does, gets PCMU back and need not transcode.
func (s *Session) choose(offered []codec) (codec, bool) {
	for _, rc := range offered {
		for _, c := range s.codecs {
			if rc.name == c.name {
				return rc, true
			}
		}
	}
	return codec{}, false
}

func codecNames(cs []codec) string {
	if len(cs) == 0 {
		return "no supported codec"
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}

// Hold returns a re-INVITE offer putting the call on hold (sendonly, or inactive if the remote
// holds us too) or resuming it (sendrecv); send it and pass the answer to AcceptAnswer. While on
// local hold we neither send audio nor play what arrives.
func (s *Session) Hold(on bool) ([]byte, error) {
	s.mu.Lock()
	if s.neg == nil {
		s.mu.Unlock()
		return nil, ErrNotNegotiated
	}
	s.localHold = on
	s.mu.Unlock()
	return s.Offer()
}

// SendDTMF queues digits (0-9 * # A-D) to be sent as RFC 4733 events with the negotiated
// telephone-event payload type, 100 ms each with 60 ms gaps, in place of audio. The audio loop
// (Audio.Connect) paces them. ErrNoTelephoneEvent means use SIP INFO instead.
func (s *Session) SendDTMF(digits string) error {
	evs, err := parseDigits(digits)
	if err != nil {
		return fmt.Errorf("send DTMF: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.neg == nil:
		return ErrNotNegotiated
	case s.neg.dtmfSendPT < 0:
		return ErrNoTelephoneEvent
	}
	return s.dtmfTx.enqueue(evs)
}

// ReceiveSIPInfoDTMF passes a digit received in a SIP INFO (application/dtmf-relay) to the
// same channel as RFC 4733 digits.
func (s *Session) ReceiveSIPInfoDTMF(digit rune) {
	d, ok := normalizeDigit(digit)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok || s.closed {
		return
	}
	s.deliver(d)
}

// deliver hands a digit to the DTMF channel without blocking. Called with s.mu held.
func (s *Session) deliver(d rune) {
	select {
	case s.digits <- d:
		s.counters.dtmfReceived++
	default:
		s.counters.dtmfDropped++
	}
}

// DTMF returns received digits (RFC 4733 and SIP INFO). It is closed by Close.
func (s *Session) DTMF() <-chan rune { return s.digits }

// Close stops the session: it sends an RTCP BYE, releases the ports and waits for its goroutines.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.sendReportLocked(true)
	s.closed = true
	s.rxWake.Broadcast()
	s.mu.Unlock()
	s.cancel()
	s.rtpSock.shutdown()
	err2 := s.rtcp.Close()
	s.wg.Wait()
	err1 := s.rtpSock.close()
	close(s.digits)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("media: close: %w", err)
	}
	return nil
}

// rtpDest is where we send RTP: the negotiated address, or the latched one. Called with s.mu held.
func (s *Session) rtpDest() netip.AddrPort {
	if s.latched.IsValid() {
		return s.latched
	}
	return s.neg.remoteRTP
}

// sendFrame is called by the audio loop every 20 ms with microphone audio.
func (s *Session) sendFrame(pcm []int16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.neg == nil {
		return
	}
	ts := s.ts
	s.ts += uint32(len(pcm)) // RFC 3550 §5.1: the clock runs on during silence and hold
	dst := s.rtpDest()
	if !s.neg.dir.sends() || s.localHold || !dst.IsValid() || dst.Addr().IsUnspecified() || dst.Port() == 0 {
		s.marker = true
		return
	}
	if p, ok := s.dtmfTx.tick(ts); ok {
		payload := dtmfPayload(s.payload[:], p.ev, p.end, p.duration)
		for i := 0; i < p.repeats; i++ {
			s.writeRTP(uint8(s.neg.dtmfSendPT), p.marker && i == 0, p.ts, payload, dst)
		}
		if p.end {
			s.counters.dtmfSent++
		}
		return
	}
	var payload []byte
	if s.neg.send.name == "PCMU" {
		payload = g711.EncodeULawFrame(s.payload[:], pcm)
	} else {
		payload = g711.EncodeALawFrame(s.payload[:], pcm)
	}
	s.writeRTP(s.neg.send.pt, s.marker, ts, payload, dst)
	s.marker = false
}

// writeRTP sends one packet from the RTP socket (symmetric RTP, RFC 4961). Called with s.mu held.
func (s *Session) writeRTP(pt uint8, marker bool, ts uint32, payload []byte, dst netip.AddrPort) {
	h := rtp.Header{Version: 2, Marker: marker, PayloadType: pt, SequenceNumber: s.seq, Timestamp: ts, SSRC: s.ssrc}
	n, err := h.MarshalTo(s.txBuf[:])
	if err != nil {
		s.txErrors++
		return
	}
	n += copy(s.txBuf[n:], payload)
	s.seq++
	if err := s.rtpSock.write(s.txBuf[:n], dst); err != nil {
		s.txErrors++
		if s.txErrors == 1 || s.txErrors%500 == 0 {
			s.log.Warn("sending RTP failed", "to", dst.String(), "err", err, "failures", s.txErrors)
		}
		return
	}
	s.sentPackets++
	s.sentOctets += uint64(len(payload))
	s.sentInPeriod = true
}

// readFrame fills out with the next 20 ms of received audio (concealed if missing).
func (s *Session) readFrame(out []int16) (arrival time.Time, real bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.neg == nil || !s.neg.dir.receives() || s.localHold {
		clear(out)
		return time.Time{}, false
	}
	return s.jb.read(out)
}

// notePlayout records the delay from a packet's arrival to its audio being handed to the device.
func (s *Session) notePlayout(d time.Duration) {
	s.mu.Lock()
	s.playout.sum += d
	s.playout.n++
	s.playout.worst = max(s.playout.worst, d)
	s.mu.Unlock()
}

// receiveRTP reads RTP as it arrives while no audio loop collects it (before Connect, for a
// second call waiting, or where kernel timestamps are unavailable).
func (s *Session) receiveRTP(ctx context.Context) {
	defer s.wg.Done()
	buf := make([]byte, maxDatagram+1)
	for {
		s.mu.Lock()
		for s.attached && !s.closed {
			s.rxWake.Wait()
		}
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return
		}
		n, src, at, err := s.rtpSock.read(buf, true)
		switch {
		case err == nil:
			s.handleRTP(buf[:n], src, at)
		case errors.Is(err, errNoPacket): // timeout: check attach and Close again
		case errors.Is(err, errSocketClosed):
			return
		default: // e.g. ICMP port unreachable reported on the socket
			if !pause(ctx, readErrorPause) {
				return
			}
		}
	}
}

// attach hands RTP reception to the audio loop (on) or back to the session's goroutine.
func (s *Session) attach(on bool) {
	if !canDrain {
		return
	}
	// A goroutine blocked in a read finishes it (next packet or timeout) and then sleeps.
	s.mu.Lock()
	s.attached = on && !s.closed
	s.rxWake.Broadcast()
	s.mu.Unlock()
}

// drainRTP handles every queued RTP datagram without blocking; the audio loop calls it each
// tick before taking a frame from the jitter buffer.
func (s *Session) drainRTP() {
	s.mu.Lock()
	attached := s.attached
	s.mu.Unlock()
	if !attached {
		return
	}
	for i := 0; i < 2*jbSlots; i++ {
		n, src, at, err := s.rtpSock.read(s.drainBuf, false)
		if err != nil {
			return // empty or closed
		}
		s.handleRTP(s.drainBuf[:n], src, at)
	}
}

// handleRTP checks the source and the packet, then feeds the jitter buffer or the DTMF receiver.
func (s *Session) handleRTP(b []byte, src netip.AddrPort, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() {
		if r := recover(); r != nil { // last line of defence: a bad packet must not end the call
			s.counters.malformedRTP++
			s.counters.panics++
			s.log.Error("RTP packet handling failed", "panic", fmt.Sprint(r), "len", len(b))
		}
	}()
	if s.closed {
		return
	}
	if s.neg == nil { // before the answer (or the offer we answer) is known
		s.counters.early++
		return
	}
	if !s.sourceOK(src) {
		s.counters.foreign++
		if s.counters.foreign == 1 || s.counters.foreign%1000 == 0 {
			s.log.Info("RTP from an unexpected source dropped", "src", src.String(), "count", s.counters.foreign)
		}
		return
	}
	var p rtp.Packet
	if len(b) > maxDatagram || len(b) < 12 || b[0]>>6 != 2 {
		s.counters.malformedRTP++
		return
	}
	if err := p.Unmarshal(b); err != nil {
		s.counters.malformedRTP++
		return
	}
	pt := p.PayloadType
	isDTMF := int(pt) == s.neg.dtmfRecvPT || int(pt) == s.neg.dtmfSendPT
	c, isAudio := codecByPT(pt)
	if pt == s.neg.send.pt { // also a PCMA/PCMU mapped to a dynamic type by the remote's rtpmap
		c, isAudio = s.neg.send, true
	}
	switch {
	case isDTMF:
		d, ok, err := s.dtmfRx.handle(p.Timestamp, p.Payload)
		if err != nil {
			s.counters.malformedRTP++
			return
		}
		s.track(&p, now, false)
		if ok {
			s.deliver(d)
		}
	case isAudio:
		if len(p.Payload) == 0 || len(p.Payload) > jbMaxSamples {
			s.counters.malformedRTP++
			return
		}
		s.track(&p, now, true)
		if !s.neg.dir.receives() || s.localHold {
			return
		}
		pcm := s.pcm[:len(p.Payload)]
		if c.name == "PCMU" {
			g711.DecodeULawFrame(pcm, p.Payload)
		} else {
			g711.DecodeALawFrame(pcm, p.Payload)
		}
		if s.jb.push(p.SSRC, p.Timestamp, pcm, now) {
			s.log.Info("jitter buffer restarted", "ssrc", p.SSRC)
		}
	default:
		s.counters.unknownPT++
	}
}

// sourceOK implements the RTP source rule: only the negotiated address, or — with Config.Latch —
// another address seen among the first latchWindow packets while the negotiated one is silent.
// Called with s.mu held.
func (s *Session) sourceOK(src netip.AddrPort) bool {
	s.rxSinceNeg++
	if src == s.neg.remoteRTP {
		s.heardRemote = true
		s.latched = netip.AddrPort{}
		return true
	}
	if s.latched.IsValid() {
		return src == s.latched
	}
	if s.cfg.Latch && !s.heardRemote && s.rxSinceNeg <= latchWindow {
		s.latched = src
		s.log.Warn("RTP source latched", "advertised", s.neg.remoteRTP.String(), "actual", src.String())
		return true
	}
	return false
}

// track updates the RFC 3550 receiver statistics. Called with s.mu held.
func (s *Session) track(p *rtp.Packet, now time.Time, audio bool) {
	r := &s.rx
	if r.have && p.SSRC != r.ssrc {
		s.counters.ssrcChanges++
		r.have = false
	}
	if !r.have {
		*r = rxStats{have: true, ssrc: p.SSRC, baseSeq: p.SequenceNumber, maxSeq: p.SequenceNumber, epoch: now}
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
			*r = rxStats{have: true, ssrc: p.SSRC, baseSeq: p.SequenceNumber, maxSeq: p.SequenceNumber, epoch: now}
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

// readErrorPause spaces reads after a socket error, so an error that repeats does not spin.
const readErrorPause = time.Millisecond

// pause waits d and reports whether ctx is still live.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
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
	info, err := parseRTCP(b)
	if err != nil {
		s.counters.malformedRTCP++
		if s.counters.malformedRTCP <= 3 {
			s.log.Info("malformed RTCP dropped", "src", src.String(), "err", err, "len", len(b), "head", fmt.Sprintf("%x", b[:min(len(b), 48)]))
		}
		return
	}
	s.counters.rtcpReceived++
	if info.hasSR {
		s.lsr, s.lsrAt = uint32(info.srNTP>>16), now
	}
	for _, blk := range info.blocks[:info.nBlocks] {
		if blk.ssrc != s.ssrc {
			continue
		}
		s.remoteReport, s.haveReport = blk, true
		if blk.lsr != 0 { // RFC 3550 §6.4.1 round-trip time
			nowMid := uint32(ntpTime(now) >> 16)
			if rtt := int64(nowMid-blk.lsr-blk.dlsr) * int64(time.Second) >> 16; rtt >= 0 && rtt < int64(10*time.Second) {
				s.rtt = time.Duration(rtt)
			}
		}
	}
}

// reportLoop sends RTCP reports at randomised 5 s intervals (RFC 3550 §6.2, §6.3.1).
func (s *Session) reportLoop(ctx context.Context) {
	defer s.wg.Done()
	interval := rtcpInterval / 2 // first report after half the interval
	for {
		d := time.Duration(float64(interval) * (0.5 + mrand.Float64()))
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		interval = rtcpInterval
		s.mu.Lock()
		if !s.closed {
			s.sendReportLocked(false)
		}
		s.mu.Unlock()
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
	var sender *senderInfo
	if s.sentInPeriod {
		sender = &senderInfo{ntp: ntpTime(now), rtpTS: s.ts, packets: uint32(s.sentPackets), octets: uint32(s.sentOctets)}
		s.sentInPeriod = false
	}
	var block *reportBlock
	if s.rx.have {
		r := &s.rx
		expected := r.expected()
		expInt, recvInt := expected-r.expectedPrior, r.received-r.receivedPrior
		r.expectedPrior, r.receivedPrior = expected, r.received
		var fraction uint8
		if lostInt := int64(expInt) - int64(recvInt); expInt > 0 && lostInt > 0 {
			fraction = uint8(lostInt << 8 / int64(expInt))
		}
		lost := min(max(r.lost(), -0x800000), 0x7FFFFF)
		block = &reportBlock{ssrc: r.ssrc, fractionLost: fraction, totalLost: int32(lost),
			highestSeq: r.extendedMax(), jitter: uint32(r.jitter)}
		if !s.lsrAt.IsZero() {
			block.lsr = s.lsr
			block.dlsr = uint32(now.Sub(s.lsrAt) * 65536 / time.Second)
		}
	}
	b := buildRTCP(make([]byte, 0, 128), s.ssrc, sender, block, s.cfg.CNAME)
	if bye { // RFC 3550 §6.6
		b = append(b, 0x81, rtcpBYE, 0, 1)
		b = binary.BigEndian.AppendUint32(b, s.ssrc)
	}
	if _, err := s.rtcp.WriteToUDPAddrPort(b, dst); err == nil {
		s.counters.rtcpSent++
	}
}

// Stats are the call's media counters, for the status API and tests.
type Stats struct {
	Codec                 string  `json:"codec"`
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
		PacketsSent: s.sentPackets, BytesSent: s.sentOctets,
		PacketsReceived: s.rx.received, BytesReceived: s.rx.bytes, Lost: max(s.rx.lost(), 0),
		Late: jb.late, Concealed: jb.concealed, JitterBufferDropped: jb.dropped, BufferResets: jb.resets,
		MalformedDropped: s.counters.malformedRTP, RTCPMalformedDropped: s.counters.malformedRTCP,
		ForeignSourceDropped: s.counters.foreign, UnknownPayloadDropped: s.counters.unknownPT,
		EarlyDropped: s.counters.early,
		JitterMs:     s.rx.jitter * 1000 / SampleRate, BufferTargetMs: jb.targetMs, BufferDepthMs: jb.depthMs,
		SSRCChanges: s.counters.ssrcChanges, DTMFSent: s.counters.dtmfSent, DTMFReceived: s.counters.dtmfReceived,
		RTCPSent: s.counters.rtcpSent, RTCPReceived: s.counters.rtcpReceived,
		RTTMs: float64(s.rtt) / float64(time.Millisecond),
	}
	if s.neg != nil {
		st.Codec, st.RemoteAddr, st.Direction = s.neg.send.name, s.neg.remoteRTP.String(), s.neg.dir.String()
	}
	if s.latched.IsValid() {
		st.Latched = s.latched.String()
	}
	if s.haveReport {
		st.RemoteFractionLost = float64(s.remoteReport.fractionLost) / 256
		st.RemoteLost = int64(s.remoteReport.totalLost)
		st.RemoteJitterMs = float64(s.remoteReport.jitter) * 1000 / SampleRate
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
