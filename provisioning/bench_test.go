package provisioning

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/deskphone/deskphone/firmware/accounts"
)

// benchServer is a server with one phone (macA) bound to phoneIP.
func benchServer(b *testing.B) *Server {
	b.Helper()
	dir, _, _ := accounts.Open("", []accounts.Account{{Extension: "5001", Username: "5001", Password: "Xq7pT2mK9vR4wZ8bN3cH", MAC: macA}})
	cfg := DefaultConfig()
	cfg.Timezone = "Europe/Paris"
	s, err := New(cfg, dir, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func benchRequest(path string) *http.Request {
	req := httptest.NewRequest("GET", path, nil)
	req.RemoteAddr = phoneIP
	req.Header.Set("User-Agent", ua4018)
	return req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, net.Addr(&net.TCPAddr{IP: net.ParseIP(piIP), Port: 80})))
}

// BenchmarkPhoneFile: one phone's poll for its own file (route, checks, render, write).
func BenchmarkPhoneFile(b *testing.B) {
	s := benchServer(b)
	req := benchRequest("/sipconfig-" + macA + ".txt")
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkRefusal: the cost of answering a guessed MAC during a flood from many addresses (each
// new source is tracked by the guard, whose table stays bounded).
func BenchmarkRefusal(b *testing.B) {
	s := benchServer(b)
	req := benchRequest("/sipconfig-00809F000001.txt")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		req.RemoteAddr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 5060).String()
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
	}
	if n := len(s.guard.sources); n > maxTrackedSources {
		b.Fatalf("guard tracks %d sources, cap %d", n, maxTrackedSources)
	}
}

// BenchmarkAlcatelTimezone: computing the DST string, done on every file served.
func BenchmarkAlcatelTimezone(b *testing.B) {
	loc, _ := time.LoadLocation("Europe/Paris")
	now := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := AlcatelTimezone(loc, now); err != nil {
			b.Fatal(err)
		}
	}
}
