package srtpbridge

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deskphone/deskphone/firmware/sdes"
)

// leg is one phone's side of a bridged call.
type leg struct {
	srtp     bool
	ip       netip.Addr // the Pi's address this phone sends to
	port     int        // our RTP port on this leg
	rtpConn  *net.UDPConn
	rtcpConn *net.UDPConn

	// Guarded by call.mu:
	remote    *audio         // the phone's latest SDP
	rtp, rtcp netip.AddrPort // where the phone receives
	ours      []sdes.Crypto  // the keys we offer this phone (SRTP leg)
	offered   []sdes.Crypto  // the keys of our pending offer to it
	streams   *sdes.Streams  // nil until keys are agreed (SRTP leg), always nil on a plain one
	// The keys before the phone's last re-offer changed them: until its packets pass with the
	// new ones, what it sends is also tried with these (a re-INVITE refused by the other phone
	// leaves it sending with its old key).
	oldStreams *sdes.Streams
	encBuf     []byte // what we send to this phone, encrypted
	lastPacket time.Time
	peer       netip.Addr        // where the phone's signalling comes from (Bridge.Expect)
	source     [2]netip.AddrPort // the RTP and RTCP sockets' locked source: the phone's own
	sourceAt   [2]time.Time      // the last packet from it
}

// relearnAfter is how long a locked source must be silent before another socket of the phone's
// host may take its place (a phone that reopened its socket without a new SDP).
const relearnAfter = 2 * time.Second

// accepts reports whether a packet arriving on our socket (1: the RTCP one) from src may be this
// phone's. Only the phone's hosts may send: the address its SDP names and the one its signalling
// comes from; the first packet that passes (authenticated, on an SRTP leg) locks the socket onto
// its source address and port, as rtpengine and Asterisk's strictrtp do, so that nobody else on
// the LAN can inject audio into the call; the exact address and port the SDP names always
// passes and takes the lock over. Before the phone's SDP, nothing is accepted.
func (l *leg) accepts(socket int, src netip.AddrPort, now time.Time) bool {
	switch {
	case l.remote == nil:
		return false
	case src == l.source[socket], src == l.rtp, src == l.rtcp:
		return true // the locked source, or exactly the address the SDP names (which takes over)
	case l.source[socket].IsValid() && now.Sub(l.sourceAt[socket]) < relearnAfter:
		return false
	}
	ip := src.Addr()
	return ip == l.rtp.Addr() || ip == l.rtcp.Addr() || (l.peer.IsValid() && ip == l.peer)
}

// heard notes a good packet from src on socket: the socket locks onto it.
func (l *leg) heard(socket int, src netip.AddrPort, now time.Time) {
	l.lastPacket = now
	l.source[socket], l.sourceAt[socket] = src, now
}

// setRemote takes the phone's new SDP; a new address unlocks the sources.
func (l *leg) setRemote(a *audio) {
	if a.rtp != l.rtp || a.rtcp != l.rtcp {
		l.source = [2]netip.AddrPort{}
	}
	l.remote, l.rtp, l.rtcp = a, a.rtp, a.rtcp
}

func (l *leg) closeSockets() {
	l.rtpConn.Close()
	l.rtcpConn.Close()
}

// call is one bridged call: legs[0] the caller's, legs[1] the callee's.
type call struct {
	id   string
	log  *slog.Logger
	legs [2]*leg
	done sync.WaitGroup

	mu         sync.Mutex
	created    time.Time
	answeredAt time.Time // the first answer
	answered   bool
	lastIn     []byte // the last answer passed, and what it became (retransmitted 2xx)
	lastOut    []byte
	lastSide   int
	closedOnce sync.Once

	relayed     atomic.Uint64 // packets forwarded
	foreign     atomic.Uint64 // packets from a host that is not the leg's phone, or another socket
	unauthentic atomic.Uint64 // packets failing SRTP: a wrong key, tampered, replayed
}

// rejected counts a packet dropped by kind (foreign or unauthentic) and reports whether to log
// it: the first of each kind, then every 10000th, so that a flood never floods the log.
func rejected(n *atomic.Uint64) bool {
	v := n.Add(1)
	return v == 1 || v%10000 == 0
}

func newCall(id string, legs [2]*leg, log *slog.Logger) *call {
	for _, l := range legs {
		l.encBuf = make([]byte, 0, sdes.MaxPacket+32)
	}
	return &call{id: id, log: log, legs: legs, created: time.Now()}
}

