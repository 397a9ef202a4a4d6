package media

import (
	"fmt"
	"net/netip"

	"github.com/deskphone/deskphone/firmware/media/g711"
	"github.com/pion/rtp"
)

// The sending side of a Session: microphone frames and RFC 4733 events out as RTP.

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
	pkt := s.txBuf[:n]
	if s.neg.srtp != nil {
		var err error
		if pkt, err = s.neg.srtp.EncryptRTP(s.srtpBuf[:0], pkt, &h); err != nil {
			s.txErrors++
			return
		}
	}
	if err := s.rtpSock.write(pkt, dst); err != nil {
		s.txErrors++
		if s.txErrors == 1 || s.txErrors%500 == 0 {
			s.log.Warn("sending RTP failed", "to", dst.String(), "err", err, "failures", s.txErrors)
		}
		return
	}
	s.tx.processRTP(len(payload))
}
