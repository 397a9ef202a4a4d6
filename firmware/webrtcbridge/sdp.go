package webrtcbridge

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pion/sdp/v3"
)

// maxSDPSize bounds an SDP body we parse; a call's SDP is a few hundred bytes, a browser's a few KB.
const maxSDPSize = 32 << 10

// G.711's static payload types (RFC 3551 §6).
const (
	ptPCMU = 0
	ptPCMA = 8
)

func codecName(pt uint8) string {
	if pt == ptPCMA {
		return "PCMA"
	}
	return "PCMU"
}

// audioDesc is what the bridge needs from an audio m= line, from either side.
type audioDesc struct {
	addr   netip.AddrPort // plain side: where to send RTP (unspecified address when on hold)
	codecs []uint8        // PCMU/PCMA in the sender's order of preference
	dtmfPT int            // telephone-event/8000 payload type, -1 if none
	dir    string         // sendrecv, sendonly, recvonly or inactive
	secure bool           // UDP/TLS/RTP/SAVPF with a fingerprint: a WebRTC description
}

// parseAudio reads the first audio m= line of an SDP body.
func parseAudio(body []byte) (audioDesc, error) {
	if len(body) == 0 {
		return audioDesc{}, errors.New("empty SDP body")
	}
	if len(body) > maxSDPSize {
		return audioDesc{}, fmt.Errorf("SDP body of %d bytes is larger than %d", len(body), maxSDPSize)
	}
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return audioDesc{}, fmt.Errorf("unreadable SDP: %w", err)
	}
	d := audioDesc{dtmfPT: -1, dir: direction(sd.Attributes, "sendrecv")}
	_, sessionFP := sd.Attribute("fingerprint")
	for _, m := range sd.MediaDescriptions {
		if m.MediaName.Media != "audio" {
			continue
		}
		if m.MediaName.Port.Value == 0 {
			return audioDesc{}, errors.New("the audio stream is refused (port 0)")
		}
		d.dir = direction(m.Attributes, d.dir)
		_, mediaFP := m.Attribute("fingerprint")
		d.secure = strings.Join(m.MediaName.Protos, "/") == "UDP/TLS/RTP/SAVPF" && (sessionFP || mediaFP)
		conn := m.ConnectionInformation
		if conn == nil {
			conn = sd.ConnectionInformation
		}
		if conn != nil && conn.Address != nil {
			host, _, _ := strings.Cut(conn.Address.Address, "/")
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return audioDesc{}, fmt.Errorf("connection address %q is not an IP address", conn.Address.Address)
			}
			d.addr = netip.AddrPortFrom(ip.Unmap(), uint16(m.MediaName.Port.Value))
		}
		rtpmap := map[int]string{}
		for _, a := range m.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			ptText, enc, ok := strings.Cut(a.Value, " ")
			pt, err := strconv.Atoi(ptText)
			if ok && err == nil {
				rtpmap[pt] = strings.ToLower(enc)
			}
		}
		for _, f := range m.MediaName.Formats {
			pt, err := strconv.Atoi(f)
			if err != nil || pt < 0 || pt > 127 {
				continue
			}
			enc, mapped := rtpmap[pt]
			switch {
			case (pt == ptPCMU || pt == ptPCMA) && (!mapped || strings.HasPrefix(enc, "pcm")):
				d.codecs = append(d.codecs, uint8(pt))
			case enc == "telephone-event/8000" && d.dtmfPT < 0:
				d.dtmfPT = pt
			}
		}
		if len(d.codecs) == 0 {
			return audioDesc{}, errors.New("no common codec: the bridge relays only PCMU and PCMA")
		}
		return d, nil
	}
	return audioDesc{}, errors.New("no audio stream in the SDP")
}

func direction(attrs []sdp.Attribute, def string) string {
	for _, a := range attrs {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			return a.Key
		}
	}
	return def
}

// answerDirection is the direction an answer takes to an offer's (RFC 3264 §6.1).
func answerDirection(offer string) string {
	switch offer {
	case "sendonly":
		return "recvonly"
	case "recvonly":
		return "sendonly"
	case "inactive":
		return "inactive"
	}
	return "sendrecv"
}

// plainDesc builds the SDP the bridge sends to the plain side.
func plainDesc(local netip.AddrPort, sessionID uint64, version uint64, codecs []uint8, dtmfPT int, dir string) []byte {
	ip := local.Addr().String()
	family := "IP4"
	if local.Addr().Is6() {
		family = "IP6"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=deskphone %d %d IN %s %s\r\ns=deskphone\r\nc=IN %s %s\r\nt=0 0\r\n",
		sessionID, version, family, ip, family, ip)
	fmt.Fprintf(&b, "m=audio %d RTP/AVP", local.Port())
	for _, c := range codecs {
		fmt.Fprintf(&b, " %d", c)
	}
	if dtmfPT >= 0 {
		fmt.Fprintf(&b, " %d", dtmfPT)
	}
	b.WriteString("\r\n")
	for _, c := range codecs {
		fmt.Fprintf(&b, "a=rtpmap:%d %s/8000\r\n", c, codecName(c))
	}
	if dtmfPT >= 0 {
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", dtmfPT, dtmfPT)
	}
	fmt.Fprintf(&b, "a=ptime:20\r\na=%s\r\n", dir)
	return []byte(b.String())
}

// sessionID makes an o= session id from the clock (RFC 4566 §5.2 suggests an NTP timestamp).
func sessionID(now time.Time) uint64 { return uint64(now.UnixNano()) / 1000 }
