package media

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// RFC 4733 telephone events (DTMF digits carried in RTP).

const (
	dtmfEventFrames = 5  // 100 ms tone per digit
	dtmfGapFrames   = 3  // 60 ms between digits
	dtmfEndRepeats  = 3  // the end packet is sent three times (RFC 4733 §2.5.1.4)
	dtmfVolume      = 10 // -10 dBm0 (RFC 4733 §2.3.4)
	dtmfMaxQueued   = 64
)

// dtmfEvent maps a digit to its RFC 4733 §3.2 event code.
func dtmfEvent(r rune) (uint8, bool) {
	switch {
	case r >= '0' && r <= '9':
		return uint8(r - '0'), true
	case r == '*':
		return 10, true
	case r == '#':
		return 11, true
	case r >= 'A' && r <= 'D':
		return uint8(r-'A') + 12, true
	case r >= 'a' && r <= 'd':
		return uint8(r-'a') + 12, true
	}
	return 0, false
}

// dtmfDigit maps an event code 0–15 back to its digit.
func dtmfDigit(ev uint8) (rune, bool) {
	const digits = "0123456789*#ABCD"
	if int(ev) < len(digits) {
		return rune(digits[ev]), true
	}
	return 0, false
}

// parseDigits validates a digit string for SendDTMF.
func parseDigits(s string) ([]uint8, error) {
	var evs []uint8
	for _, r := range s {
		ev, ok := dtmfEvent(r)
		if !ok {
			return nil, fmt.Errorf("%q is not a DTMF digit (0-9 * # A-D)", r)
		}
		evs = append(evs, ev)
	}
	if len(evs) == 0 {
		return nil, fmt.Errorf("no digits to send")
	}
	return evs, nil
}

// dtmfPayload writes the 4-byte event payload (RFC 4733 §2.3).
func dtmfPayload(b []byte, ev uint8, end bool, duration uint16) []byte {
	b = b[:4]
	b[0] = ev
	b[1] = dtmfVolume
	if end {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], duration)
	return b
}

// dtmfSender spaces queued digits into event packets, one per 20 ms audio tick.
type dtmfSender struct {
	queue   []uint8
	active  bool
	ev      uint8
	ts      uint32 // RTP timestamp of the event's start
	frames  int    // event packets sent for the current digit
	gap     int    // frames of audio still to send before the next digit
	started bool   // first packet sent (marker bit)
}

func (d *dtmfSender) enqueue(evs []uint8) error {
	if len(d.queue)+len(evs) > dtmfMaxQueued {
		return fmt.Errorf("too many DTMF digits queued (max %d)", dtmfMaxQueued)
	}
	d.queue = append(d.queue, evs...)
	return nil
}

// dtmfPacket describes one event packet to send this tick.
type dtmfPacket struct {
	ev       uint8
	ts       uint32
	duration uint16
	end      bool
	marker   bool
	repeats  int
}

// tick is called once per 20 ms with the RTP timestamp audio would use. It returns the event
// packet to send instead of audio, or ok=false to send audio as usual.
func (d *dtmfSender) tick(ts uint32) (p dtmfPacket, ok bool) {
	if d.gap > 0 {
		d.gap--
		return p, false
	}
	if !d.active {
		if len(d.queue) == 0 {
			return p, false
		}
		d.active, d.ev, d.ts, d.frames = true, d.queue[0], ts, 0
		d.queue = d.queue[1:]
	}
	d.frames++
	p = dtmfPacket{ev: d.ev, ts: d.ts, duration: uint16(d.frames * FrameLength), marker: d.frames == 1, repeats: 1}
	if d.frames >= dtmfEventFrames {
		p.end, p.repeats = true, dtmfEndRepeats
		d.active, d.gap = false, dtmfGapFrames
	}
	return p, true
}

// dtmfReceiver turns event packets into digits: one digit per event (RTP timestamp), reported
// on its first packet; retransmissions and end packets of the same event are ignored.
type dtmfReceiver struct {
	have   bool
	lastTS uint32
	lastEv uint8
}

// handle returns the digit to report for this payload, if any. ok=false with err=nil means a
// repeat of an event already reported.
func (d *dtmfReceiver) handle(ts uint32, payload []byte) (digit rune, ok bool, err error) {
	if len(payload) < 4 {
		return 0, false, fmt.Errorf("telephone-event payload of %d bytes (RFC 4733 §2.3 needs 4)", len(payload))
	}
	ev := payload[0]
	if d.have && ts == d.lastTS && ev == d.lastEv {
		return 0, false, nil
	}
	d.have, d.lastTS, d.lastEv = true, ts, ev
	digit, ok = dtmfDigit(ev)
	if !ok {
		return 0, false, nil // flash (16) or events we do not map: ignore
	}
	return digit, true, nil
}

// normalizeDigit upper-cases A–D for SIP INFO digits.
func normalizeDigit(r rune) (rune, bool) {
	ev, ok := dtmfEvent(r)
	if !ok {
		return 0, false
	}
	d, _ := dtmfDigit(ev)
	return rune(strings.ToUpper(string(d))[0]), true
}
