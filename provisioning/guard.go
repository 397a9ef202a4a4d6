package provisioning

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/deskphone/deskphone/firmware/accounts"
)

// requestKind says what a phone asked for.
type requestKind int

const (
	kindNone     requestKind = iota // not a file we serve: refused
	kindGlobal                      // sipconfig.txt
	kindPhone                       // sipconfig-<MAC>.txt
	kindFirmware                    // noesip4018, datsip4018, noesip4008, datsip4008
)

// route is a parsed request path.
type route struct {
	kind requestKind
	mac  string // kindPhone: 12 upper-case hex digits
	file string // kindFirmware: the canonical lower-case name
}

// maxPathLen bounds the request paths looked at; the longest real one is "/sipconfig-<12>.txt" (27).
const maxPathLen = 64

// firmwareNames are the firmware files a phone may ask for. The 4008 uses the same files as the 4018
// under its own names (wazo-provd-plugins, xivo-alcatel 2.01.10 pkgs.db).
var firmwareNames = map[string]string{
	"noesip4018": "noesip4018",
	"datsip4018": "datsip4018",
	"noesip4008": "noesip4018",
	"datsip4008": "datsip4018",
}

// parsePath maps the raw (still escaped) request path to a file. Anything but one of the exact names,
// at the root, in plain ASCII letters, digits, '-' and '.', is refused: no percent-encoding (so no
// %2e%2e, %2f or %00), no second slash, no "..", nothing long. No path from a request ever reaches
// the file system: firmware is looked up by its fixed name.
func parsePath(escaped string) route {
	if len(escaped) < 2 || len(escaped) > maxPathLen || escaped[0] != '/' {
		return route{}
	}
	name := escaped[1:]
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return route{}
		}
	}
	if strings.Contains(name, "..") {
		return route{}
	}
	lower := strings.ToLower(name)
	if lower == "sipconfig.txt" {
		return route{kind: kindGlobal}
	}
	if hex, ok := strings.CutPrefix(lower, "sipconfig-"); ok {
		hex, ok = strings.CutSuffix(hex, ".txt")
		if mac := accounts.NormalizeMAC(hex); ok && len(hex) == 12 && mac != "" {
			return route{kind: kindPhone, mac: mac}
		}
		return route{}
	}
	if _, ok := firmwareNames[lower]; ok {
		return route{kind: kindFirmware, file: lower}
	}
	return route{}
}

// refuse answers every refused request the same way, whatever the reason (unknown MAC, a MAC bound to
// another address, a closed pairing window, a banned source, a hostile path, a missing firmware file),
// so the answer tells a scanner nothing: Go's plain 404, the same as for any path nobody serves.
func refuse(w http.ResponseWriter) {
	http.NotFound(w, nil)
}

// sourceAddr is the client's IP address without port and IPv4-in-IPv6 wrapping.
func sourceAddr(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// localSource says whether addr may be a phone on the LAN: loopback, RFC 1918 / RFC 4193 private or
// link-local. Phones are never provisioned across the internet.
func localSource(addr netip.Addr) bool {
	return addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast()
}

// guard bans sources that guess: more than Threshold distinct unknown MACs, or more than 4×Threshold
// refused requests of any kind, within Window bans the source for BanTime. Its tables are bounded.
// It has no lock of its own: the Server calls it with s.mu held.
type guard struct {
	threshold int
	window    time.Duration
	banTime   time.Duration
	sources   map[netip.Addr]*sourceRecord
}

type sourceRecord struct {
	misses      []miss // within the window, oldest first
	bannedUntil time.Time
	lastSeen    time.Time
}

type miss struct {
	at  time.Time
	mac string // "" for a refusal that named no MAC
}

// maxTrackedSources bounds the guard's memory under a flood from many addresses.
const maxTrackedSources = 4096

func newGuard(threshold int, window, banTime time.Duration) *guard {
	return &guard{threshold: threshold, window: window, banTime: banTime, sources: map[netip.Addr]*sourceRecord{}}
}

// banned says whether src is banned at now.
func (g *guard) banned(src netip.Addr, now time.Time) bool {
	r := g.sources[src]
	return r != nil && now.Before(r.bannedUntil)
}

// refused records a refusal for src (mac "" when the request named no phone) and reports whether
// src has just been banned.
func (g *guard) refused(src netip.Addr, mac string, now time.Time) bool {
	if g.threshold <= 0 {
		return false
	}
	r := g.sources[src]
	if r == nil {
		g.makeRoom(now)
		r = &sourceRecord{}
		g.sources[src] = r
	}
	r.lastSeen = now
	keep := r.misses[:0]
	for _, m := range r.misses {
		if now.Sub(m.at) < g.window {
			keep = append(keep, m)
		}
	}
	r.misses = append(keep, miss{at: now, mac: mac})
	if len(r.misses) > 8*g.threshold { // bounded: the oldest go first
		r.misses = r.misses[len(r.misses)-8*g.threshold:]
	}
	macs := map[string]bool{}
	for _, m := range r.misses {
		if m.mac != "" {
			macs[m.mac] = true
		}
	}
	if now.Before(r.bannedUntil) {
		return false
	}
	if len(macs) >= g.threshold || len(r.misses) >= 4*g.threshold {
		r.bannedUntil = now.Add(g.banTime)
		r.misses = nil
		return true
	}
	return false
}

// makeRoom runs when the table is full: it drops sources neither banned nor seen within the window,
// then, if that is not enough, unbanned ones and finally banned ones, down to half the cap, so the
// cost of a flood from many addresses stays constant per request on average.
func (g *guard) makeRoom(now time.Time) {
	if len(g.sources) < maxTrackedSources {
		return
	}
	for a, r := range g.sources {
		if !now.Before(r.bannedUntil) && now.Sub(r.lastSeen) >= g.window {
			delete(g.sources, a)
		}
	}
	for _, dropBanned := range []bool{false, true} {
		for a, r := range g.sources {
			if len(g.sources) <= maxTrackedSources/2 {
				return
			}
			if dropBanned || !now.Before(r.bannedUntil) {
				delete(g.sources, a)
			}
		}
	}
}

// bannedCount is the number of sources banned at now, for the status page.
func (g *guard) bannedCount(now time.Time) int {
	n := 0
	for _, r := range g.sources {
		if now.Before(r.bannedUntil) {
			n++
		}
	}
	return n
}