func (c *call) isAnswered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answered
}

// staleness says why a call should end, and whose media stopped.
type staleness struct {
	why    string        // "never answered", "no media"; "" to keep the call
	leg    string        // "caller", "callee", or "" for both
	silent time.Duration // nothing came from that leg for this long
}

// stale says why the call should end: not answered within setup, or no packet from one phone
// (from either while the call is on hold, when a held phone may send nothing) for media.
func (c *call) stale(now time.Time, setup, media time.Duration) staleness {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.answered {
		if now.Sub(c.created) > setup {
			return staleness{why: "never answered"}
		}
		return staleness{}
	}
	held := false
	last := c.answeredAt
	for _, l := range c.legs {
		held = held || l.remote == nil || l.remote.held
		if l.lastPacket.After(last) {
			last = l.lastPacket
		}
	}
	if now.Sub(last) > media {
		return staleness{why: "no media", silent: now.Sub(last)}
	}
	if held {
		return staleness{}
	}
	for i, l := range c.legs {
		since := c.answeredAt
		if l.lastPacket.After(since) {
			since = l.lastPacket
		}
		if now.Sub(since) > media {
			return staleness{why: "no media", leg: legName(i), silent: now.Sub(since)}
		}
	}
	return staleness{}
}

// offer takes the offer from legs[from] and returns the one for the other leg.
func (c *call) offer(from int, body []byte) ([]byte, error) {
	a, err := parseAudio(body)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	in, out := c.legs[from], c.legs[1-from]
	if in.srtp && len(a.crypto) == 0 {
		return nil, fmt.Errorf("the offer has no usable a=crypto (%s): %w", sdes.SuiteNames(), ErrBadSDP)
	}
	if in.srtp {
		if in.ours == nil {
			if in.ours, err = sdes.NewKeys(); err != nil {
				return nil, fmt.Errorf("SRTP bridge: %w", err)
			}
		}
		local, remote, ok := sdes.Accept(a.crypto, in.ours)
		if !ok {
			return nil, fmt.Errorf("the offer's a=crypto suites are not %s: %w", sdes.SuiteNames(), ErrBadSDP)
		}
		if !in.streams.Same(local, remote) {
			st, err := in.streams.Rekeyed(local, remote)
			if err != nil {
				return nil, fmt.Errorf("SRTP bridge: %w", err)
			}
			if in.streams != nil && in.oldStreams == nil {
				in.oldStreams = in.streams
			}
			in.streams = st
		}
	}
	var keys []sdes.Crypto
	if out.srtp {
		if out.ours == nil {
			if out.ours, err = sdes.NewKeys(); err != nil {
				return nil, fmt.Errorf("SRTP bridge: %w", err)
			}
		}
		keys = out.ours
	}
	res, err := a.rewrite(out.ip, out.port, keys)
	if err != nil {
		return nil, err
	}
	in.setRemote(a)
	out.offered = keys
	c.lastIn = nil
	return res, nil
}

// answer takes the answer from legs[from] to the other leg's offer and returns the one for the
// offerer.
func (c *call) answer(from int, body []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastIn != nil && c.lastSide == from && bytes.Equal(c.lastIn, body) {
		return c.lastOut, nil
	}
	a, err := parseAudio(body)
	if err != nil {
		return nil, err
	}
	in, out := c.legs[from], c.legs[1-from]
	if out.remote == nil {
		return nil, errors.New("SRTP bridge: an answer before any offer")
	}
	if in.srtp {
		local, remote, ok := sdes.Answered(a.crypto, in.offered)
		if !ok {
			return nil, fmt.Errorf("the answer accepts none of our a=crypto keys: %w", ErrBadSDP)
		}
		if !in.streams.Same(local, remote) {
			if in.streams, err = in.streams.Rekeyed(local, remote); err != nil {
				return nil, fmt.Errorf("SRTP bridge: %w", err)
			}
		}
	}
	var keys []sdes.Crypto
	if out.srtp && out.streams != nil {
		keys = []sdes.Crypto{out.streams.Local} // our key for the suite the offer chose, its tag echoed
	}
	res, err := a.rewrite(out.ip, out.port, keys)
	if err != nil {
		return nil, err
	}
	in.setRemote(a)
	if !c.answered {
		c.answeredAt = time.Now()
	}
	c.answered = true
	c.lastIn, c.lastOut, c.lastSide = bytes.Clone(body), res, from
	return res, nil
}

