package srtpbridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/deskphone/deskphone/firmware/rtpport"
)

// Config is the bridge's ports and timeouts.
type Config struct {
	// RTPPortMin and RTPPortMax bound the ports: each leg of a call takes an even port for RTP
	// and the next one for RTCP, so a call takes four. Both 0: ports the kernel picks.
	RTPPortMin, RTPPortMax int
	// SetupTimeout ends a call whose offer got no answer in time, in case the proxy never calls
	// Close (default 3 minutes, the INVITE transaction's limit).
	SetupTimeout time.Duration
	// MediaTimeout ends an answered call when neither phone sent a packet for this long: its
	// BYE was lost (default 2 minutes; phones send RTCP every few seconds even on hold).
	MediaTimeout time.Duration
	// MaxCalls bounds the calls bridged at once (default 32): each takes four ports, four
	// goroutines and some CPU, and an authenticated phone could otherwise place calls until
	// the Pi runs out. Start fails with ErrFull beyond it.
	MaxCalls int
	// OnMediaDead, if set, hears of each answered call whose media the bridge released for
	// silence: leg is "caller" or "callee" (the phone that went silent) or "" (both), silent
	// how long. The proxy hangs the call up. Called from Run; it must not block long.
	OnMediaDead func(callID, leg string, silent time.Duration)
	Log         *slog.Logger
}

// DefaultConfig: kernel-picked ports, 3 minutes to answer, 2 minutes of silence, 32 calls.
func DefaultConfig() Config {
	return Config{SetupTimeout: 3 * time.Minute, MediaTimeout: 2 * time.Minute, MaxCalls: 32}
}

// Bridge relays the media of calls between SRTP and plain RTP legs. Its methods are safe for
// concurrent use; Run owns its lifetime.
type Bridge struct {
	cfg Config
	log *slog.Logger

	ports *rtpport.Range // nil: ports the kernel picks

	mu     sync.Mutex
	calls  map[string]*call
	closed bool
}

// New checks cfg (zero fields take DefaultConfig's values) and returns a bridge; Run must be
// called to own it.
func New(cfg Config) (*Bridge, error) {
	d := DefaultConfig()
	if cfg.SetupTimeout <= 0 {
		cfg.SetupTimeout = d.SetupTimeout
	}
	if cfg.MediaTimeout <= 0 {
		cfg.MediaTimeout = d.MediaTimeout
	}
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = d.MaxCalls
	}
	var ports *rtpport.Range
	if cfg.RTPPortMin != 0 || cfg.RTPPortMax != 0 {
		var err error
		if ports, err = rtpport.NewRange(cfg.RTPPortMin, cfg.RTPPortMax); err != nil || cfg.RTPPortMin < 1024 || ports.Pairs() < 2 {
			return nil, fmt.Errorf("SRTP bridge: RTP port range %d–%d is not usable (1024–65535, at least two even/odd port pairs: a call takes one per leg)", cfg.RTPPortMin, cfg.RTPPortMax)
		}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Bridge{cfg: cfg, log: cfg.Log, ports: ports, calls: map[string]*call{}}, nil
}

var errClosed = errors.New("SRTP bridge: stopped")

// ErrFull: the bridge already relays Config.MaxCalls calls.
var ErrFull = errors.New("the Pi already bridges as many calls as it takes")

// full reports whether a call callID cannot be added; b.mu is held.
func (b *Bridge) full(callID string) bool {
	_, again := b.calls[callID]
	return !again && len(b.calls) >= b.cfg.MaxCalls
}

// fullError is ErrFull with the figure, logged once per refusal.
func (b *Bridge) fullError(callID string) error {
	b.log.Warn("SRTP bridge: call refused, too many calls", "call_id", callID, "max_calls", b.cfg.MaxCalls)
	return fmt.Errorf("%w (%d)", ErrFull, b.cfg.MaxCalls)
}

// Run ends calls left unanswered past SetupTimeout or silent past MediaTimeout, and every call
// when ctx ends. Start fails once Run has returned.
func (b *Bridge) Run(ctx context.Context) error {
	tick := time.NewTicker(min(b.cfg.SetupTimeout, b.cfg.MediaTimeout) / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			b.mu.Lock()
			b.closed = true
			calls := b.calls
			b.calls = map[string]*call{}
			b.mu.Unlock()
			for _, c := range calls {
				c.close()
			}
			return nil
		case now := <-tick.C:
			b.expire(now)
		}
	}
}

// expire closes calls that were never answered or went silent.
func (b *Bridge) expire(now time.Time) {
	b.mu.Lock()
	var stale []*call
	var dead []staleness
	for id, c := range b.calls {
		if st := c.stale(now, b.cfg.SetupTimeout, b.cfg.MediaTimeout); st.why != "" {
			stale = append(stale, c)
			dead = append(dead, st)
			delete(b.calls, id)
			b.log.Warn("SRTP bridge: media released", "call_id", id, "why", st.why, "leg", st.leg, "silent", st.silent.Round(time.Second).String())
		}
	}
	b.mu.Unlock()
	for i, c := range stale {
		c.close()
		if dead[i].why == "no media" && b.cfg.OnMediaDead != nil {
			b.cfg.OnMediaDead(c.id, dead[i].leg, dead[i].silent)
		}
	}
}

// Calls is the number of calls being bridged.
func (b *Bridge) Calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.calls)
}

// Has reports whether callID's media goes through the bridge.
func (b *Bridge) Has(callID string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.calls[callID]
	return ok
}

