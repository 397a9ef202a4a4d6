package registrar

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"
)

func TestBannedSourcesListedAndUnbanned(t *testing.T) {
	clock := newFakeClock()
	g := newGuard(DefaultConfig(), clock, slog.New(slog.NewTextHandler(io.Discard, nil)))
	bad, other := netip.MustParseAddr("192.0.2.66"), netip.MustParseAddr("192.0.2.67")
	g.ban(bad, "test")
	g.ban(other, "test")
	if l := g.list(); len(l) != 2 || l[0].Source != "192.0.2.66" || !l[0].Until.After(clock.Now()) {
		t.Fatalf("list %+v", l)
	}
	if !g.unban(bad) || g.banned(bad) || !g.banned(other) {
		t.Fatal("unban did not lift exactly that ban")
	}
	if g.unban(bad) {
		t.Fatal("unbanned twice")
	}
	clock.Advance(DefaultConfig().BanTime + time.Second)
	if l := g.list(); len(l) != 0 {
		t.Fatalf("expired bans listed: %+v", l)
	}
}
