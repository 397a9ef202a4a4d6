package e2e

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deskphone/deskphone/firmware/media/g711"
)

// A packet capture on the loopback interface (tcpdump), to check what an eavesdropper on the LAN
// would read: SIP in the clear, or G.711 audio that plays back as the tone.

type capture struct {
	path string
}

// capPacket is one captured IPv4 UDP or TCP packet.
type capPacket struct {
	udp              bool
	srcPort, dstPort int
	payload          []byte
}

// startCapture records loopback traffic matching filter (tcpdump syntax) until the test ends.
func startCapture(t *testing.T, filter string) *capture {
	t.Helper()
	requireTool(t, "tcpdump", "tcpdump")
	c := &capture{path: filepath.Join(t.TempDir(), "lo.pcap")}
	out := &syncBuffer{}
	cmd := exec.Command("tcpdump", "-i", "lo", "-n", "-U", "-s", "2048", "-w", c.path, filter)
	cmd.Stdout, cmd.Stderr = out, out
	startPeer(t, cmd)
	waitFor(t, "tcpdump to listen", 10*time.Second, func() bool {
		if strings.Contains(out.String(), "Operation not permitted") || strings.Contains(out.String(), "syntax error") {
			t.Fatalf("tcpdump: %s", out.String())
		}
		return strings.Contains(out.String(), "listening on")
	})
	return c
}

// packets parses what was captured so far (pcap, Ethernet framing as Linux gives loopback).
func (c *capture) packets(t *testing.T) []capPacket {
	t.Helper()
	time.Sleep(200 * time.Millisecond) // the last packets reach the file
	b, err := os.ReadFile(c.path)
	if err != nil || len(b) < 24 {
		t.Fatalf("capture file: %v (%d bytes)", err, len(b))
	}
	if binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 || binary.LittleEndian.Uint32(b[20:]) != 1 {
		t.Fatalf("capture file is not little-endian pcap with Ethernet framing")
	}
	var out []capPacket
	for off := 24; off+16 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off+8:]))
		if off+16+n > len(b) {
			break // being written
		}
		frame := b[off+16 : off+16+n]
		off += 16 + n
		if len(frame) < 14+20 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
			continue
		}
		ip := frame[14:]
		ihl := int(ip[0]&0x0f) * 4
		total := min(int(binary.BigEndian.Uint16(ip[2:])), len(ip))
		if ihl < 20 || total < ihl+8 {
			continue
		}
		l4 := ip[ihl:total]
		p := capPacket{srcPort: int(binary.BigEndian.Uint16(l4)), dstPort: int(binary.BigEndian.Uint16(l4[2:]))}
		switch ip[9] {
		case 17:
			p.udp, p.payload = true, l4[8:]
		case 6:
			doff := int(l4[12]>>4) * 4
			if doff < 20 || doff > len(l4) {
				continue
			}
			p.payload = l4[doff:]
		default:
			continue
		}
		out = append(out, p)
	}
	return out
}

// requireNoPlainSIP fails if any captured TCP payload to or from port reads as SIP.
func requireNoPlainSIP(t *testing.T, pkts []capPacket, port int) {
	t.Helper()
	n := 0
	for _, p := range pkts {
		if p.udp || (p.srcPort != port && p.dstPort != port) || len(p.payload) == 0 {
			continue
		}
		n++
		for _, s := range []string{"SIP/2.0", "REGISTER ", "INVITE ", "a=crypto", "Authorization"} {
			if bytes.Contains(p.payload, []byte(s)) {
				t.Fatalf("plain SIP on the wire (port %d→%d contains %q):\n%.300s", p.srcPort, p.dstPort, s, p.payload)
			}
		}
	}
	if n < 4 {
		t.Fatalf("only %d TCP segments with data captured on port %d: the capture missed the signalling", n, port)
	}
}

// wireAudio decodes the RTP payloads sent to or from a UDP port in [lo, hi] as G.711 µ-law
// (PCMU; the encrypted payloads decode to noise), one stream per SSRC, and returns the strongest
// share of one frequency among the streams, with that frequency, and the number of RTP packets.
func wireAudio(pkts []capPacket, lo, hi int) (share, freq float64, n int) {
	streams := map[uint32][]int16{}
	in := func(port int) bool { return port >= lo && port <= hi }
	for _, p := range pkts {
		if !p.udp || !(in(p.srcPort) || in(p.dstPort)) || len(p.payload) < 12+160 || p.payload[0]>>6 != 2 {
			continue
		}
		n++
		pcm := make([]int16, 160)
		g711.DecodeULawFrame(pcm, p.payload[12:12+160])
		ssrc := binary.BigEndian.Uint32(p.payload[8:])
		streams[ssrc] = append(streams[ssrc], pcm...)
	}
	for _, x := range streams {
		f, s := dominantShare(x)
		if s > share {
			share, freq = s, f
		}
	}
	return share, freq, n
}

// dominantShare finds the strongest 10 Hz bin between 200 and 3400 Hz and its share of the power.
func dominantShare(x []int16) (freq, share float64) {
	if len(x) > 16000 {
		x = x[:16000]
	}
	var total float64
	for _, v := range x {
		total += float64(v) * float64(v)
	}
	if total == 0 {
		return 0, 0
	}
	best := 0.0
	for f := 200.0; f <= 3400; f += 10 {
		w := 2 * math.Cos(2*math.Pi*f/8000)
		var s1, s2 float64
		for _, v := range x {
			s1, s2 = float64(v)+w*s1-s2, s1
		}
		p := (s1*s1 + s2*s2 - w*s1*s2) * 2 / float64(len(x))
		if p > best {
			best, freq = p, f
		}
	}
	return freq, best / total
}
