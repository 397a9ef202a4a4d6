package provisioning

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskphone/deskphone/firmware/accounts"
)

const (
	ua4018  = "Alcatel IP Touch 4018/2.01.10"
	ua4008  = "Alcatel IP Touch 4008/2.00.81"
	macA    = "00809F5607AE"
	macB    = "00809F7DF581"
	phoneIP = "192.168.1.81:1025"
	piIP    = "192.168.1.82"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// logBuffer collects the server's log lines so tests can check what a user is told.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// rig is a provisioning server over a real accounts directory in a temporary data folder.
type rig struct {
	t       *testing.T
	data    string
	fwDir   string
	cfg     Config
	config  []accounts.Account
	dir     *accounts.Directory
	srv     *Server
	clock   *fakeClock
	logs    *logBuffer
	handler http.Handler
}

func newRig(t *testing.T, mutate func(*Config)) *rig {
	t.Helper()
	data := t.TempDir()
	fw := filepath.Join(data, "boot", "alcatel")
	if err := os.MkdirAll(fw, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.FirmwareDir = fw
	cfg.StatePath = filepath.Join(data, "alcatel.json")
	cfg.Realm = "deskphone"
	cfg.Timezone = "Europe/Paris"
	if mutate != nil {
		mutate(&cfg)
	}
	r := &rig{t: t, data: data, fwDir: fw, cfg: cfg, clock: &fakeClock{t: time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)}, logs: &logBuffer{}}
	r.restart()
	return r
}

// restart reopens the accounts directory and the server from disk, as after a reboot.
func (r *rig) restart() {
	r.t.Helper()
	dir, warns, err := accounts.Open(filepath.Join(r.data, "accounts.json"), r.config)
	if err != nil || len(warns) > 0 {
		r.t.Fatal(err, warns)
	}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := New(r.cfg, dir, log, WithClock(r.clock.Now), WithInterfaceAddrs(func() ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr(piIP)}, nil
	}))
	if err != nil {
		r.t.Fatal(err)
	}
	r.dir, r.srv, r.handler = dir, srv, srv
}

func (r *rig) writeFirmware(names ...string) {
	r.t.Helper()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(r.fwDir, n), []byte("firmware "+n), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
}

// get sends one request as the phone at src would, reaching the Pi at piIP:80.
func (r *rig) get(method, path, src, ua string) *http.Response {
	r.t.Helper()
	u, err := url.ParseRequestURI(path)
	if err != nil { // net/http answers 400 itself before any handler runs
		return &http.Response{StatusCode: http.StatusBadRequest, Body: io.NopCloser(strings.NewReader(""))}
	}
	req := httptest.NewRequest(method, "http://"+piIP+"/", nil)
	req.URL, req.RequestURI = u, path
	req.RemoteAddr = src
	if ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	local := &net.TCPAddr{IP: net.ParseIP(piIP), Port: 80}
	req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, net.Addr(local)))
	w := httptest.NewRecorder()
	r.handler.ServeHTTP(w, req)
	return w.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fetchConfig fetches and parses a phone's file, failing the test unless it is served.
func (r *rig) fetchConfig(path, src, ua string) File {
	r.t.Helper()
	res := r.get("GET", path, src, ua)
	b := body(r.t, res)
	if res.StatusCode != http.StatusOK {
		r.t.Fatalf("GET %s from %s: %d %q\nlog:\n%s", path, src, res.StatusCode, b, r.logs)
	}
	f, err := Parse([]byte(b))
	if err != nil {
		r.t.Fatalf("served %s does not parse: %v\n%s", path, err, b)
	}
	return f
}

func (r *rig) want404(path, src, ua string) {
	r.t.Helper()
	res := r.get("GET", path, src, ua)
	if b := body(r.t, res); res.StatusCode != http.StatusNotFound || b != "404 page not found\n" {
		r.t.Fatalf("GET %s from %s = %d %q, want the common 404", path, src, res.StatusCode, b)
	}
}

func mustGet(t *testing.T, f File, section, key string) string {
	t.Helper()
	v, ok := f.Get(section, key)
	if !ok {
		t.Fatalf("[%s] %s missing; keys: %v", section, key, f.Keys())
	}
	return v
}
