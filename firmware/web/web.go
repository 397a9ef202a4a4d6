// Package web is the phone's HTTP API: status, call control, call log and a server-sent event
// stream, with a bearer token for every /api/ path asked from another host.
package web

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deskphone/deskphone/firmware/calllog"
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

// Config is the [web] section.
type Config struct {
	Listen string // "0.0.0.0:80"
	Token  string // required from non-loopback hosts on /api/ paths
}

// Server is the HTTP API.
type Server struct {
	cfg   Config
	phone Phone // nil when the phone is disabled
	calls CallLog
	log   *slog.Logger
	mux   *http.ServeMux

	mu       sync.Mutex
	statuses map[string]func() any
	ln       net.Listener
}

// New builds the API; ph and calls may be nil when the phone is disabled.
func New(cfg Config, ph Phone, calls CallLog, log *slog.Logger) *Server {
	s := &Server{cfg: cfg, phone: ph, calls: calls, log: log, mux: http.NewServeMux(), statuses: map[string]func() any{}}
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
	return s
}

// Handle mounts another component's handler (provisioning files, pairing). Paths under /api/ get
// the same token rule as the phone's own.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// AddStatus adds a section to GET /api/v1/status, computed on each request.
func (s *Server) AddStatus(name string, f func() any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statuses[name] = f
}

// Handler is the whole API with the token check.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// Listen binds [web].listen; call before Run to fail early on a taken port.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("web API on %s: %w", s.cfg.Listen, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	return nil
}

// Addr is the bound address (after Listen).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return s.cfg.Listen
	}
	return s.ln.Addr().String()
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
		ln = s.ln
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		srv.Close() // event streams do not end by themselves
	}()
	s.log.Info("web API listening", "addr", ln.Addr().String())
	err := srv.Serve(ln)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") && !s.allowed(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="deskphone"`)
		if s.cfg.Token == "" {
			writeError(w, http.StatusForbidden, "the API only answers this machine until [web] token is set")
			return
		}
		writeError(w, http.StatusUnauthorized, "send Authorization: Bearer <token> ([web] token in the config)")
		return
	}
	s.mux.ServeHTTP(w, r)
}

// allowed: loopback needs nothing, other hosts the token.
func (s *Server) allowed(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return true
		}
	}
	if s.cfg.Token == "" {
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(s.cfg.Token)) == 1
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

// status is the phone snapshot plus each component's section and the machine's addresses.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{"registration": string(phone.RegDisabled), "call": "idle"}
	if s.phone != nil {
		b, _ := json.Marshal(s.phone.Status())
		json.Unmarshal(b, &out)
	}
	out["addresses"] = addresses()
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

// addresses lists the machine's non-loopback IP addresses.
func addresses() []string {
	out := []string{}
	ifs, err := net.InterfaceAddrs()
	if err != nil {
		return out
	}
	for _, a := range ifs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			out = append(out, n.IP.String())
		}
	}
	return out
}
