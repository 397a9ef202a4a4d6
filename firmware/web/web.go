// Package web is the Pi's web pages and HTTP API over HTTPS (status, call control, accounts,
// pairing, call log, settings, a server-sent event stream), behind a login for browsers and a
// bearer token for scripts. Plain HTTP carries only the phones' provisioning files, the local
// CA certificate and a redirect.
package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deskphone/deskphone/firmware/accounts"
	"github.com/deskphone/deskphone/firmware/calllog"
	"github.com/deskphone/deskphone/firmware/lanaddr"
	"github.com/deskphone/deskphone/firmware/phone"
)

// Phone is the call control the API drives.
type Phone interface {
	Status() phone.Snapshot
	Subscribe() (<-chan phone.Snapshot, func())
	Dial(ctx context.Context, to string) error
	Answer(ctx context.Context) error
	Hangup(ctx context.Context) error
	Hold(ctx context.Context) error
	Resume(ctx context.Context) error
	DTMF(ctx context.Context, digits string) error
	Transfer(ctx context.Context, to string) error
	TransferAttended(ctx context.Context) error
	SetDND(ctx context.Context, on bool) error
}

// CallLog reads the recent calls.
type CallLog interface {
	Recent(n int) ([]calllog.Entry, error)
}

// Certs is the local certificate authority (firmware/certs) serving the HTTPS certificate.
type Certs interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	Ensure(hosts []string) (bool, error)
	CAPEM() []byte
	Fingerprint() string
}

// Config is the [web] section.
type Config struct {
	Listen      string   // plain HTTP, "0.0.0.0:80": the phones' files, /ca.crt and a redirect
	HTTPSListen string   // "0.0.0.0:443": the pages and the API; "" = no HTTPS
	Token       string   // bearer token for scripts
	Names       []string // host names the Pi answers to besides its addresses and host name
	AdminFile   string   // where the page password is kept (data_dir/web-admin.json)
	Certs       Certs    // nil = no HTTPS
}

// Server is the web pages and the HTTP API.
type Server struct {
	cfg   Config
	phone Phone // nil when the phone is disabled
	calls CallLog
	log   *slog.Logger
	mux   *http.ServeMux // the API
	plain *http.ServeMux // files served on plain HTTP (the phones' provisioning)
	pages *http.ServeMux

	admin     *admin
	sessions  *sessions
	templates map[string]*template.Template
	dir       Directory
	sip       SIPInfo
	links     setupLinks

	configPath string
	restart    func()
	saveMu     sync.Mutex
	logs       *LogTail

	hostsMu    sync.Mutex
	hosts      []string
	hostsUntil time.Time
	bans       *bans

	mu       sync.Mutex
	statuses map[string]func() any
	banLists []BanList
	ln       net.Listener
	tlsLn    net.Listener
}

// New builds the server; ph and calls may be nil when the phone is disabled. With cfg.AdminFile
// set, the page password is read from it, or generated and stored on first start.
func New(cfg Config, ph Phone, calls CallLog, log *slog.Logger) (*Server, error) {
	s := &Server{cfg: cfg, phone: ph, calls: calls, log: log, mux: http.NewServeMux(), plain: http.NewServeMux(),
		pages: http.NewServeMux(), statuses: map[string]func() any{}, templates: parsePages(),
		sessions: &sessions{now: time.Now, byID: map[string]*session{}}, bans: newBans(time.Now)}
	if cfg.AdminFile != "" {
		a, err := openAdmin(cfg.AdminFile, func() (string, error) { return accounts.GeneratePassword(16) })
		if err != nil {
			return nil, err
		}
		s.admin = a
	}
	s.mux.HandleFunc("GET /api/v1/status", s.status)
	s.mux.HandleFunc("GET /api/v1/calls", s.callLog)
	s.mux.HandleFunc("GET /api/v1/events", s.events)
	s.mux.HandleFunc("POST /api/v1/dial", s.withNumber("5001", func(ctx context.Context, p Phone, to string) error { return p.Dial(ctx, to) }))
	s.mux.HandleFunc("POST /api/v1/answer", s.simple(func(ctx context.Context, p Phone) error { return p.Answer(ctx) }))
	s.mux.HandleFunc("POST /api/v1/hangup", s.simple(func(ctx context.Context, p Phone) error { return p.Hangup(ctx) }))
	s.mux.HandleFunc("POST /api/v1/resume", s.simple(func(ctx context.Context, p Phone) error { return p.Resume(ctx) }))
	s.mux.HandleFunc("POST /api/v1/hold", s.hold)
	s.mux.HandleFunc("POST /api/v1/dtmf", s.dtmf)
	s.mux.HandleFunc("POST /api/v1/transfer", s.withNumber("5003", func(ctx context.Context, p Phone, to string) error { return p.Transfer(ctx, to) }))
	s.mux.HandleFunc("POST /api/v1/transfer/attended", s.simple(func(ctx context.Context, p Phone) error { return p.TransferAttended(ctx) }))
	s.mux.HandleFunc("POST /api/v1/dnd", s.dnd)
	s.mux.HandleFunc("GET /api/v1/bans", s.listBans)
	s.mux.HandleFunc("DELETE /api/v1/bans/{source}", s.unban)
	s.mux.HandleFunc("POST /api/v1/web/password", s.changePassword)
	s.routePages()
	return s, nil
}

