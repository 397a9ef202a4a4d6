package media

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/deskphone/deskphone/firmware/media/g711"
	"github.com/pion/rtp"
)

// The receiving side of a Session: RTP in, checked, into the jitter buffer or the DTMF receiver.

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

// track feeds the receive statistics. Called with s.mu held.
func (s *Session) track(p *rtp.Packet, now time.Time, audio bool) {
	if s.rx.processRTP(p, now, audio) {
		s.counters.ssrcChanges++
	}
}
