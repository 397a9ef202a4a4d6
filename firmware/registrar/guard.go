package registrar

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// guard bans sources that flood the registrar or fail authentication repeatedly (Kamailio's
// pike + htable ipban; field notes §1.3) and drops their packets before sipgo parses them.
type guard struct {
	clock Clock
	log   *slog.Logger

	floodRequests int
	floodWindow   time.Duration
	authFailures  int
	authWindow    time.Duration
	banTime       time.Duration
	neverBan      []netip.Prefix
	maxSources    int
	// known reports whether a source has a live binding: registered phones get knownFactor times
	// the flood budget, so a reboot storm or a busy call does not ban them.
	known func(netip.Addr) bool

	mu      sync.Mutex
	sources map[netip.Addr]*sourceState

	dropped atomic.Uint64 // packets dropped before parsing
	bans    atomic.Uint64
}

type sourceState struct {
	windowStart time.Time
	count       int
	authStart   time.Time
	authFails   int
	bannedUntil time.Time
	lastSeen    time.Time
}

// knownFactor multiplies the flood budget of sources with a live binding.
const knownFactor = 8

func newGuard(cfg Config, clock Clock, log *slog.Logger) *guard {
	return &guard{
		clock: clock, log: log,
		floodRequests: cfg.FloodRequests, floodWindow: cfg.FloodWindow,
		authFailures: cfg.AuthFailures, authWindow: cfg.AuthWindow,
		banTime: cfg.BanTime, neverBan: cfg.NeverBan, maxSources: cfg.MaxSources,
		sources: map[netip.Addr]*sourceState{},
	}
}