// ErrCallIDInUse: Start for the Call-ID of a call bridged and answered already (a new INVITE
// reusing it must not take over that call's media).
var ErrCallIDInUse = errors.New("Call-ID in use")

// Start creates a call's two legs: which of them is SRTP, and the Pi's address each phone
// sends its media to. A call of the same Call-ID not yet answered is replaced (an INVITE sent
// again); an answered one is kept and Start fails with ErrCallIDInUse.
func (b *Bridge) Start(callID string, callerSRTP, calleeSRTP bool, callerIP, calleeIP netip.Addr) error {
	if callID == "" {
		return errors.New("SRTP bridge: call without Call-ID")
	}
	if !callerIP.IsValid() || !calleeIP.IsValid() {
		return errors.New("SRTP bridge: no local address for the media")
	}
	b.mu.Lock()
	full := b.full(callID)
	b.mu.Unlock()
	if full {
		return b.fullError(callID)
	}
	var legs [2]*leg
	for i, spec := range []struct {
		srtp bool
		ip   netip.Addr
	}{{callerSRTP, callerIP}, {calleeSRTP, calleeIP}} {
		rtp, rtcp, err := b.bindPair(spec.ip)
		if err != nil {
			for _, l := range legs[:i] {
				l.closeSockets()
			}
			return err
		}
		legs[i] = &leg{srtp: spec.srtp, ip: spec.ip.Unmap(), rtpConn: rtp, rtcpConn: rtcp, port: rtp.LocalAddr().(*net.UDPAddr).Port}
	}
	c := newCall(callID, legs, b.log.With("call_id", callID))
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		c.close()
		return errClosed
	}
	if b.full(callID) {
		b.mu.Unlock()
		c.close()
		return b.fullError(callID)
	}
	old, exists := b.calls[callID]
	if exists && old.isAnswered() {
		b.mu.Unlock()
		c.close()
		return fmt.Errorf("SRTP bridge: call %q is already bridged and answered: %w", callID, ErrCallIDInUse)
	}
	b.calls[callID] = c
	b.mu.Unlock()
	if exists {
		old.close()
	}
	c.start()
	b.log.Info("SRTP bridge: call started", "call_id", callID, "caller_srtp", callerSRTP, "callee_srtp", calleeSRTP,
		"caller_port", legs[0].port, "callee_port", legs[1].port)
	return nil
}

// Expect names the address a phone's signalling comes from (the caller's if fromCaller): its
// media may come from there as well as from the address its SDP names (a phone whose SDP names
// another of its addresses than the one it sends from). Packets from any other host are dropped.
func (b *Bridge) Expect(callID string, fromCaller bool, src netip.Addr) {
	c, err := b.get(callID)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.legs[side(fromCaller)].peer = src.Unmap()
}

func (b *Bridge) get(callID string) (*call, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.calls[callID]
	if !ok {
		return nil, fmt.Errorf("SRTP bridge: no call %q", callID)
	}
	return c, nil
}

// Offer takes the SDP offer one phone sent (the caller's if fromCaller) and returns the offer
// for the other phone.
func (b *Bridge) Offer(_ context.Context, callID string, fromCaller bool, body []byte) ([]byte, error) {
	c, err := b.get(callID)
	if err != nil {
		return nil, err
	}
	return c.offer(side(fromCaller), body)
}

// Answer takes the SDP answer the other phone sent back and returns the answer for the
// offerer; fromCaller says who answers. Passing the same answer again (a retransmitted 2xx)
// returns the same result.
func (b *Bridge) Answer(_ context.Context, callID string, fromCaller bool, body []byte) ([]byte, error) {
	c, err := b.get(callID)
	if err != nil {
		return nil, err
	}
	return c.answer(side(fromCaller), body)
}

// Close ends the call's media and frees its ports. Unknown Call-IDs are ignored, so the proxy
// may call it for every BYE, CANCEL and failed INVITE.
func (b *Bridge) Close(callID string) {
	b.mu.Lock()
	c, ok := b.calls[callID]
	delete(b.calls, callID)
	b.mu.Unlock()
	if ok {
		c.close()
		b.log.Info("SRTP bridge: call closed", "call_id", callID, "relayed", c.relayed.Load(),
			"foreign", c.foreign.Load(), "unauthentic", c.unauthentic.Load())
	}
}

// side is a leg's index: 0 the caller's, 1 the callee's.
func side(caller bool) int {
	if caller {
		return 0
	}
	return 1
}

// bindPair binds an even RTP port and the RTCP port after it: from the range going round, or
// ports the kernel picks.
func (b *Bridge) bindPair(ip netip.Addr) (*net.UDPConn, *net.UDPConn, error) {
	network := "udp4"
	if ip.Is6() && !ip.Is4In6() {
		network = "udp6"
	}
	listen := func(p int) (*net.UDPConn, error) {
		return net.ListenUDP(network, &net.UDPAddr{Port: p})
	}
	if b.ports == nil {
		for range 32 {
			r, err := listen(0)
			if err != nil {
				return nil, nil, fmt.Errorf("SRTP bridge: RTP port: %w", err)
			}
			p := r.LocalAddr().(*net.UDPAddr).Port
			if p%2 == 0 && p < 65535 {
				if c, err := listen(p + 1); err == nil {
					return r, c, nil
				}
			}
			r.Close()
		}
		return nil, nil, errors.New("SRTP bridge: found no free even/odd RTP port pair")
	}
	rtp, rtcp, err := b.ports.UDP(network, netip.Addr{})
	if err != nil {
		return nil, nil, fmt.Errorf("SRTP bridge: %w", err)
	}
	return rtp, rtcp, nil
}
