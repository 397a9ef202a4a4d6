package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// RTCP sender and receiver reports (RFC 3550 §6.4) with an SDES CNAME (§6.5), parsed
// defensively: every length is checked against the datagram, nothing is allocated from a length
// field, and report blocks are read only within their packet.

const (
	rtcpSR   = 200
	rtcpRR   = 201
	rtcpSDES = 202
	rtcpBYE  = 203

	rtcpInterval = 5 * time.Second // RFC 3550 §6.2 minimum interval
	maxCNAME     = 255
)

var errRTCP = errors.New("malformed RTCP")

// ntpEpochOffset is the number of seconds from 1900 (NTP) to 1970 (Unix).
const ntpEpochOffset = 2208988800

// ntpTime converts t to the 64-bit NTP format.
func ntpTime(t time.Time) uint64 {
	sec := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return sec<<32 | frac
}

// reportBlock is one RFC 3550 §6.4.1 reception report.
type reportBlock struct {
	ssrc         uint32
	fractionLost uint8
	totalLost    int32 // 24-bit signed
	highestSeq   uint32
	jitter       uint32
	lsr, dlsr    uint32
}

func appendReportBlock(b []byte, r reportBlock) []byte {
	b = binary.BigEndian.AppendUint32(b, r.ssrc)
	lost := uint32(r.totalLost) & 0xFFFFFF
	b = binary.BigEndian.AppendUint32(b, uint32(r.fractionLost)<<24|lost)
	b = binary.BigEndian.AppendUint32(b, r.highestSeq)
	b = binary.BigEndian.AppendUint32(b, r.jitter)
	b = binary.BigEndian.AppendUint32(b, r.lsr)
	return binary.BigEndian.AppendUint32(b, r.dlsr)
}

func parseReportBlock(b []byte) reportBlock {
	lost := int32(binary.BigEndian.Uint32(b[4:]) << 8 >> 8)
	if lost&0x800000 != 0 {
		lost |= ^0xFFFFFF
	}
	return reportBlock{
		ssrc:         binary.BigEndian.Uint32(b[0:]),
		fractionLost: b[4],
		totalLost:    lost,
		highestSeq:   binary.BigEndian.Uint32(b[8:]),
		jitter:       binary.BigEndian.Uint32(b[12:]),
		lsr:          binary.BigEndian.Uint32(b[16:]),
		dlsr:         binary.BigEndian.Uint32(b[20:]),
	}
}

// senderInfo is the SR sender information (RFC 3550 §6.4.1).
type senderInfo struct {
	ntp     uint64
	rtpTS   uint32
	packets uint32
	octets  uint32
}

// buildRTCP returns a compound packet: SR (if we sent since the last report) or RR, with at
// most one report block, then SDES CNAME.
func buildRTCP(b []byte, ssrc uint32, sender *senderInfo, block *reportBlock, cname string) []byte {
	rc := 0
	if block != nil {
		rc = 1
	}
	start := len(b)
	if sender != nil {
		b = append(b, 0x80|byte(rc), rtcpSR, 0, 0)
		b = binary.BigEndian.AppendUint32(b, ssrc)
		b = binary.BigEndian.AppendUint64(b, sender.ntp)
		b = binary.BigEndian.AppendUint32(b, sender.rtpTS)
		b = binary.BigEndian.AppendUint32(b, sender.packets)
		b = binary.BigEndian.AppendUint32(b, sender.octets)
	} else {
		b = append(b, 0x80|byte(rc), rtcpRR, 0, 0)
		b = binary.BigEndian.AppendUint32(b, ssrc)
	}
	if block != nil {
		b = appendReportBlock(b, *block)
	}
	binary.BigEndian.PutUint16(b[start+2:], uint16((len(b)-start)/4-1))

	if len(cname) > maxCNAME {
		cname = cname[:maxCNAME]
	}
	start = len(b)
	b = append(b, 0x81, rtcpSDES, 0, 0)
	b = binary.BigEndian.AppendUint32(b, ssrc)
	b = append(b, 1, byte(len(cname)))
	b = append(b, cname...)
	b = append(b, 0) // end of item list
	for (len(b)-start)%4 != 0 {
		b = append(b, 0)
	}
	binary.BigEndian.PutUint16(b[start+2:], uint16((len(b)-start)/4-1))
	return b
}

// rtcpInfo is what we take from a received compound packet.
type rtcpInfo struct {
	senderSSRC uint32
	hasSR      bool
	srNTP      uint64 // for LSR
	blocks     [4]reportBlock
	nBlocks    int
	bye        bool
}

// parseRTCP validates a compound RTCP packet (RFC 3550 §6.1) and extracts SR/RR data. Unknown
// packet types are skipped by their length.
func parseRTCP(b []byte) (rtcpInfo, error) {
	var info rtcpInfo
	if len(b) < 8 {
		return info, fmt.Errorf("%w: %d bytes", errRTCP, len(b))
	}
	for first := true; len(b) > 0; first = false {
		if len(b) < 4 {
			return info, fmt.Errorf("%w: %d trailing bytes", errRTCP, len(b))
		}
		if b[0]>>6 != 2 {
			return info, fmt.Errorf("%w: version %d", errRTCP, b[0]>>6)
		}
		count := int(b[0] & 0x1F)
		pt := b[1]
		n := (int(binary.BigEndian.Uint16(b[2:])) + 1) * 4
		if n > len(b) {
			return info, fmt.Errorf("%w: packet length %d beyond datagram (%d left)", errRTCP, n, len(b))
		}
		p := b[:n]
		if p[0]&0x20 != 0 { // padding: last byte counts padding octets, within the packet
			pad := int(p[n-1])
			if pad == 0 || pad > n-4 || len(b) != n {
				return info, fmt.Errorf("%w: bad padding", errRTCP)
			}
			p = p[:n-pad]
		}
		// RFC 3550 §6.1 wants SR or RR first, but reduced-size RTCP (RFC 5506) and baresip's
		// BYE+SDES at hang-up do not; accept any order, check every length.
		if first && (pt < 192 || pt > 223) {
			return info, fmt.Errorf("%w: packet type %d is not RTCP", errRTCP, pt)
		}
		switch pt {
		case rtcpSR, rtcpRR:
			hdr := 8
			if pt == rtcpSR {
				hdr = 28
			}
			if len(p) < hdr+24*count {
				return info, fmt.Errorf("%w: %d report blocks in %d bytes", errRTCP, count, len(p))
			}
			info.senderSSRC = binary.BigEndian.Uint32(p[4:])
			if pt == rtcpSR {
				info.hasSR = true
				info.srNTP = binary.BigEndian.Uint64(p[8:])
			}
			for i := 0; i < count && info.nBlocks < len(info.blocks); i++ {
				info.blocks[info.nBlocks] = parseReportBlock(p[hdr+24*i:])
				info.nBlocks++
			}
		case rtcpBYE:
			if len(p) < 4+4*count {
				return info, fmt.Errorf("%w: BYE with %d sources in %d bytes", errRTCP, count, len(p))
			}
			if rest := p[4+4*count:]; len(rest) > 0 && int(rest[0]) > len(rest)-1 {
				return info, fmt.Errorf("%w: BYE reason longer than packet", errRTCP)
			}
			info.bye = true
		}
		b = b[n:]
	}
	return info, nil
}
