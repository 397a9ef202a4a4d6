package webrtcbridge

import (
	"testing"

	"github.com/pion/rtp"
)

// The browser sees one continuous stream when the phone's restarts; gaps within a stream stay.
func TestRenumber(t *testing.T) {
	var r renumber
	steps := []struct {
		ssrc    uint32
		seq     uint16
		ts      uint32
		wantSeq uint16
		wantTS  uint32
	}{
		{1, 1000, 8000, 1000, 8000},
		{1, 1001, 8160, 1001, 8160},
		{1, 1003, 8480, 1003, 8480}, // a lost packet stays a gap
		{1, 1002, 8320, 1002, 8320}, // late: passed, behind
		{2, 5, 90000, 1004, 8640},   // new SSRC numbered behind: continues
		{2, 6, 90160, 1005, 8800},
		{2, 40000, 200000, 1006, 8960}, // a jump: continues
		{2, 40001, 200160, 1007, 9120},
		{2, 65535, 0, 1008, 9280}, // another jump
	}
	for i, s := range steps {
		h := rtp.Header{SSRC: s.ssrc, SequenceNumber: s.seq, Timestamp: s.ts}
		r.apply(&h)
		if h.SequenceNumber != s.wantSeq || h.Timestamp != s.wantTS {
			t.Errorf("step %d: %d/%d became %d/%d, want %d/%d", i, s.seq, s.ts, h.SequenceNumber, h.Timestamp, s.wantSeq, s.wantTS)
		}
	}
	h := rtp.Header{SSRC: 2, SequenceNumber: 0, Timestamp: 160}
	r.apply(&h) // 65535 → 0 is the next packet, not a jump
	if h.SequenceNumber != 1009 || h.Timestamp != 9440 {
		t.Errorf("a wrap of the sequence number became %d/%d, want 1009/9440", h.SequenceNumber, h.Timestamp)
	}
}