// Handle mounts another component's handler (pairing, accounts) on the API; paths under /api/ get
// the same access rules as the phone's own.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// HandlePage mounts another component's handler among the pages, on HTTPS only (the browser
// phone and its SIP WebSocket).
func (s *Server) HandlePage(pattern string, h http.Handler) { s.pages.Handle(pattern, h) }

// HandlePlain mounts a handler on plain HTTP only (the Alcatel provisioning files).
func (s *Server) HandlePlain(pattern string, h http.Handler) { s.plain.Handle(pattern, h) }

// AddStatus adds a section to GET /api/v1/status, computed on each request.
func (s *Server) AddStatus(name string, f func() any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statuses[name] = f
}

// AdminPassword is the page password generated on first start, or "" once the user changed it.
func (s *Server) AdminPassword() string {
	if s.admin == nil {
		return ""
	}
	return s.admin.generated()
}

// Handler is what HTTPS serves: the pages and the whole API.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveTLS) }

// PlainHandler is what plain HTTP serves: the phones' files, /ca.crt, the API for programs on
// this machine only, and a redirect to HTTPS for everything else.
func (s *Server) PlainHandler() http.Handler { return http.HandlerFunc(s.servePlain) }

// Listen binds [web] listen and https_listen, and issues the HTTPS certificate for the current
// addresses; call before Run to fail early on a taken port.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("web on %s: %w", s.cfg.Listen, err)
	}
	var tlsLn net.Listener
	if s.cfg.Certs != nil && s.cfg.HTTPSListen != "" {
		if _, err := s.cfg.Certs.Ensure(s.Hosts()); err != nil {
			ln.Close()
			return fmt.Errorf("web HTTPS certificate: %w", err)
		}
		tlsLn, err = net.Listen("tcp", s.cfg.HTTPSListen)
		if err != nil {
			ln.Close()
			hint := ""
			if errors.Is(err, os.ErrPermission) {
				hint = ` (ports under 1024 need root: set [web] https_listen, e.g. "127.0.0.1:8443")`
			}
			return fmt.Errorf("web HTTPS on %s: %w%s", s.cfg.HTTPSListen, err, hint)
		}
	}
	s.mu.Lock()
	s.ln, s.tlsLn = ln, tlsLn
	s.mu.Unlock()
	return nil
}

// Addr is the bound plain HTTP address (after Listen).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return s.cfg.Listen
	}
	return s.ln.Addr().String()
}

// HTTPSAddr is the bound HTTPS address (after Listen), "" without HTTPS.
func (s *Server) HTTPSAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tlsLn == nil {
		return ""
	}
	return s.tlsLn.Addr().String()
}

// URL is where a user on the LAN opens the pages.
func (s *Server) URL() string {
	addr := s.HTTPSAddr()
	if addr == "" {
		return ""
	}
	host, port, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = lanAddress()
	}
	if port == "443" {
		return "https://" + hostPort(host, "")
	}
	return "https://" + hostPort(host, port)
}

