package srtpbridge

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/deskphone/deskphone/firmware/sdes"
)

// maxSDPSize bounds an SDP body we parse; a phone's SDP is a few hundred bytes.
const maxSDPSize = 16 << 10

// ErrBadSDP: the SDP cannot be bridged (malformed, no audio, no usable key).
var ErrBadSDP = errors.New("SDP cannot be bridged")

// audio is what the bridge needs from a phone's SDP, and the parsed body to rewrite.
type audio struct {
	sd     sdp.SessionDescription
	index  int            // the audio m= line
	rtp    netip.AddrPort // where the phone receives RTP (unspecified address: on hold)
	rtcp   netip.AddrPort // and RTCP (a=rtcp, else the next port)
	mux    bool           // a=rtcp-mux: RTCP on the RTP port
	savp   bool           // RTP/SAVP
	crypto []sdes.Crypto  // usable a=crypto lines in the phone's order
	held   bool           // sendonly, recvonly, inactive or no address: the call is on hold
}

// parseAudio reads the first audio m= line of a phone's SDP.
func parseAudio(body []byte) (*audio, error) {
	bad := func(format string, a ...any) (*audio, error) {
		return nil, fmt.Errorf("%s: %w", fmt.Sprintf(format, a...), ErrBadSDP)
	}
	if len(body) == 0 {
		return bad("empty body")
	}
	if len(body) > maxSDPSize {
		return bad("%d bytes, more than %d", len(body), maxSDPSize)
	}
	a := &audio{index: -1}
	if err := a.sd.UnmarshalString(string(body)); err != nil {
		return bad("unreadable: %v", err)
	}
	for i, m := range a.sd.MediaDescriptions {
		if m.MediaName.Media == "audio" {
			a.index = i
			break
		}
	}
	if a.index < 0 {
		return bad("no audio stream")
	}
	m := a.sd.MediaDescriptions[a.index]
	proto := strings.Join(m.MediaName.Protos, "/")
	switch proto {
	case "RTP/AVP":
	case "RTP/SAVP":
		a.savp = true
	default:
		return bad("audio over %q, not RTP/AVP or RTP/SAVP", proto)
	}
	port := m.MediaName.Port.Value
	if port < 0 || port > 65535 {
		return bad("audio port %d", port)
	}
	ci := m.ConnectionInformation
	if ci == nil {
		ci = a.sd.ConnectionInformation
	}
	if ci == nil || ci.Address == nil {
		return bad("no connection address (c=)")
	}
	host, _, _ := strings.Cut(ci.Address.Address, "/")
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return bad("connection address %q is not an IP address", ci.Address.Address)
	}
	ip = ip.Unmap()
	a.rtp = netip.AddrPortFrom(ip, uint16(port))
	a.held = ip.IsUnspecified() || port == 0
	for _, at := range append(a.sd.Attributes, m.Attributes...) {
		switch at.Key {
		case "sendonly", "recvonly", "inactive":
			a.held = true
		}
	}
	rtcpPort := port + 1
	for _, at := range m.Attributes {
		switch at.Key {
		case "crypto":
			c, ok, err := sdes.Parse(at.Value)
			if err != nil {
				return bad("%v", err)
			}
			if ok && len(a.crypto) < sdes.MaxLines {
				a.crypto = append(a.crypto, c)
			}
		case "rtcp-mux":
			a.mux = true
		case "rtcp":
			f := strings.Fields(at.Value)
			if len(f) == 0 {
				return bad("empty a=rtcp")
			}
			p, err := strconv.Atoi(f[0])
			if err != nil || p < 1 || p > 65535 {
				return bad("a=rtcp:%q", at.Value)
			}
			rtcpPort = p
		}
	}
	if port == 0 || port == 65535 {
		rtcpPort = port
	}
	a.rtcp = netip.AddrPortFrom(ip, uint16(rtcpPort))
	if a.mux {
		a.rtcp = a.rtp
	}
	return a, nil
}

// HasCrypto reports whether a body offers SRTP: RTP/SAVP or an a=crypto line on its audio.
// Unreadable bodies have none.
func HasCrypto(body []byte) bool {
	a, err := parseAudio(body)
	return err == nil && (a.savp || len(a.crypto) > 0)
}

// rewrite makes the body one leg receives: the Pi's address and port, RTP/SAVP with keys for
// an SRTP leg or RTP/AVP without any for a plain one. Everything else (codecs, telephone-event,
// direction) passes as the other phone wrote it.
func (a *audio) rewrite(ip netip.Addr, port int, keys []sdes.Crypto) ([]byte, error) {
	sd := a.sd // a copy of the top level; the m= line is rebuilt below
	typ := "IP4"
	if ip.Is6() {
		typ = "IP6"
	}
	conn := &sdp.ConnectionInformation{NetworkType: "IN", AddressType: typ, Address: &sdp.Address{Address: ip.String()}}
	sd.Origin.AddressType, sd.Origin.UnicastAddress = typ, ip.String()
	sd.Origin.SessionVersion++
	if sd.ConnectionInformation != nil {
		sd.ConnectionInformation = conn
	}
	mds := make([]*sdp.MediaDescription, len(sd.MediaDescriptions))
	for i, md := range sd.MediaDescriptions {
		c := *md
		if i == a.index {
			c.MediaName.Port = sdp.RangedPort{Value: port}
			c.MediaName.Protos = []string{"RTP", "AVP"}
			if len(keys) > 0 {
				c.MediaName.Protos = []string{"RTP", "SAVP"}
			}
			c.ConnectionInformation = conn
			var attrs []sdp.Attribute
			for _, at := range md.Attributes {
				switch at.Key {
				case "crypto", "rtcp", "rtcp-mux", "fingerprint", "setup", "ice-ufrag", "ice-pwd", "candidate", "end-of-candidates":
					continue // ours replace them, or the bridge does not do them
				}
				attrs = append(attrs, at)
			}
			for _, k := range keys {
				attrs = append(attrs, sdp.Attribute{Key: "crypto", Value: k.String()})
			}
			c.Attributes = attrs
		} else {
			c.MediaName.Port = sdp.RangedPort{Value: 0} // the bridge carries audio only: refuse the rest
			if c.ConnectionInformation != nil {
				c.ConnectionInformation = conn
			}
		}
		mds[i] = &c
	}
	sd.MediaDescriptions = mds
	out, err := sd.Marshal()
	if err != nil {
		return nil, fmt.Errorf("write SDP: %w", err)
	}
	return out, nil
}
