package media

import (
	"encoding/hex"
	"testing"
)

func TestRTCPRoundTrip(t *testing.T) {
	blk := reportBlock{ssrc: 2, fractionLost: 64, totalLost: -3, highestSeq: 70000, jitter: 12, lsr: 0x12345678, dlsr: 65536}
	b := buildRTCP(nil, 1, &senderInfo{ntp: 0xAABBCCDD11223344, rtpTS: 160, packets: 5, octets: 800}, &blk, "deskphone@127.0.0.1")
	if len(b)%4 != 0 {
		t.Fatalf("compound of %d bytes is not 32-bit aligned", len(b))
	}
	info, err := parseRTCP(b)
	if err != nil {
		t.Fatal(err)
	}
	if !info.hasSR || info.senderSSRC != 1 || info.srNTP != 0xAABBCCDD11223344 || info.nBlocks != 1 || info.blocks[0] != blk {
		t.Fatalf("parsed %+v", info)
	}
	rr := buildRTCP(nil, 9, nil, nil, "x")
	if info, err := parseRTCP(rr); err != nil || info.hasSR || info.senderSSRC != 9 {
		t.Fatalf("RR: %+v, %v", info, err)
	}
}

// baresip 1.0 ends a call with a compound that starts with BYE (reason "Adjo") and then SDES.
func TestRTCPAcceptsBaresipBye(t *testing.T) {
	b, _ := hex.DecodeString("81cb0003173056760441646a6f00000081ca00071730567601157369703a62403132372e302e302e313a343933343200")
	info, err := parseRTCP(b)
	if err != nil || !info.bye {
		t.Fatalf("parse: %+v, %v", info, err)
	}
}
