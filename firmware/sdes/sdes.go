// Package sdes is SRTP keying in the SDP (SDES, RFC 4568) and RFC 3711 protection with
// pion/srtp: the a=crypto attribute, fresh master keys, and the pair of SRTP contexts of one
// media stream. The Pi's phone (firmware/media) and the registrar's SRTP-to-RTP bridge
// (firmware/srtpbridge) share it.
//
// The keys travel in clear in the SDP: they protect a call only when the signalling is encrypted
// too (SIP over TLS).
package sdes

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// ErrMalformed: an a=crypto line breaks RFC 4568's grammar (a bad tag, a key of the wrong
// length, bad base64). The SDP carrying it is invalid.
var ErrMalformed = errors.New("malformed a=crypto")

// Suite is an RFC 4568 §6.2 crypto suite we implement.
type Suite struct {
	Name    string
	Profile srtp.ProtectionProfile
}

// suites in our order of preference: the 80-bit tag first, as every SDES phone offers it.
var suites = [...]Suite{
	{"AES_CM_128_HMAC_SHA1_80", srtp.ProtectionProfileAes128CmHmacSha1_80},
	{"AES_CM_128_HMAC_SHA1_32", srtp.ProtectionProfileAes128CmHmacSha1_32},
}

const (
	// KeyLen is a master key and salt: 128-bit key, 112-bit salt (RFC 4568 §6.2.1).
	KeyLen = 30
	// ReplayWindow is the SRTP and SRTCP replay window, in packets.
	ReplayWindow = 128
	// MaxLines bounds the a=crypto lines kept from one m= line.
	MaxLines = len(suites) * 4
)

// SuiteByName returns the suite called name, if we implement it.
func SuiteByName(name string) (Suite, bool) {
	for _, s := range suites {
		if s.Name == name {
			return s, true
		}
	}
	return Suite{}, false
}

// SuiteNames lists the suites we implement, comma-separated, for error messages.
func SuiteNames() string {
	var n []string
	for _, s := range suites {
		n = append(n, s.Name)
	}
	return strings.Join(n, ", ")
}

// Crypto is one a=crypto line we can use: a tag, a suite and one inline master key and salt.
type Crypto struct {
	Tag   int
	Suite Suite
	Key   []byte // master key || master salt, KeyLen bytes
}

// equal reports whether c and o are the same key: tag, suite and key bytes.
func (c Crypto) equal(o Crypto) bool {
	return c.Tag == o.Tag && c.Suite.Name == o.Suite.Name && bytes.Equal(c.Key, o.Key)
}

// String is the attribute's value: "<tag> <suite> inline:<base64 key and salt>".
func (c Crypto) String() string {
	return fmt.Sprintf("%d %s inline:%s", c.Tag, c.Suite.Name, base64.StdEncoding.EncodeToString(c.Key))
}

// Parse parses "<tag> <crypto-suite> <key-params> [<session-params>]" (RFC 4568 §9.1).
// ok is false for a well-formed line we do not implement (another suite, several keys, an MKI,
// session parameters): the offerer listed it as one alternative among others. An error (wrapping
// ErrMalformed) means the line is malformed.
func Parse(v string) (c Crypto, ok bool, err error) {
	bad := func(why string) (Crypto, bool, error) {
		return Crypto{}, false, fmt.Errorf("a=crypto: %s: %w", why, ErrMalformed)
	}
	f := strings.Fields(v)
	if len(f) < 3 {
		return bad("needs a tag, a suite and a key")
	}
	tag, err := strconv.Atoi(f[0])
	if err != nil || tag < 0 || tag > 999999999 || len(f[0]) > 9 {
		return bad("the tag must be 1-9 digits")
	}
	suite, known := SuiteByName(f[1])
	if !known || len(f) > 3 || strings.Contains(f[2], ";") {
		return Crypto{}, false, nil
	}
	method, params, found := strings.Cut(f[2], ":")
	if !found || method != "inline" {
		return Crypto{}, false, nil
	}
	keySalt, rest, _ := strings.Cut(params, "|")
	if strings.Count(rest, "|") > 0 || strings.Contains(rest, ":") { // an MKI ("1:4") we do not use
		return Crypto{}, false, nil
	}
	key, err := base64.StdEncoding.DecodeString(keySalt)
	if err != nil || len(key) != KeyLen {
		return bad(fmt.Sprintf("%s needs a %d-byte base64 key and salt", suite.Name, KeyLen))
	}
	return Crypto{Tag: tag, Suite: suite, Key: key}, true, nil
}