// decrypt authenticates and decrypts an SRTP or SRTCP packet with st.
func decrypt(st *sdes.Streams, pkt []byte, rtcp bool) ([]byte, error) {
	if rtcp {
		return st.DecryptRTCP(pkt)
	}
	return st.DecryptRTP(pkt)
}

// legName is "caller" for legs[0], "callee" for legs[1].
func legName(i int) string { return [2]string{"caller", "callee"}[i] }

// start runs the four relays: each socket's packets go to the other leg.
func (c *call) start() {
	for i, l := range c.legs {
		c.done.Go(func() { c.relay(i, l.rtpConn, false) })
		c.done.Go(func() { c.relay(i, l.rtcpConn, true) })
	}
}

// close stops the relays and frees the ports; it returns once the relays have ended.
func (c *call) close() {
	c.closedOnce.Do(func() {
		for _, l := range c.legs {
			l.closeSockets()
		}
		c.done.Wait()
	})
}

// relay reads what the phone of legs[from] sends to conn and forwards it to the other phone.
func (c *call) relay(from int, conn *net.UDPConn, rtcpPort bool) {
	buf := make([]byte, sdes.MaxPacket)
	for {
		n, src, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		c.forward(from, buf[:n], src, rtcpPort)
	}
}

// forward passes one packet on: authenticated and decrypted if it comes from an SRTP leg,
// encrypted if it goes to one, sent from our socket on the other leg to that phone's address.
func (c *call) forward(from int, pkt []byte, src netip.AddrPort, rtcpPort bool) {
	if len(pkt) < 8 || pkt[0]>>6 != 2 {
		return // not RTP or RTCP (a STUN probe, say)
	}
	// RTCP packet types 200–204 (RFC 5761 §4): RTCP sent to the RTP port with rtcp-mux.
	isRTCP := rtcpPort || (pkt[1] >= 200 && pkt[1] <= 204)
	c.mu.Lock()
	defer c.mu.Unlock()
	in, out := c.legs[from], c.legs[1-from]
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	socket, now := 0, time.Now()
	if rtcpPort {
		socket = 1
	}
	if !in.accepts(socket, src, now) {
		if rejected(&c.foreign) {
			c.log.Warn("SRTP bridge: packets from an unexpected source dropped (not the phone of this leg)", "src", src.String(),
				"leg", legName(from), "sdp", in.rtp.String(), "locked", in.source[socket].String(), "count", c.foreign.Load())
		}
		return
	}
	plain := pkt
	if in.srtp {
		if in.streams == nil {
			return
		}
		var err error
		plain, err = decrypt(in.streams, pkt, isRTCP)
		switch {
		case err == nil:
			in.oldStreams = nil // the new keys are in use
		case in.oldStreams != nil:
			if p, oldErr := decrypt(in.oldStreams, pkt, isRTCP); oldErr == nil {
				plain, err = p, nil
			}
		}
		if err != nil {
			if rejected(&c.unauthentic) {
				c.log.Warn("SRTP bridge: packets fail SRTP authentication and are dropped (a wrong key, or replayed or forged packets)",
					"src", src.String(), "leg", legName(from), "rtcp", isRTCP, "err", err, "count", c.unauthentic.Load())
			}
			return
		}
	}
	in.heard(socket, src, now)
	dst, conn := out.rtp, out.rtpConn
	if isRTCP {
		dst, conn = out.rtcp, out.rtcpConn
	}
	if out.remote == nil || !dst.Addr().IsValid() || dst.Addr().IsUnspecified() || dst.Port() == 0 {
		return // the other phone has not said where it receives yet, or is on hold
	}
	wire := plain
	if out.srtp {
		if out.streams == nil {
			return
		}
		var err error
		if isRTCP {
			wire, err = out.streams.EncryptRTCP(out.encBuf[:0], plain)
		} else {
			wire, err = out.streams.EncryptRTP(out.encBuf[:0], plain, nil)
		}
		if err != nil {
			return
		}
	}
	if _, err := conn.WriteToUDPAddrPort(wire, dst); err == nil {
		c.relayed.Add(1)
	}
}