func hostPort(host, port string) string {
	if port == "" {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return net.JoinHostPort(host, port)
}

// CAURL is where plain HTTP serves the CA certificate, "" without HTTPS.
func (s *Server) CAURL() string {
	u := s.URL()
	if u == "" {
		return ""
	}
	host := hostName(strings.TrimPrefix(u, "https://"))
	if h, _, err := net.SplitHostPort(s.Addr()); err == nil {
		if ip := net.ParseIP(h); ip != nil && !ip.IsUnspecified() {
			host = h
		}
	}
	if p := portOf(s.Addr()); p != "" {
		return "http://" + hostPort(host, p) + "/ca.crt"
	}
	return "http://" + hostPort(host, "") + "/ca.crt"
}

// Fingerprint is the SHA-256 fingerprint of the local CA, "" without HTTPS.
func (s *Server) Fingerprint() string {
	if s.cfg.Certs == nil {
		return ""
	}
	return s.cfg.Certs.Fingerprint()
}

func (s *Server) httpServer(ctx context.Context, h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 16 << 10, BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
}

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	if ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	ln, tlsLn := s.ln, s.tlsLn
	s.mu.Unlock()
	srvs := []*http.Server{s.httpServer(ctx, s.PlainHandler())}
	lns := []net.Listener{ln}
	if tlsLn != nil {
		ts := s.httpServer(ctx, s.Handler())
		ts.TLSConfig = &tls.Config{GetCertificate: s.cfg.Certs.GetCertificate, MinVersion: tls.VersionTLS12}
		srvs = append(srvs, ts)
		lns = append(lns, tls.NewListener(tlsLn, ts.TLSConfig))
	}
	errc := make(chan error, len(srvs))
	for i := range srvs {
		go func() {
			err := srvs[i].Serve(lns[i])
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}()
	}
	s.log.Info("web listening", "http", ln.Addr().String(), "https", s.HTTPSAddr())
	renew := time.NewTicker(30 * time.Second)
	defer renew.Stop()
	var err error
	running := len(srvs)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err = <-errc:
			running--
			break loop
		case <-renew.C:
			if tlsLn == nil {
				continue
			}
			if issued, err := s.cfg.Certs.Ensure(s.Hosts()); err != nil {
				s.log.Warn("cannot renew the HTTPS certificate", "err", err)
			} else if issued {
				s.log.Info("issued a new HTTPS certificate for the current addresses", "hosts", strings.Join(s.Hosts(), ","))
			}
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, srv := range srvs {
		srv.Shutdown(sctx)
		srv.Close() // event streams do not end by themselves
	}
	for ; running > 0; running-- {
		if e := <-errc; err == nil {
			err = e
		}
	}
	return err
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	if p == "80" {
		return ""
	}
	return p
}

// serveTLS: every HTTPS request. The Host must be one of the Pi's own names (DNS rebinding);
// banned sources get nothing but local scripts.
func (s *Server) serveTLS(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	if !s.hostAllowed(r.Host) {
		writeError(w, http.StatusMisdirectedRequest, fmt.Sprintf("this phone does not answer to the name %q: open it by its address, or add the name to [web] names", hostName(r.Host)))
		return
	}
	script := localScript(r)
	if !script && s.bans.isBanned(remoteIP(r)) {
		writeError(w, http.StatusForbidden, "too many wrong passwords from this address: try again later")
		return
	}
	switch {
	case r.URL.Path == "/ca.crt":
		s.caCert(w, r)
	case strings.HasPrefix(r.URL.Path, "/api/"):
		s.serveAPI(w, r, "https", script)
	default:
		s.pages.ServeHTTP(w, r)
	}
}

// servePlain: every plain HTTP request.
func (s *Server) servePlain(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/ca.crt" {
		s.caCert(w, r)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		switch {
		case !s.hostAllowed(r.Host):
			writeError(w, http.StatusMisdirectedRequest, fmt.Sprintf("this phone does not answer to the name %q", hostName(r.Host)))
		case localScript(r):
			s.serveAPI(w, r, "http", true)
		case s.HTTPSAddr() == "":
			s.serveAPI(w, r, "http", false)
		default:
			writeError(w, http.StatusForbidden, "the API answers on "+s.redirectBase(r)+"/api/ (plain HTTP serves only this machine)")
		}
		return
	}
	if _, pat := s.plain.Handler(r); pat != "" {
		s.plain.ServeHTTP(w, r) // (ServeHTTP, not the handler found: it sets the path values)
		return
	}
	// Only the pages' own paths are redirected: any other path gets the same 404 as a file the
	// phones may not have, so that probing learns nothing.
	if _, pat := s.pages.Handler(r); s.HTTPSAddr() == "" || pat == "" || strings.Contains(r.URL.Path, "..") {
		http.NotFound(w, r)
		return
	}
	target := s.redirectBase(r) + r.URL.Path
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, target, http.StatusFound)
}

// redirectBase is https://<the name the browser used>[:port], or the Pi's address when the
// browser used a name the Pi does not answer to.
func (s *Server) redirectBase(r *http.Request) string {
	host := hostName(r.Host)
	if !s.hostAllowed(r.Host) {
		host = lanAddress()
	}
	port := portOf(s.HTTPSAddr())
	if port == "443" {
		port = ""
	}
	return "https://" + hostPort(host, port)
}

