package web

import (
	"crypto/subtle"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/deskphone/deskphone/firmware/lanaddr"
)

// Ban rule for credentials (login password, bearer token): this many failures from one source
// within failWindow bans it for banFor.
const (
	maxFailures = 5
	failWindow  = 10 * time.Minute
	banFor      = 15 * time.Minute
)

// Ban is one source refused after too many wrong passwords or tokens (or, from a BanList, by
// another service).
type Ban struct {
	Service string    `json:"service"` // web, sip
	Source  string    `json:"source"`
	Until   time.Time `json:"until"`
	Reason  string    `json:"reason,omitempty"`
}

// BanList is another service's banned sources (the registrar's), listed and lifted on the
// status page.
type BanList interface {
	Bans() []Ban
	Unban(ip netip.Addr) bool
}

// bans counts credential failures per source and bans repeat offenders.
type bans struct {
	mu       sync.Mutex
	now      func() time.Time
	failures map[netip.Addr][]time.Time
	banned   map[netip.Addr]Ban
}

func newBans(now func() time.Time) *bans {
	return &bans{now: now, failures: map[netip.Addr][]time.Time{}, banned: map[netip.Addr]Ban{}}
}

// failed records one failure and reports whether the source is now banned.
func (b *bans) failed(ip netip.Addr, what string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	list := b.failures[ip][:0:0]
	for _, t := range b.failures[ip] {
		if now.Sub(t) < failWindow {
			list = append(list, t)
		}
	}
	list = append(list, now)
	b.failures[ip] = list
	if len(list) >= maxFailures {
		delete(b.failures, ip)
		b.banned[ip] = Ban{Service: "web", Source: ip.String(), Until: now.Add(banFor), Reason: fmt.Sprintf("%d wrong %s in %s", len(list), what, failWindow)}
		return true
	}
	if len(b.failures) > 10000 { // a flood of sources must not grow the table without bound
		clear(b.failures)
	}
	return false
}

// credentialFailed counts a wrong password or token from ip, and logs it (a ban as a warning).
func (s *Server) credentialFailed(ip netip.Addr, what string) {
	if s.bans.failed(ip, what) {
		s.log.Warn("web: source banned", "source", ip.String(), "reason", "wrong "+what)
		return
	}
	s.log.Info("web: wrong credentials", "source", ip.String(), "kind", what)
}

func (b *bans) isBanned(ip netip.Addr) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	ban, ok := b.banned[ip]
	if ok && b.now().After(ban.Until) {
		delete(b.banned, ip)
		return false
	}
	return ok
}

func (b *bans) list() []Ban {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []Ban{}
	for ip, ban := range b.banned {
		if b.now().After(ban.Until) {
			delete(b.banned, ip)
			continue
		}
		out = append(out, ban)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out
}

func (b *bans) unban(ip netip.Addr) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.banned[ip]
	delete(b.banned, ip)
	delete(b.failures, ip)
	return ok
}

func remoteIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// hostName is the Host header without its port, lower case.
func hostName(hostport string) string {
	h := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		h = hh
	}
	return strings.ToLower(strings.TrimSuffix(strings.Trim(h, "[]"), "."))
}

func isLoopbackName(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

// Hosts lists the names and addresses this Pi answers to: every interface address, the host
// name (and name.local), localhost and [web] names. The server certificate is issued for these,
// and a request naming any other host is refused (DNS rebinding).
func (s *Server) Hosts() []string {
	s.hostsMu.Lock()
	defer s.hostsMu.Unlock()
	now := time.Now()
	if now.Before(s.hostsUntil) {
		return s.hosts // every request checks its Host: don't ask the kernel each time
	}
	s.hostsUntil = now.Add(5 * time.Second)
	out := HostNames(s.cfg.Names)
	s.hosts = out
	return out
}

// HostNames is every name and address the Pi answers to: localhost, its addresses, its host
// name (and name.local), and names, the [web] names. The server certificate covers them all.
func HostNames(names []string) []string {
	out := []string{"localhost"}
	all, _ := lanaddr.All()
	for _, a := range all {
		if !a.IsLinkLocalUnicast() {
			out = append(out, a.String())
		}
	}
	if !slices.Contains(out, "127.0.0.1") {
		out = append(out, "127.0.0.1")
	}
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " /") {
		h = strings.ToLower(h)
		out = append(out, h)
		if !strings.Contains(h, ".") {
			out = append(out, h+".local")
		}
	}
	for _, n := range names {
		out = append(out, strings.ToLower(n))
	}
	return out
}

func (s *Server) hostAllowed(hostport string) bool {
	h := hostName(hostport)
	if h == "" {
		return false
	}
	if isLoopbackName(h) {
		return true
	}
	return slices.Contains(s.Hosts(), h)
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// fromBrowserElsewhere: the request says it comes from a page of another site.
func fromBrowserElsewhere(r *http.Request, scheme string) bool {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return true
	}
	o := r.Header.Get("Origin")
	return o != "" && !strings.EqualFold(o, scheme+"://"+r.Host)
}

// localScript: a program on this machine (deskphone ctl, curl), not a browser: loopback source,
// a loopback Host (no rebinding), and no Origin or cross-site fetch header a browser would add.
func localScript(r *http.Request) bool {
	ip := remoteIP(r)
	if !ip.IsValid() || !ip.IsLoopback() || !isLoopbackName(hostName(r.Host)) {
		return false
	}
	if r.Header.Get("Origin") != "" {
		return false
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "none":
		return true
	}
	return false
}

// jsonBody: a state-changing API request must say its body is JSON, so that a cross-site form
// (text/plain, urlencoded, multipart: no CORS preflight) can never pass for one.
func jsonBody(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return r.ContentLength == 0
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

func (s *Server) tokenOK(r *http.Request) (sent, ok bool) {
	got, has := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !has {
		return r.Header.Get("Authorization") != "", false
	}
	if s.cfg.Token == "" {
		return true, false
	}
	return true, subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(s.cfg.Token)) == 1
}

// securityHeaders are sent on every HTTPS answer.
func securityHeaders(h http.Header) {
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin") // (no-referrer would make browsers send "Origin: null" on our own forms)
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	h.Set("Strict-Transport-Security", "max-age=31536000")
}
