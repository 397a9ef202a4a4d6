package media

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/deskphone/deskphone/firmware/sdes"
	"github.com/pion/sdp/v3"
)

// maxSDPSize bounds an SDP body we parse. A phone call's SDP is a few hundred bytes.
const maxSDPSize = 16 << 10

// direction is an RFC 3264 §5.1 media direction.
type direction uint8

const (
	sendrecv direction = iota
	sendonly
	recvonly
	inactive
)

func (d direction) String() string {
	return [...]string{"sendrecv", "sendonly", "recvonly", "inactive"}[d]
}

func (d direction) sends() bool    { return d == sendrecv || d == sendonly }
func (d direction) receives() bool { return d == sendrecv || d == recvonly }

func makeDirection(send, recv bool) direction {
	switch {
	case send && recv:
		return sendrecv
	case send:
		return sendonly
	case recv:
		return recvonly
	}
	return inactive
}

// codec is an audio codec we can speak.
type codec struct {
	name string
	pt   uint8 // RFC 3551 static payload type
}

// supportedCodecs are the RFC 3551 §6 static assignments we implement.
func codecByName(name string) (codec, bool) {
	switch strings.ToUpper(name) {
	case "PCMU":
		return codec{"PCMU", 0}, true
	case "PCMA":
		return codec{"PCMA", 8}, true
	}
	return codec{}, false
}

func codecByPT(pt uint8) (codec, bool) {
	switch pt {
	case 0:
		return codec{"PCMU", 0}, true
	case 8:
		return codec{"PCMA", 8}, true
	}
	return codec{}, false
}

// remoteAudio is what we take from the remote's audio m= line.
type remoteAudio struct {
	index    int             // position of the m= line
	mlines   []sdp.MediaName // all m= lines, to reject the others in an answer
	rtp      netip.AddrPort
	rtcp     netip.AddrPort
	codecs   []codec // supported codecs in the remote's order
	dtmfPT   int     // telephone-event/8000 payload type, -1 if none
	dir      direction
	hold     bool // c=0.0.0.0 (RFC 2543 hold) or port 0
	version  uint64
	originID uint64
	savp     bool         // RTP/SAVP: the remote requires SRTP
	crypto   []cryptoAttr // usable a=crypto lines in the remote's order (RFC 4568)
}

// parseSDP checks raw input before pion sees it and returns the parsed description.
func parseSDP(b []byte) (*sdp.SessionDescription, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("empty body: %w", ErrBadSDP)
	}
	if len(b) > maxSDPSize {
		return nil, fmt.Errorf("%d bytes, more than %d: %w", len(b), maxSDPSize, ErrBadSDP)
	}
	for i, c := range b {
		if (c < 0x20 && c != '\r' && c != '\n' && c != '\t') || c == 0x7f {
			return nil, fmt.Errorf("control character %#02x at byte %d: %w", c, i, ErrBadSDP)
		}
	}
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	return &sd, nil
}