func (s *Server) caCert(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Certs == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/x-x509-ca-cert")
	w.Header().Set("Content-Disposition", `attachment; filename="deskphone-ca.crt"`)
	w.Header().Set("X-Certificate-SHA256", s.cfg.Certs.Fingerprint())
	w.Write(s.cfg.Certs.CAPEM())
}

// serveAPI applies the API's access rules, then routes. A request is let in with the bearer
// token, as a local script, or with a login session (plus its CSRF token for changes). Browser
// requests from other sites and non-JSON changes are refused before any of that.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, scheme string, script bool) {
	if fromBrowserElsewhere(r, scheme) {
		writeError(w, http.StatusForbidden, "cross-site request refused")
		return
	}
	if unsafeMethod(r.Method) && !jsonBody(r) {
		writeError(w, http.StatusUnsupportedMediaType, "send the body as Content-Type: application/json")
		return
	}
	ip := remoteIP(r)
	sent, ok := s.tokenOK(r)
	switch {
	case ok:
	case sent:
		s.credentialFailed(ip, "API tokens")
		w.Header().Set("WWW-Authenticate", `Bearer realm="deskphone"`)
		writeError(w, http.StatusUnauthorized, "wrong token ([web] token in the config)")
		return
	case script:
	default:
		sess := s.sessions.get(r)
		if sess == nil || scheme != "https" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="deskphone"`)
			if s.cfg.Token == "" && s.admin == nil {
				writeError(w, http.StatusForbidden, "the API only answers this machine until [web] token is set")
				return
			}
			writeError(w, http.StatusUnauthorized, "log in on the page, or send Authorization: Bearer <token> ([web] token in the config)")
			return
		}
		if unsafeMethod(r.Method) && !csrfOK(sess, r) {
			writeError(w, http.StatusForbidden, "missing or wrong CSRF token: reload the page")
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// AddBans shows another service's bans on the status page, with unban.
func (s *Server) AddBans(b BanList) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.banLists = append(s.banLists, b)
}

// allBans is the pages' own bans and every other service's.
func (s *Server) allBans() []Ban {
	out := s.bans.list()
	s.mu.Lock()
	lists := slices.Clone(s.banLists)
	s.mu.Unlock()
	for _, l := range lists {
		out = append(out, l.Bans()...)
	}
	return out
}

func (s *Server) listBans(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.allBans())
}

// unban lifts the bans of a source everywhere.
func (s *Server) unban(w http.ResponseWriter, r *http.Request) {
	ip, err := netip.ParseAddr(r.PathValue("source"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "not an IP address: "+r.PathValue("source"))
		return
	}
	ip = ip.Unmap()
	lifted := s.bans.unban(ip)
	s.mu.Lock()
	lists := slices.Clone(s.banLists)
	s.mu.Unlock()
	for _, l := range lists {
		lifted = l.Unban(ip) || lifted
	}
	if !lifted {
		writeError(w, http.StatusNotFound, ip.String()+" is not banned")
		return
	}
	s.log.Info("web: source unbanned", "source", ip.String())
	writeJSON(w, http.StatusOK, s.allBans())
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	if s.admin == nil {
		writeError(w, http.StatusServiceUnavailable, "the pages have no login")
		return
	}
	var b struct {
		Current string `json:"current"`
		New     string `json:"new"`
	}
	if _, ok := decode(w, r, &b); !ok {
		return
	}
	if !s.admin.check(b.Current) {
		s.credentialFailed(remoteIP(r), "passwords")
		writeError(w, http.StatusForbidden, "the current password is wrong")
		return
	}
	if len(b.New) < 10 || len(b.New) > 200 || strings.ContainsFunc(b.New, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		writeError(w, http.StatusBadRequest, "the new password must be 10 to 200 printable characters")
		return
	}
	if err := s.admin.set(b.New, false); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.sessions.dropAll()
	s.log.Info("web: page password changed", "source", remoteIP(r).String())
	writeJSON(w, http.StatusOK, map[string]string{"message": "password changed: log in again"})
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, apiError{Error: msg})
}

// result answers a call-control request.
func (s *Server) result(w http.ResponseWriter, err error) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, s.phone.Status())
	case errors.Is(err, phone.ErrBadNumber):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, phone.ErrNotNow):
		writeError(w, http.StatusConflict, err.Error())
	default:
		writeError(w, http.StatusServiceUnavailable, err.Error())
	}
}

// decode reads an optional JSON object into v: unknown fields, trailing data and bodies over 4 KiB
// are refused. It reports whether a body was present.
func decode(w http.ResponseWriter, r *http.Request, v any) (bool, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4097))
	if err != nil {
		writeError(w, http.StatusBadRequest, "cannot read the request body: "+err.Error())
		return false, false
	}
	if len(body) > 4096 {
		writeError(w, http.StatusRequestEntityTooLarge, "request body over 4 KiB")
		return false, false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return false, true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad JSON body: "+err.Error())
		return false, false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "bad JSON body: more than one value")
		return false, false
	}
	return true, true
}

func (s *Server) needPhone(w http.ResponseWriter) bool {
	if s.phone == nil {
		writeError(w, http.StatusServiceUnavailable, "the phone is disabled ([phone] enabled = false)")
		return false
	}
	return true
}

func (s *Server) simple(f func(context.Context, Phone) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.needPhone(w) {
			return
		}
		var none struct{}
		if _, ok := decode(w, r, &none); !ok {
			return
		}
		s.result(w, f(r.Context(), s.phone))
	}
}

type toBody struct {
	To *string `json:"to"`
}

// withNumber serves a request whose body names a number, {"to":"5001"}, and hands it to f.
func (s *Server) withNumber(example string, f func(context.Context, Phone, string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.needPhone(w) {
			return
		}
		var b toBody
		if _, ok := decode(w, r, &b); !ok {
			return
		}
		if b.To == nil {
			writeError(w, http.StatusBadRequest, `missing "to": send {"to":"`+example+`"}`)
			return
		}
		s.result(w, f(r.Context(), s.phone, *b.To))
	}
}

type onBody struct {
	On *bool `json:"on"`
}

// hold toggles, or sets with {"on":true|false}.
func (s *Server) hold(w http.ResponseWriter, r *http.Request) {
	if !s.needPhone(w) {
		return
	}
	var b onBody
	if _, ok := decode(w, r, &b); !ok {
		return
	}
	on := s.phone.Status().Call != "held"
	if b.On != nil {
		on = *b.On
	}
	if on {
		s.result(w, s.phone.Hold(r.Context()))
	} else {
		s.result(w, s.phone.Resume(r.Context()))
	}
}

func (s *Server) dnd(w http.ResponseWriter, r *http.Request) {
	if !s.needPhone(w) {
		return
	}
	var b onBody
	if _, ok := decode(w, r, &b); !ok {
		return
	}
	on := !s.phone.Status().DND
	if b.On != nil {
		on = *b.On
	}
	s.result(w, s.phone.SetDND(r.Context(), on))
}

func (s *Server) dtmf(w http.ResponseWriter, r *http.Request) {
	if !s.needPhone(w) {
		return
	}
	var b struct {
		Digits *string `json:"digits"`
	}
	if _, ok := decode(w, r, &b); !ok {
		return
	}
	if b.Digits == nil {
		writeError(w, http.StatusBadRequest, `missing "digits": send {"digits":"123#"}`)
		return
	}
	s.result(w, s.phone.DTMF(r.Context(), *b.Digits))
}

// status is the phone snapshot plus each component's section (AddStatus: the registrar, the
// machine's addresses, the sound card...).
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{"registration": string(phone.RegDisabled), "call": "idle"}
	if s.phone != nil {
		b, _ := json.Marshal(s.phone.Status())
		json.Unmarshal(b, &out)
	}
	s.mu.Lock()
	names := make([]string, 0, len(s.statuses))
	for n := range s.statuses {
		names = append(names, n)
	}
	sort.Strings(names)
	fs := make([]func() any, len(names))
	for i, n := range names {
		fs[i] = s.statuses[n]
	}
	s.mu.Unlock()
	for i, n := range names {
		out[n] = fs[i]()
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) callLog(w http.ResponseWriter, r *http.Request) {
	if s.calls == nil {
		writeJSON(w, http.StatusOK, []calllog.Entry{})
		return
	}
	n := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, http.StatusBadRequest, "limit must be a number from 1 to 10000")
			return
		}
	}
	calls, err := s.calls.Recent(n)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, calls)
}

// events streams every state change as a server-sent event "state" carrying the status JSON.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	if !s.needPhone(w) {
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming not supported")
		return
	}
	ch, stop := s.phone.Subscribe()
	defer stop()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keep.C:
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		case sn := <-ch:
			b, _ := json.Marshal(sn)
			if _, err := fmt.Fprintf(w, "event: state\ndata: %s\n\n", b); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// lanAddress is the Pi's first LAN address, where a user reaches the pages; 127.0.0.1 without one.
func lanAddress() string {
	if a, _ := lanaddr.OwnIPv4(); len(a) > 0 {
		return a[0].String()
	}
	return "127.0.0.1"
}
