package media

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// SDP offer/answer (RFC 3264) for a Session: our offers, answers to the remote's offers, hold.

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
	savp, keys := s.cryptoOffer()
	savp = savp || (s.neg != nil && s.neg.savp) // a call set up as RTP/SAVP stays so
	body, err := s.render(localDesc{codecs: codecs, dtmfPT: s.cfg.DTMFPayloadType, dir: dir, audioIndex: -1,
		savp: savp, crypto: keys})
	if err != nil {
		return nil, err
	}
	s.pending, s.offeredDir, s.offeredKeys = true, dir, keys
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
	ours, theirs, encrypt, err := s.answerCrypto(ra)
	if err != nil {
		return nil, err
	}
	st, err := s.streams(ours, theirs, encrypt)
	if err != nil {
		return nil, err
	}
	var crypto []cryptoAttr
	if encrypt {
		crypto = []cryptoAttr{ours}
	}
	remoteSends := ra.dir.sends() && ra.rtp.Port() != 0
	remoteRecvs := ra.dir.receives() && !ra.hold
	dir := makeDirection(remoteRecvs, remoteSends && !s.localHold)
	body, err := s.render(localDesc{codecs: []codec{chosen}, dtmfPT: ra.dtmfPT, dir: dir,
		remote: ra.mlines, audioIndex: ra.index, savp: ra.savp, crypto: crypto})
	if err != nil {
		return nil, err
	}
	s.remoteHold = !remoteRecvs
	s.pending, s.answered = false, false
	s.apply(&negotiation{remoteRTP: ra.rtp, remoteRTCP: ra.rtcp, send: chosen,
		dtmfSendPT: ra.dtmfPT, dtmfRecvPT: ra.dtmfPT, dir: dir, srtp: st, savp: ra.savp})
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
	ours, theirs, encrypt, err := s.answeredCrypto(ra, s.offeredKeys)
	if err != nil {
		return err
	}
	st, err := s.streams(ours, theirs, encrypt)
	if err != nil {
		return err
	}
	remoteRecvs := ra.dir.receives() && !ra.hold
	dir := makeDirection(s.offeredDir.sends() && remoteRecvs, s.offeredDir.receives() && ra.dir.sends())
	s.pending, s.answered = false, true
	s.remoteHold = !remoteRecvs
	s.apply(&negotiation{remoteRTP: ra.rtp, remoteRTCP: ra.rtcp, send: chosen,
		dtmfSendPT: ra.dtmfPT, dtmfRecvPT: s.cfg.DTMFPayloadType, dir: dir, srtp: st, savp: ra.savp})
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
	s.expectSince = time.Now()
	s.log.Info("media negotiated", "codec", n.send.name, "remote", n.remoteRTP.String(),
		"direction", n.dir.String(), "telephone_event_pt", n.dtmfSendPT, "srtp", n.suite())
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
