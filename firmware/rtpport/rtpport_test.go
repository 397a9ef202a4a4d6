package rtpport

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestRangeRefusesRangesWithoutAPair(t *testing.T) {
	for _, c := range []struct{ min, max int }{{0, 10}, {10, 10}, {11, 11}, {11, 12}, {20, 10}, {65534, 65536}} {
		if _, err := NewRange(c.min, c.max); err == nil {
			t.Errorf("NewRange(%d, %d) accepted", c.min, c.max)
		}
	}
	if _, err := NewRange(11, 13); err != nil {
		t.Errorf("NewRange(11, 13): %v (12 and 13 are a pair)", err)
	}
}

// Every pair is even/odd within the range, the range is gone round before a pair comes back,
// and a pair bind refuses is skipped.
func TestPairGoesRoundTheRange(t *testing.T) {
	r, err := NewRange(16383, 16394) // pairs 16384, 16386, …, 16392
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]int{}
	for range 10 {
		p, err := r.Pair(0, func(p int) bool { return p != 16388 })
		if err != nil {
			t.Fatal(err)
		}
		if p%2 != 0 || p < 16384 || p+1 > 16394 || p == 16388 {
			t.Fatalf("pair at %d", p)
		}
		seen[p]++
	}
	if len(seen) != 4 {
		t.Fatalf("pairs handed out: %v, want the 4 free ones in turn", seen)
	}
	for p, n := range seen {
		if n != 2 && n != 3 {
			t.Errorf("pair %d handed out %d times in 10, want turns", p, n)
		}
	}
}

func TestPairFullRange(t *testing.T) {
	r, _ := NewRange(20000, 20009)
	tried := 0
	_, err := r.Pair(0, func(int) bool { tried++; return false })
	if err == nil || !strings.Contains(err.Error(), "20000-20009") {
		t.Fatalf("err = %v, want one naming the range", err)
	}
	if tried != 5 {
		t.Errorf("tried %d pairs, want each of the 5 once", tried)
	}
	tried = 0
	r.Pair(2, func(int) bool { tried++; return false })
	if tried != 2 {
		t.Errorf("limit 2: tried %d", tried)
	}
}

// UDP binds the pair on loopback, and skips a pair whose RTCP port is taken.
func TestUDPBindsAPair(t *testing.T) {
	r, _ := NewRange(40000, 40099)
	rtp, rtcp, err := r.UDP("udp4", netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer rtp.Close()
	defer rtcp.Close()
	p := rtp.LocalAddr().(*net.UDPAddr).Port
	if p%2 != 0 || rtcp.LocalAddr().(*net.UDPAddr).Port != p+1 || p < 40000 || p > 40098 {
		t.Fatalf("RTP %v, RTCP %v", rtp.LocalAddr(), rtcp.LocalAddr())
	}
	// Taken: the next pair's RTCP port. The range skips that pair.
	block, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p + 3})
	if err != nil {
		t.Skip("port taken by another program:", err)
	}
	defer block.Close()
	rtp2, rtcp2, err := r.UDP("udp4", netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer rtp2.Close()
	defer rtcp2.Close()
	if got := rtp2.LocalAddr().(*net.UDPAddr).Port; got == p+2 {
		t.Fatalf("the pair %d/%d was handed out with its RTCP port taken", got, got+1)
	}
}
