package media

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
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

// cryptoSuite is an RFC 4568 §6.2 crypto suite we implement.
type cryptoSuite struct {
	name    string
	profile srtp.ProtectionProfile
}

// suites in our order of preference: the 80-bit tag first, as every SDES phone offers it.
var suites = [...]cryptoSuite{
	{"AES_CM_128_HMAC_SHA1_80", srtp.ProtectionProfileAes128CmHmacSha1_80},
	{"AES_CM_128_HMAC_SHA1_32", srtp.ProtectionProfileAes128CmHmacSha1_32},
}

const (
	sdesKeyLen   = 30 // 128-bit master key and 112-bit master salt (RFC 4568 §6.2.1)
	replayWindow = 128
)

func suiteByName(name string) (cryptoSuite, bool) {
	for _, s := range suites {
		if s.name == name {
			return s, true
		}
	}
	return cryptoSuite{}, false
}

// cryptoAttr is one a=crypto line we can use.
type cryptoAttr struct {
	tag   int
	suite cryptoSuite
	key   []byte // master key || master salt
}

func (c cryptoAttr) String() string {
	return fmt.Sprintf("%d %s inline:%s", c.tag, c.suite.name, base64.StdEncoding.EncodeToString(c.key))
}

// parseCrypto parses "<tag> <crypto-suite> <key-params> [<session-params>]" (RFC 4568 §9.1).
// ok is false for a well-formed line we do not implement (another suite, several keys, an MKI,
// session parameters): the offerer listed it as one alternative among others. An error means
// the line is malformed.
func parseCrypto(v string) (attr cryptoAttr, ok bool, err error) {
	bad := func(why string) (cryptoAttr, bool, error) {
		return cryptoAttr{}, false, fmt.Errorf("a=crypto: %s: %w", why, ErrBadSDP)
	}
	f := strings.Fields(v)
	if len(f) < 3 {
		return bad("needs a tag, a suite and a key")
	}
	tag, err := strconv.Atoi(f[0])
	if err != nil || tag < 0 || tag > 999999999 || len(f[0]) > 9 {
		return bad("the tag must be 1-9 digits")
	}
	suite, known := suiteByName(f[1])
	if !known || len(f) > 3 || strings.Contains(f[2], ";") {
		return cryptoAttr{}, false, nil
	}
	method, params, found := strings.Cut(f[2], ":")
	if !found || method != "inline" {
		return cryptoAttr{}, false, nil
	}
	keySalt, rest, _ := strings.Cut(params, "|")
	if strings.Count(rest, "|") > 0 || strings.Contains(rest, ":") { // an MKI ("1:4") we do not use
		return cryptoAttr{}, false, nil
	}
	key, err := base64.StdEncoding.DecodeString(keySalt)
	if err != nil || len(key) != sdesKeyLen {
		return bad(fmt.Sprintf("%s needs a %d-byte base64 key and salt", suite.name, sdesKeyLen))
	}
	return cryptoAttr{tag: tag, suite: suite, key: key}, true, nil
}

// newKeys returns one fresh master key and salt per suite we offer, tagged 1, 2….
func newKeys() ([]cryptoAttr, error) {
	var out []cryptoAttr
	for i, s := range suites {
		k := make([]byte, sdesKeyLen)
		if _, err := rand.Read(k); err != nil {
			return nil, fmt.Errorf("media: SRTP key: %w", err)
		}
		out = append(out, cryptoAttr{tag: i + 1, suite: s, key: k})
	}
	return out, nil
}

// srtpStreams protects one call's media: tx with our key, rx with the remote's.
type srtpStreams struct {
	local, remote cryptoAttr
	tx, rx        *srtp.Context
	buf           []byte // decrypted packets (handlers run with s.mu held)
}

func newSRTPStreams(local, remote cryptoAttr) (*srtpStreams, error) {
	tx, err := srtp.CreateContext(local.key[:16], local.key[16:], local.suite.profile)
	if err != nil {
		return nil, fmt.Errorf("media: SRTP context: %w", err)
	}
	rx, err := srtp.CreateContext(remote.key[:16], remote.key[16:], remote.suite.profile,
		srtp.SRTPReplayProtection(replayWindow), srtp.SRTCPReplayProtection(replayWindow))
	if err != nil {
		return nil, fmt.Errorf("media: SRTP context: %w", err)
	}
	return &srtpStreams{local: local, remote: remote, tx: tx, rx: rx, buf: make([]byte, maxDatagram)}, nil
}

// same reports whether st already uses these keys (a re-INVITE keeping them keeps the rollover
// counters and replay windows).
func (st *srtpStreams) same(local, remote cryptoAttr) bool {
	return st != nil && st.local.String() == local.String() && st.remote.String() == remote.String()
}

func (st *srtpStreams) encryptRTP(dst, packet []byte, h *rtp.Header) ([]byte, error) {
	return st.tx.EncryptRTP(dst, packet, h)
}

func (st *srtpStreams) decryptRTP(packet []byte) ([]byte, error) {
	var h rtp.Header
	return st.rx.DecryptRTP(st.buf, packet, &h)
}

func (st *srtpStreams) encryptRTCP(packet []byte) ([]byte, error) {
	return st.tx.EncryptRTCP(nil, packet, nil)
}

func (st *srtpStreams) decryptRTCP(packet []byte) ([]byte, error) {
	var h rtcp.Header
	return st.rx.DecryptRTCP(st.buf, packet, &h)
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
	for _, rc := range ra.crypto {
		for _, lc := range s.keys {
			if lc.suite == rc.suite {
				lc.tag = rc.tag // the answer echoes the tag of the accepted line (RFC 4568 §7.1.2)
				return lc, rc, true, nil
			}
		}
	}
	if ra.savp || s.cfg.SRTP == SRTPMandatory {
		return local, remote, false, fmt.Errorf("the remote offers no usable a=crypto (%s): %w", suiteNames(), ErrNoCommonCrypto)
	}
	return local, remote, false, nil
}

// streams returns the SRTP contexts for the negotiated keys: the current ones when the keys did
// not change, nil for plain RTP. Called with s.mu held.
func (s *Session) streams(local, remote cryptoAttr, encrypt bool) (*srtpStreams, error) {
	if !encrypt {
		return nil, nil
	}
	if s.neg != nil && s.neg.srtp.same(local, remote) {
		return s.neg.srtp, nil
	}
	return newSRTPStreams(local, remote)
}

// answeredCrypto checks the remote's answer to our offer's keys.
func (s *Session) answeredCrypto(ra remoteAudio, offered []cryptoAttr) (local, remote cryptoAttr, use bool, err error) {
	if len(offered) == 0 {
		if ra.savp {
			return local, remote, false, fmt.Errorf("the answer requires SRTP (RTP/SAVP), which we did not offer: %w", ErrNoCommonCrypto)
		}
		return local, remote, false, nil
	}
	for _, rc := range ra.crypto {
		for _, lc := range offered {
			if lc.tag == rc.tag && lc.suite == rc.suite {
				return lc, rc, true, nil
			}
		}
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
		out, err = st.decryptRTCP(b)
	} else {
		out, err = st.decryptRTP(b)
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

func suiteNames() string {
	var n []string
	for _, s := range suites {
		n = append(n, s.name)
	}
	return strings.Join(n, ", ")
}