func (g *guard) exempt(ip netip.Addr) bool {
	for _, p := range g.neverBan {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// stateLocked returns the source's state, making room if the table is full. nil means the
// table is full of live sources; such a source is let through untracked.
func (g *guard) stateLocked(ip netip.Addr, now time.Time) *sourceState {
	if st, ok := g.sources[ip]; ok {
		return st
	}
	if len(g.sources) >= g.maxSources {
		g.sweepLocked(now)
		if len(g.sources) >= g.maxSources {
			return nil
		}
	}
	st := &sourceState{windowStart: now, authStart: now}
	g.sources[ip] = st
	return st
}

func (g *guard) sweepLocked(now time.Time) {
	idle := max(g.floodWindow, g.authWindow)
	for ip, st := range g.sources {
		if now.After(st.bannedUntil) && now.Sub(st.lastSeen) > idle {
			delete(g.sources, ip)
		}
	}
}

// sweep forgets idle sources; the registrar calls it periodically.
func (g *guard) sweep() {
	g.mu.Lock()
	g.sweepLocked(g.clock.Now())
	g.mu.Unlock()
}

// packet counts one packet from ip and reports whether to process it.
func (g *guard) packet(ip netip.Addr) bool {
	ip = ip.Unmap()
	if g.exempt(ip) {
		return true
	}
	now := g.clock.Now()
	g.mu.Lock()
	st := g.stateLocked(ip, now)
	if st == nil {
		g.mu.Unlock()
		return true
	}
	st.lastSeen = now
	if now.Before(st.bannedUntil) {
		g.mu.Unlock()
		g.dropped.Add(1)
		return false
	}
	if now.Sub(st.windowStart) >= g.floodWindow {
		st.windowStart, st.count = now, 0
	}
	st.count++
	if st.count > g.floodRequests && (st.count > g.floodRequests*knownFactor || g.known == nil || !g.known(ip)) {
		n := st.count
		until := g.banLocked(st, now)
		g.mu.Unlock()
		g.log.Warn("source banned", "src", ip.String(), "reason", "flood", "requests", n, "window", g.floodWindow, "until", until.UTC().Format(time.RFC3339))
		g.dropped.Add(1)
		return false
	}
	g.mu.Unlock()
	return true
}

// banLocked bans the source of st from now and returns the end of the ban.
func (g *guard) banLocked(st *sourceState, now time.Time) time.Time {
	st.bannedUntil = now.Add(g.banTime)
	st.count, st.authFails = 0, 0
	g.bans.Add(1)
	return st.bannedUntil
}

// authFailed records a failed authentication and reports whether the source is now banned.
func (g *guard) authFailed(ip netip.Addr) bool {
	ip = ip.Unmap()
	if g.exempt(ip) {
		return false
	}
	now := g.clock.Now()
	g.mu.Lock()
	st := g.stateLocked(ip, now)
	if st == nil {
		g.mu.Unlock()
		return false
	}
	if now.Sub(st.authStart) >= g.authWindow {
		st.authStart, st.authFails = now, 0
	}
	st.authFails++
	if st.authFails >= g.authFailures {
		n := st.authFails
		until := g.banLocked(st, now)
		g.mu.Unlock()
		g.log.Warn("source banned", "src", ip.String(), "reason", "authentication failures", "failures", n, "window", g.authWindow, "until", until.UTC().Format(time.RFC3339))
		return true
	}
	g.mu.Unlock()
	return false
}

// ban bans ip at once (scanner fingerprints).
func (g *guard) ban(ip netip.Addr, reason string) {
	ip = ip.Unmap()
	if g.exempt(ip) {
		return
	}
	now := g.clock.Now()
	g.mu.Lock()
	st := g.stateLocked(ip, now)
	if st == nil {
		g.mu.Unlock()
		return
	}
	already := now.Before(st.bannedUntil)
	until := g.banLocked(st, now)
	g.mu.Unlock()
	if !already {
		g.log.Warn("source banned", "src", ip.String(), "reason", reason, "until", until.UTC().Format(time.RFC3339))
	}
}

func (g *guard) banned(ip netip.Addr) bool {
	ip = ip.Unmap()
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	st, ok := g.sources[ip]
	return ok && now.Before(st.bannedUntil)
}

func (g *guard) bannedCount() int {
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, st := range g.sources {
		if now.Before(st.bannedUntil) {
			n++
		}
	}
	return n
}

func addrIP(a net.Addr) (netip.Addr, bool) {
	switch v := a.(type) {
	case *net.UDPAddr:
		ip, ok := netip.AddrFromSlice(v.IP)
		return ip.Unmap(), ok
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(v.IP)
		return ip.Unmap(), ok
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// errBanned closes a TCP connection from a banned source.
var errBanned = errors.New("source is banned")

// readFilter is installed in sipgo's transport layer: it runs on every datagram or TCP read
// before parsing. Banned and flooding sources are dropped here; oversized datagrams are answered
// with 513 (RFC 3261 §21.5.14) by tooBig.
func (g *guard) readFilter(maxSize int, tooBig func(data []byte, from net.Addr, info sip.TransportReadProps)) sip.TransportReadFilter {
	return func(info sip.TransportReadProps, data []byte) ([]byte, error) {
		ip, ok := addrIP(info.RemoteAddr)
		if !ok {
			return nil, nil
		}
		if len(bytes.Trim(data, "\r\n")) == 0 {
			return data, nil // keep-alive (RFC 5626 §3.5.1): not counted
		}
		if !g.packet(ip) {
			if strings.EqualFold(info.Transport, "TCP") {
				return nil, errBanned
			}
			return nil, nil
		}
		if len(data) > maxSize && strings.EqualFold(info.Transport, "UDP") {
			tooBig(data, info.RemoteAddr, info)
			return nil, nil
		}
		return data, nil
	}
}

// scannerAgents are User-Agent fragments of SIP scanners (field notes §1.1). Matching them is
// noise reduction, not a control: the header is trivially changed.
var scannerAgents = []string{"friendly-scanner", "sipvicious", "sipcli", "vaxsipuseragent", "sundayddr", "pplsip", "iwar", "sip-scan"}

func isScanner(userAgent string) bool {
	for _, s := range scannerAgents {
		if indexFold(userAgent, s) >= 0 {
			return true
		}
	}
	return false
}