// extractAudio finds the first usable RTP/AVP or RTP/SAVP audio stream of a description (RFC 3264 §5).
// It fails on absurd values (payload types beyond 127, unparseable addresses, missing c=).
func extractAudio(sd *sdp.SessionDescription) (remoteAudio, error) {
	ra := remoteAudio{index: -1, dtmfPT: -1, version: sd.Origin.SessionVersion, originID: sd.Origin.SessionID}
	if len(sd.MediaDescriptions) == 0 {
		return ra, fmt.Errorf("no m= line: %w", ErrBadSDP)
	}
	if len(sd.MediaDescriptions) > 16 {
		return ra, fmt.Errorf("%d m= lines: %w", len(sd.MediaDescriptions), ErrBadSDP)
	}
	sessionDir, err := directionOf(sd.Attributes, sendrecv)
	if err != nil {
		return ra, err
	}
	for i, md := range sd.MediaDescriptions {
		ra.mlines = append(ra.mlines, md.MediaName)
		if ra.index >= 0 || md.MediaName.Media != "audio" || len(md.MediaName.Protos) != 2 ||
			md.MediaName.Protos[0] != "RTP" || (md.MediaName.Protos[1] != "AVP" && md.MediaName.Protos[1] != "SAVP") {
			continue
		}
		ra.savp = md.MediaName.Protos[1] == "SAVP"
		for _, a := range md.Attributes {
			if a.Key != "crypto" {
				continue
			}
			c, ok, err := parseCrypto(a.Value)
			if err != nil {
				return ra, err
			}
			if ok && len(ra.crypto) < sdes.MaxLines {
				ra.crypto = append(ra.crypto, c)
			}
		}
		port := md.MediaName.Port.Value
		if port < 0 || port > 65535 {
			return ra, fmt.Errorf("audio port %d: %w", port, ErrBadSDP)
		}
		ci := md.ConnectionInformation
		if ci == nil {
			ci = sd.ConnectionInformation
		}
		if ci == nil || ci.Address == nil {
			return ra, fmt.Errorf("audio stream without connection address (c=): %w", ErrBadSDP)
		}
		if ci.NetworkType != "IN" || (ci.AddressType != "IP4" && ci.AddressType != "IP6") {
			return ra, fmt.Errorf("connection type %q %q: %w", ci.NetworkType, ci.AddressType, ErrBadSDP)
		}
		addr, err := netip.ParseAddr(ci.Address.Address)
		if err != nil {
			return ra, fmt.Errorf("connection address %q is not an IP address: %w", ci.Address.Address, ErrBadSDP)
		}
		addr = addr.Unmap()
		if addr.Is4() != (ci.AddressType == "IP4") {
			return ra, fmt.Errorf("connection address %s does not match %s: %w", addr, ci.AddressType, ErrBadSDP)
		}
		pts := map[uint8]bool{}
		for _, f := range md.MediaName.Formats {
			pt, err := strconv.ParseUint(f, 10, 8)
			if err != nil || pt > 127 {
				return ra, fmt.Errorf("payload type %q out of range 0-127 (RFC 3551): %w", f, ErrBadSDP)
			}
			pts[uint8(pt)] = true
		}
		names := map[uint8]string{0: "PCMU", 8: "PCMA"}
		for _, a := range md.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			pt, name, rate, err := parseRTPMap(a.Value)
			if err != nil {
				return ra, err
			}
			if !pts[pt] {
				continue
			}
			switch {
			case strings.EqualFold(name, "telephone-event") && rate == SampleRate:
				if ra.dtmfPT < 0 {
					ra.dtmfPT = int(pt)
				}
				delete(names, pt)
			case rate == SampleRate:
				names[pt] = name
			default:
				names[pt] = ""
			}
		}
		for _, f := range md.MediaName.Formats {
			pt, _ := strconv.ParseUint(f, 10, 8)
			c, ok := codecByName(names[uint8(pt)])
			if ok && (c.pt == uint8(pt) || pt >= 96) {
				c.pt = uint8(pt)
				ra.codecs = append(ra.codecs, c)
			}
		}
		dir, err := directionOf(md.Attributes, sessionDir)
		if err != nil {
			return ra, err
		}
		ra.dir = dir
		ra.rtp = netip.AddrPortFrom(addr, uint16(port))
		ra.rtcp = netip.AddrPortFrom(addr, uint16(port+1))
		if v, ok := md.Attribute("rtcp"); ok { // RFC 3605 §2.1
			f := strings.Fields(v)
			if len(f) == 0 {
				return ra, fmt.Errorf("empty a=rtcp: %w", ErrBadSDP)
			}
			p, err := strconv.ParseUint(f[0], 10, 16)
			if err != nil || p == 0 {
				return ra, fmt.Errorf("a=rtcp:%q: %w", v, ErrBadSDP)
			}
			rtcpAddr := addr
			if len(f) == 4 {
				if a, err := netip.ParseAddr(f[3]); err == nil {
					rtcpAddr = a.Unmap()
				}
			}
			ra.rtcp = netip.AddrPortFrom(rtcpAddr, uint16(p))
		}
		ra.hold = port == 0 || addr.IsUnspecified()
		ra.index = i
	}
	if ra.index < 0 {
		return ra, fmt.Errorf("no RTP/AVP or RTP/SAVP audio stream: %w", ErrNoCommonCodec)
	}
	return ra, nil
}

// parseRTPMap parses "a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>]"
// (RFC 4566 §6).
func parseRTPMap(v string) (pt uint8, name string, rate int, err error) {
	bad := func() (uint8, string, int, error) {
		return 0, "", 0, fmt.Errorf("a=rtpmap:%q: %w", v, ErrBadSDP)
	}
	ptStr, rest, ok := strings.Cut(v, " ")
	if !ok {
		return bad()
	}
	p, err := strconv.ParseUint(ptStr, 10, 8)
	if err != nil || p > 127 {
		return bad()
	}
	parts := strings.Split(strings.TrimSpace(rest), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		return bad()
	}
	r, err := strconv.Atoi(parts[1])
	if err != nil || r <= 0 {
		return bad()
	}
	return uint8(p), parts[0], r, nil
}

