package registrar

import (
	"net/netip"
	"sort"
	"time"
)

// BannedSource is one address whose packets the registrar drops.
type BannedSource struct {
	Source string    `json:"source"`
	Until  time.Time `json:"until"`
}

// BannedSources lists the addresses banned now, for the web pages.
func (r *Registrar) BannedSources() []BannedSource { return r.guard.list() }

// Unban lifts the ban of ip at once; it reports whether ip was banned.
func (r *Registrar) Unban(ip netip.Addr) bool { return r.guard.unban(ip) }

func (g *guard) list() []BannedSource {
	now := g.clock.Now()
	g.mu.Lock()
	out := []BannedSource{}
	for ip, st := range g.sources {
		if now.Before(st.bannedUntil) {
			out = append(out, BannedSource{Source: ip.String(), Until: st.bannedUntil})
		}
	}
	g.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out
}

func (g *guard) unban(ip netip.Addr) bool {
	ip = ip.Unmap()
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	st, ok := g.sources[ip]
	if !ok || !now.Before(st.bannedUntil) {
		return false
	}
	delete(g.sources, ip) // a fresh start: its flood and failure counts go too
	g.log.Info("source unbanned", "src", ip.String())
	return true
}
