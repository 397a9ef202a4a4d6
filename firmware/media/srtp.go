package media

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/deskphone/deskphone/firmware/sdes"
)

// SRTP with keys exchanged in the SDP (SDES, RFC 4568) and RFC 3711 protection by pion/srtp.
// The keys travel in clear in the SDP, so they protect the call only when the signalling is
// encrypted too (SIP over TLS): whoever creates sessions sets Config.SRTP accordingly.

// Values of Config.SRTP.
const (
	SRTPOff       = "off"       // plain RTP; an RTP/SAVP offer is refused (488)
	SRTPOptional  = "optional"  // offer RTP/AVP with keys; encrypt when the remote answers with a key
	SRTPMandatory = "mandatory" // offer RTP/SAVP; refuse calls without SRTP
)

// ErrNoCommonCrypto: the remote's SRTP requirements and ours do not meet (RFC 4568 §7.5: answer 488).
var ErrNoCommonCrypto = errors.New("no common media encryption (SRTP) (answer 488 Not Acceptable Here)")

// cryptoAttr is one a=crypto line we can use (package sdes).
type cryptoAttr = sdes.Crypto

// srtpStreams protects one call's media: tx with our key, rx with the remote's.
type srtpStreams = sdes.Streams

// parseCrypto parses an a=crypto value; a malformed one is ErrBadSDP.
func parseCrypto(v string) (cryptoAttr, bool, error) {
	c, ok, err := sdes.Parse(v)
	if err != nil {
		return c, false, fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	return c, ok, nil
}

// cryptoOffer is what we put into an offer: the profile and our keys, by policy.
func (s *Session) cryptoOffer() (savp bool, attrs []cryptoAttr) {
	switch s.cfg.SRTP {
	case SRTPMandatory:
		return true, s.keys
	case SRTPOptional:
		return false, s.keys
	}
	return false, nil
}

// answerCrypto decides the encryption of an answer to ra: the remote's line we accept and our
// key for it, or nothing for plain RTP.
func (s *Session) answerCrypto(ra remoteAudio) (local, remote cryptoAttr, use bool, err error) {
	if s.cfg.SRTP == SRTPOff || s.cfg.SRTP == "" {
		if ra.savp {
			return local, remote, false, fmt.Errorf("the remote requires SRTP (RTP/SAVP), which is off here: %w", ErrNoCommonCrypto)
		}
		return local, remote, false, nil
	}
	if lc, rc, ok := sdes.Accept(ra.crypto, s.keys); ok {
		return lc, rc, true, nil
	}
	if ra.savp || s.cfg.SRTP == SRTPMandatory {
		return local, remote, false, fmt.Errorf("the remote offers no usable a=crypto (%s): %w", sdes.SuiteNames(), ErrNoCommonCrypto)
	}
	return local, remote, false, nil
}

// streams returns the SRTP contexts for the negotiated keys: the current ones when the keys did
// not change, nil for plain RTP. Called with s.mu held.
func (s *Session) streams(local, remote cryptoAttr, encrypt bool) (*srtpStreams, error) {
	if !encrypt {
		return nil, nil
	}
	var cur *srtpStreams
	if s.neg != nil {
		cur = s.neg.srtp
	}
	if cur.Same(local, remote) {
		return cur, nil
	}
	st, err := cur.Rekeyed(local, remote)
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	return st, nil
}

// answeredCrypto checks the remote's answer to our offer's keys.
func (s *Session) answeredCrypto(ra remoteAudio, offered []cryptoAttr) (local, remote cryptoAttr, use bool, err error) {
	if len(offered) == 0 {
		if ra.savp {
			return local, remote, false, fmt.Errorf("the answer requires SRTP (RTP/SAVP), which we did not offer: %w", ErrNoCommonCrypto)
		}
		return local, remote, false, nil
	}
	if lc, rc, ok := sdes.Answered(ra.crypto, offered); ok {
		return lc, rc, true, nil
	}
	if len(ra.crypto) > 0 || ra.savp {
		return local, remote, false, fmt.Errorf("the answer's a=crypto matches none we offered: %w", ErrNoCommonCrypto)
	}
	if s.cfg.SRTP == SRTPMandatory {
		return local, remote, false, fmt.Errorf("the answer has no a=crypto: %w", ErrNoCommonCrypto)
	}
	return local, remote, false, nil
}

// unprotect authenticates and decrypts an SRTP (or, with rtcp, SRTCP) packet of an encrypted
// call; a plain call's packet passes as it is. ok is false for a packet to drop. Called with
// s.mu held.
func (s *Session) unprotect(b []byte, src netip.AddrPort, rtcp bool) (out []byte, ok bool) {
	st := s.neg.srtp
	if st == nil {
		return b, true
	}
	var err error
	if rtcp {
		out, err = st.DecryptRTCP(b)
	} else {
		out, err = st.DecryptRTP(b)
	}
	if err != nil {
		s.srtpRejected(src, b, err)
		return nil, false
	}
	return out, true
}

// srtpRejected counts a packet that fails SRTP authentication or the replay check: forged,
// replayed, or plain RTP on an encrypted call. Called with s.mu held.
func (s *Session) srtpRejected(src netip.AddrPort, b []byte, err error) {
	s.counters.srtpRejected++
	if s.counters.srtpRejected <= 3 || s.counters.srtpRejected%1000 == 0 {
		s.log.Info("SRTP packet rejected", "src", src.String(), "err", err, "len", len(b),
			"head", fmt.Sprintf("%x", b[:min(len(b), 8)]), "count", s.counters.srtpRejected)
	}
}