func directionOf(attrs []sdp.Attribute, def direction) (direction, error) {
	d, n := def, 0
	for _, a := range attrs {
		switch a.Key {
		case "sendrecv":
			d, n = sendrecv, n+1
		case "sendonly":
			d, n = sendonly, n+1
		case "recvonly":
			d, n = recvonly, n+1
		case "inactive":
			d, n = inactive, n+1
		}
	}
	if n > 1 {
		return d, fmt.Errorf("%d direction attributes on one level: %w", n, ErrBadSDP)
	}
	return d, nil
}

// localDesc is what we put into our own SDP.
type localDesc struct {
	sessionID, version uint64
	ip                 netip.Addr
	port               int
	codecs             []codec
	dtmfPT             int // -1 = none
	dir                direction
	savp               bool            // RTP/SAVP rather than RTP/AVP
	crypto             []cryptoAttr    // a=crypto lines (RFC 4568)
	remote             []sdp.MediaName // in an answer: every offered m= line, audioIndex accepted
	audioIndex         int
}

// build renders the description (RFC 4566; RFC 3264 §6 for the answer's m= lines).
func (l localDesc) build() ([]byte, error) {
	addrType := "IP4"
	if l.ip.Is6() {
		addrType = "IP6"
	}
	sd := sdp.SessionDescription{
		Origin: sdp.Origin{Username: "deskphone", SessionID: l.sessionID, SessionVersion: l.version,
			NetworkType: "IN", AddressType: addrType, UnicastAddress: l.ip.String()},
		SessionName: "deskphone",
		ConnectionInformation: &sdp.ConnectionInformation{NetworkType: "IN", AddressType: addrType,
			Address: &sdp.Address{Address: l.ip.String()}},
		TimeDescriptions: []sdp.TimeDescription{{}},
	}
	profile := "AVP"
	if l.savp {
		profile = "SAVP"
	}
	audio := &sdp.MediaDescription{MediaName: sdp.MediaName{Media: "audio", Port: sdp.RangedPort{Value: l.port},
		Protos: []string{"RTP", profile}}}
	for _, c := range l.codecs {
		audio.MediaName.Formats = append(audio.MediaName.Formats, strconv.Itoa(int(c.pt)))
	}
	for _, c := range l.codecs {
		audio.Attributes = append(audio.Attributes, sdp.NewAttribute("rtpmap", fmt.Sprintf("%d %s/%d", c.pt, c.name, SampleRate)))
	}
	if l.dtmfPT >= 0 {
		audio.MediaName.Formats = append(audio.MediaName.Formats, strconv.Itoa(l.dtmfPT))
		audio.Attributes = append(audio.Attributes,
			sdp.NewAttribute("rtpmap", fmt.Sprintf("%d telephone-event/%d", l.dtmfPT, SampleRate)),
			sdp.NewAttribute("fmtp", fmt.Sprintf("%d 0-16", l.dtmfPT)))
	}
	audio.Attributes = append(audio.Attributes, sdp.NewAttribute("ptime", "20"), sdp.NewPropertyAttribute(l.dir.String()))
	for _, c := range l.crypto {
		audio.Attributes = append(audio.Attributes, sdp.NewAttribute("crypto", c.String()))
	}
	if l.remote == nil {
		sd.MediaDescriptions = []*sdp.MediaDescription{audio}
	} else {
		for i, mn := range l.remote {
			if i == l.audioIndex {
				sd.MediaDescriptions = append(sd.MediaDescriptions, audio)
				continue
			}
			// Refused stream: same media and transport, port 0 (RFC 3264 §6).
			rej := sdp.MediaName{Media: mn.Media, Protos: mn.Protos, Formats: mn.Formats}
			if len(rej.Formats) > 1 {
				rej.Formats = rej.Formats[:1]
			}
			sd.MediaDescriptions = append(sd.MediaDescriptions, &sdp.MediaDescription{MediaName: rej})
		}
	}
	b, err := sd.Marshal()
	if err != nil {
		return nil, fmt.Errorf("build SDP: %w", err)
	}
	return b, nil
}

// sameBody reports whether two of our SDPs differ only in o= version (RFC 3264 §8: the version
// changes only when the description does).
func sameBody(a, b []byte) bool {
	strip := func(x []byte) []byte {
		if i := bytes.Index(x, []byte("\r\ns=")); i >= 0 {
			return x[i:]
		}
		return x
	}
	return a != nil && b != nil && bytes.Equal(strip(a), strip(b))
}
