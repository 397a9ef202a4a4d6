// Package rtpport finds RTP/RTCP port pairs: an even port for RTP and the odd port after it for
// RTCP (RFC 3550 §11), in a configured range. A Range starts at a random pair (the ports of the
// next call are not guessable from the last) and then goes round the range, so a pair just freed
// is not handed out again at once, where a late packet of the last call would reach the next.
package rtpport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
)

// Range hands out the port pairs of [min, max]. It is safe for concurrent use.
type Range struct {
	min, max int
	first    int // the first even port p with p+1 <= max
	pairs    int

	mu   sync.Mutex
	next int // index of the pair to try first
}

// NewRange returns the range [min, max], or an error if it holds no even/odd pair.
func NewRange(min, max int) (*Range, error) {
	if min <= 0 || max > 65535 || max <= min {
		return nil, fmt.Errorf("RTP port range %d-%d is invalid", min, max)
	}
	first := (min + 1) &^ 1
	pairs := (max - first + 1) / 2
	if pairs <= 0 {
		return nil, fmt.Errorf("RTP port range %d-%d has no even/odd port pair", min, max)
	}
	return &Range{min: min, max: max, first: first, pairs: pairs, next: rand.IntN(pairs)}, nil
}

// Pairs is the number of port pairs in the range.
func (r *Range) Pairs() int { return r.pairs }

// Pair calls bind with even ports p (RTP on p, RTCP on p+1), from where the last pair ended and
// round the range at most once (or limit times, if limit > 0), until bind reports it bound both.
// It returns the port bind took.
func (r *Range) Pair(limit int, bind func(p int) bool) (int, error) {
	n := r.pairs
	if limit > 0 {
		n = min(n, limit)
	}
	for range n {
		r.mu.Lock()
		p := r.first + 2*r.next
		r.next = (r.next + 1) % r.pairs
		r.mu.Unlock()
		if bind(p) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free RTP port pair (RTP and RTCP) in %d-%d", r.min, r.max)
}

// UDP binds an RTP and an RTCP socket at a pair of r, on ip (any address if ip is the zero
// Addr) over network ("udp", "udp4" or "udp6").
func (r *Range) UDP(network string, ip netip.Addr) (rtp, rtcp *net.UDPConn, err error) {
	listen := func(p int) (*net.UDPConn, error) {
		a := &net.UDPAddr{Port: p}
		if ip.IsValid() {
			a.IP = ip.AsSlice()
		}
		return net.ListenUDP(network, a)
	}
	_, err = r.Pair(0, func(p int) bool {
		if rtp, err = listen(p); err != nil {
			return false
		}
		if rtcp, err = listen(p + 1); err != nil {
			rtp.Close()
			return false
		}
		return true
	})
	if err != nil {
		return nil, nil, err
	}
	return rtp, rtcp, nil
}
