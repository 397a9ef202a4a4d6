// Package impair is a UDP relay for tests that sits between two RTP endpoints and drops,
// delays or reorders packets, like a bad network. It binds loopback ports only in tests.
//
// A Relay has two faces. Endpoint A sends to FaceA (so A's SDP must name FaceA as B's address)
// and B sends to FaceB; the relay forwards A→B out of FaceB and B→A out of FaceA, so each side
// sees its packets coming from the address it was told about. Each face is an RTP port with the
// RTCP port above it; only RTP is impaired.
package impair

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Options say how to hurt the RTP stream (both directions).
type Options struct {
	Loss   float64       // probability of dropping each RTP packet, 0..1
	Delay  time.Duration // fixed extra delay
	Jitter time.Duration // extra uniform random delay in [0, Jitter) (can reorder)
	Seed   uint64        // random seed; the same seed drops the same packets
	// Observe, if set, sees every datagram arriving on the RTP ports (rtcp false) and the RTCP
	// ports (rtcp true), as a capture on the wire would. It must not keep pkt.
	Observe func(pkt []byte, rtcp bool)
}

// Counters of what the relay did.
type Counters struct {
	Forwarded, Dropped uint64
}

// Relay forwards between two endpoints. Create with New, give it the endpoints with Start,
// stop with Close.
type Relay struct {
	opt       Options
	faceA     [2]*net.UDPConn // RTP, RTCP facing A
	faceB     [2]*net.UDPConn
	forwarded atomic.Uint64
	dropped   atomic.Uint64
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	mu        sync.Mutex
	rng       *rand.Rand
	started   bool
}

// New binds two RTP/RTCP port pairs on ip (use a loopback address).
func New(ip string, opt Options) (*Relay, error) {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return nil, fmt.Errorf("impair: %w", err)
	}
	r := &Relay{opt: opt, rng: rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x9e3779b97f4a7c15))}
	if r.faceA, err = bindPair(addr); err != nil {
		return nil, err
	}
	if r.faceB, err = bindPair(addr); err != nil {
		r.faceA[0].Close()
		r.faceA[1].Close()
		return nil, err
	}
	return r, nil
}

func bindPair(ip netip.Addr) ([2]*net.UDPConn, error) {
	for i := 0; i < 100; i++ {
		a, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
		if err != nil {
			return [2]*net.UDPConn{}, fmt.Errorf("impair: %w", err)
		}
		p := a.LocalAddr().(*net.UDPAddr).Port
		if p%2 != 0 || p == 65535 {
			a.Close()
			continue
		}
		b, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(p+1))))
		if err != nil {
			a.Close()
			continue
		}
		return [2]*net.UDPConn{a, b}, nil
	}
	return [2]*net.UDPConn{}, errors.New("impair: no free even/odd port pair")
}

// FaceA is the RTP address endpoint A must send to (write it into the SDP A receives).
func (r *Relay) FaceA() netip.AddrPort { return r.faceA[0].LocalAddr().(*net.UDPAddr).AddrPort() }

// FaceB is the RTP address endpoint B must send to (write it into the SDP B receives).
func (r *Relay) FaceB() netip.AddrPort { return r.faceB[0].LocalAddr().(*net.UDPAddr).AddrPort() }

// Start forwards between A's RTP address a and B's RTP address b (RTCP on the ports above).
func (r *Relay) Start(a, b netip.AddrPort) {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	rtcp := func(x netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(x.Addr(), x.Port()+1) }
	r.wg.Add(4)
	go r.pump(ctx, r.faceA[0], r.faceB[0], b, true)
	go r.pump(ctx, r.faceB[0], r.faceA[0], a, true)
	go r.pump(ctx, r.faceA[1], r.faceB[1], rtcp(b), false)
	go r.pump(ctx, r.faceB[1], r.faceA[1], rtcp(a), false)
}

// pump reads from in and writes to dst through out, applying the impairments when impaired.
func (r *Relay) pump(ctx context.Context, in, out *net.UDPConn, dst netip.AddrPort, impaired bool) {
	defer r.wg.Done()
	buf := make([]byte, 2048)
	var pending sync.WaitGroup
	defer pending.Wait()
	for {
		n, _, err := in.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			continue
		}
		if r.opt.Observe != nil {
			r.opt.Observe(buf[:n], !impaired)
		}
		if !impaired {
			out.WriteToUDPAddrPort(buf[:n], dst)
			continue
		}
		r.mu.Lock()
		drop := r.rng.Float64() < r.opt.Loss
		delay := r.opt.Delay
		if r.opt.Jitter > 0 {
			delay += time.Duration(r.rng.Int64N(int64(r.opt.Jitter)))
		}
		r.mu.Unlock()
		if drop {
			r.dropped.Add(1)
			continue
		}
		r.forwarded.Add(1)
		if delay <= 0 {
			out.WriteToUDPAddrPort(buf[:n], dst)
			continue
		}
		pkt := append([]byte(nil), buf[:n]...)
		pending.Add(1)
		time.AfterFunc(delay, func() {
			defer pending.Done()
			if ctx.Err() == nil {
				out.WriteToUDPAddrPort(pkt, dst)
			}
		})
	}
}

// Counters returns what the relay forwarded and dropped on the RTP ports.
func (r *Relay) Counters() Counters {
	return Counters{Forwarded: r.forwarded.Load(), Dropped: r.dropped.Load()}
}

// Close stops forwarding and releases the ports.
func (r *Relay) Close() error {
	if r.cancel != nil {
		r.cancel()
	}
	var errs []error
	for _, c := range append(r.faceA[:], r.faceB[:]...) {
		errs = append(errs, c.Close())
	}
	r.wg.Wait()
	return errors.Join(errs...)
}