// NewKeys returns one fresh master key and salt per suite we implement, tagged 1, 2…, in our
// order of preference.
func NewKeys() ([]Crypto, error) {
	var out []Crypto
	for i, s := range suites {
		k := make([]byte, KeyLen)
		if _, err := rand.Read(k); err != nil {
			return nil, fmt.Errorf("SRTP key: %w", err)
		}
		out = append(out, Crypto{Tag: i + 1, Suite: s, Key: k})
	}
	return out, nil
}

// Accept picks, for an offer's a=crypto lines (in the offerer's order of preference), the first
// one whose suite we have a key for: remote is the offerer's line, local our key for its suite
// with the offer's tag, as the answer must echo it (RFC 4568 §7.1.2).
func Accept(offered, ours []Crypto) (local, remote Crypto, ok bool) {
	for _, rc := range offered {
		for _, lc := range ours {
			if lc.Suite == rc.Suite {
				lc.Tag = rc.Tag
				return lc, rc, true
			}
		}
	}
	return Crypto{}, Crypto{}, false
}

// Answered finds the line of an answer that accepts one of the offered keys (same tag and suite):
// local is our offered key, remote the answerer's.
func Answered(answer, offered []Crypto) (local, remote Crypto, ok bool) {
	for _, rc := range answer {
		for _, lc := range offered {
			if lc.Tag == rc.Tag && lc.Suite == rc.Suite {
				return lc, rc, true
			}
		}
	}
	return Crypto{}, Crypto{}, false
}

// MaxPacket is the largest packet Streams decrypts into its own buffer.
const MaxPacket = 1500

// Streams protects one media stream: what we send with our key (local), what we receive with
// the remote's, with replay protection. Not safe for concurrent use of the same direction.
type Streams struct {
	Local, Remote Crypto
	tx, rx        *srtp.Context
	buf           []byte
	// Headers the contexts parse into, kept here so that no packet allocates one.
	txRTP, rxRTP rtp.Header
	rxRTCP       rtcp.Header
}

// NewStreams makes the contexts for our key and the remote's.
func NewStreams(local, remote Crypto) (*Streams, error) {
	tx, err := srtp.CreateContext(local.Key[:16], local.Key[16:], local.Suite.Profile)
	if err != nil {
		return nil, fmt.Errorf("SRTP context: %w", err)
	}
	rx, err := srtp.CreateContext(remote.Key[:16], remote.Key[16:], remote.Suite.Profile,
		srtp.SRTPReplayProtection(ReplayWindow), srtp.SRTCPReplayProtection(ReplayWindow))
	if err != nil {
		return nil, fmt.Errorf("SRTP context: %w", err)
	}
	return &Streams{Local: local, Remote: remote, tx: tx, rx: rx, buf: make([]byte, MaxPacket)}, nil
}

// Rekeyed returns the streams for new keys after a re-offer (st may be nil): a direction whose
// key stays the same keeps its context, rollover counter included, as RFC 4568 §7.1.4 requires
// (a fresh one would restart at 0 and what it sends would fail at a peer past a wrap).
func (st *Streams) Rekeyed(local, remote Crypto) (*Streams, error) {
	n, err := NewStreams(local, remote)
	if err != nil {
		return nil, err
	}
	if st != nil && st.Local.equal(local) {
		n.tx = st.tx
	}
	if st != nil && st.Remote.equal(remote) {
		n.rx = st.rx
	}
	return n, nil
}

// Same reports whether st already uses these keys (a re-INVITE keeping them keeps the rollover
// counters and replay windows).
func (st *Streams) Same(local, remote Crypto) bool {
	return st != nil && st.Local.equal(local) && st.Remote.equal(remote)
}

// EncryptRTP protects an RTP packet into dst (h may be nil: the packet is parsed).
func (st *Streams) EncryptRTP(dst, packet []byte, h *rtp.Header) ([]byte, error) {
	if h == nil {
		h = &st.txRTP // pion parses the packet into it either way
	}
	return st.tx.EncryptRTP(dst, packet, h)
}

// DecryptRTP authenticates and decrypts an SRTP packet; the result lives in st's buffer until
// the next Decrypt call.
func (st *Streams) DecryptRTP(packet []byte) ([]byte, error) {
	return st.rx.DecryptRTP(st.buf, packet, &st.rxRTP)
}

// EncryptRTCP protects an RTCP packet (SRTCP, always with the 80-bit tag: RFC 4568 §6.2.1).
func (st *Streams) EncryptRTCP(dst, packet []byte) ([]byte, error) {
	return st.tx.EncryptRTCP(dst, packet, nil)
}

// DecryptRTCP authenticates and decrypts an SRTCP packet into st's buffer.
func (st *Streams) DecryptRTCP(packet []byte) ([]byte, error) {
	return st.rx.DecryptRTCP(st.buf, packet, &st.rxRTCP)
}
