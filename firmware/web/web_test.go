package web

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskphone/deskphone/firmware/calllog"
	"github.com/deskphone/deskphone/firmware/phone"
)

// sig records what the phone asked the signalling to do.
type sig struct {
	mu   sync.Mutex
	acts []string
}

func (s *sig) add(a string)               { s.mu.Lock(); s.acts = append(s.acts, a); s.mu.Unlock() }
func (s *sig) list() string               { s.mu.Lock(); defer s.mu.Unlock(); return strings.Join(s.acts, ",") }
func (s *sig) Dial(id, to, of string)     { s.add("dial " + to) }
func (s *sig) Alert(id string)            { s.add("alert") }
func (s *sig) Answer(id string)           { s.add("answer " + id) }
func (s *sig) Reject(id string, code int) { s.add("reject") }
func (s *sig) Hangup(id string)           { s.add("hangup " + id) }
func (s *sig) Hold(id string, on bool)    { s.add("hold") }
func (s *sig) SendDTMF(id, d string)      { s.add("dtmf " + d) }
func (s *sig) Transfer(id, to string)     { s.add("transfer " + to) }

func (s *sig) AttendedTransfer(id, with string) { s.add("transfer " + id + " to " + with) }

func setup(t *testing.T, token string) (*Server, *phone.Phone, *sig) {
	t.Helper()
	sg := &sig{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := phone.New(phone.Config{}, sg, nil, nil, nil, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	l, _ := calllog.Open(t.TempDir(), 0)
	l.Append(calllog.Entry{Direction: "in", Peer: "5001", Outcome: "missed"})
	s, err := New(Config{Token: token}, p, l, log)
	if err != nil {
		t.Fatal(err)
	}
	return s, p, sg
}

func do(s *Server, method, path, body, remote, auth string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = remote
	r.Host = "127.0.0.1"
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	return w
}

const local = "127.0.0.1:40000"

func TestTokenRule(t *testing.T) {
	s, _, _ := setup(t, "s3cret")
	s.Handle("GET /api/v1/pairing", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	s.HandlePlain("GET /sipconfig.txt", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "cfg") }))
	cases := []struct {
		path, remote, auth string
		want               int
	}{
		{"/api/v1/status", local, "", 200},
		{"/api/v1/status", "[::1]:5000", "", 200},
		{"/api/v1/status", "192.0.2.7:5000", "", 401},
		{"/api/v1/status", "192.0.2.7:5000", "Bearer wrong", 401},
		{"/api/v1/status", "192.0.2.7:5000", "Bearer s3cret", 200},
		{"/api/v1/pairing", "192.0.2.7:5000", "", 401},
		{"/api/v1/pairing", "192.0.2.7:5000", "Bearer s3cret", 200},
		{"/api/v1/../v1/status", "192.0.2.7:5000", "", 401},
		{"/sipconfig.txt", "192.0.2.7:5000", "", 404}, // the phones' files are on plain HTTP only
	}
	for _, c := range cases {
		if w := do(s, "GET", c.path, "", c.remote, c.auth); w.Code != c.want {
			t.Errorf("GET %s from %s auth %q: %d, want %d (%s)", c.path, c.remote, c.auth, w.Code, c.want, w.Body)
		}
	}
	r := httptest.NewRequest("GET", "/sipconfig.txt", nil)
	r.RemoteAddr = "192.0.2.7:5000"
	w := httptest.NewRecorder()
	s.PlainHandler().ServeHTTP(w, r)
	if w.Code != 200 || w.Body.String() != "cfg" {
		t.Errorf("phone file on plain HTTP: %d %s", w.Code, w.Body)
	}
	s2, _, _ := setup(t, "")
	if w := do(s2, "GET", "/api/v1/status", "", "192.0.2.7:5000", ""); w.Code != 403 {
		t.Errorf("no token configured: remote got %d", w.Code)
	}
}

func TestBadRequestsChangeNothing(t *testing.T) {
	s, p, sg := setup(t, "")
	for _, c := range []struct{ path, body, want string }{
		{"/api/v1/dial", `{"to":"50\r\n01"}`, "bad number"},
		{"/api/v1/dial", `{"to":"5001","x":1}`, "unknown field"},
		{"/api/v1/dial", `{"to":`, "bad JSON"},
		{"/api/v1/dial", `{}`, `missing \"to\"`},
		{"/api/v1/dial", `{"to":"5001"}{"to":"5002"}`, "more than one"},
		{"/api/v1/dtmf", `{"digits":"12x"}`, "not a DTMF digit"},
		{"/api/v1/transfer", `{"to":"5003"}`, "not possible now"},
		{"/api/v1/answer", ``, "not possible now"},
	} {
		w := do(s, "POST", c.path, c.body, local, "")
		if w.Code != 400 && w.Code != 409 {
			t.Errorf("POST %s %q: %d", c.path, c.body, w.Code)
		}
		if !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("POST %s %q: %s, want %q", c.path, c.body, w.Body, c.want)
		}
	}
	if got := sg.list(); got != "" {
		t.Fatalf("bad requests reached the signalling: %s", got)
	}
	if st := p.Status(); st.Call != "idle" {
		t.Fatalf("state changed to %s", st.Call)
	}
	if w := do(s, "GET", "/api/v1/dial", "", local, ""); w.Code != 405 {
		t.Errorf("GET on POST path: %d", w.Code)
	}
}

func TestDialHangupAndEvents(t *testing.T) {
	s, _, sg := setup(t, "")
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL + "/api/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	states := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var sn phone.Snapshot
				json.Unmarshal([]byte(d), &sn)
				states <- sn.Call
			}
		}
	}()
	want := func(call string) {
		t.Helper()
		for {
			select {
			case got := <-states:
				if got == call {
					return
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("no %s event", call)
			}
		}
	}
	want("idle")
	w := do(s, "POST", "/api/v1/dial", `{"to":"5001"}`, local, "")
	if w.Code != 200 {
		t.Fatalf("dial: %d %s", w.Code, w.Body)
	}
	want("dialing")
	if w := do(s, "POST", "/api/v1/hangup", ``, local, ""); w.Code != 200 {
		t.Fatalf("hangup: %d %s", w.Code, w.Body)
	}
	want("idle")
	if got := sg.list(); got != "dial 5001,hangup out-1" {
		t.Fatalf("signalling got %s", got)
	}
	var st map[string]any
	json.Unmarshal(do(s, "GET", "/api/v1/status", "", local, "").Body.Bytes(), &st)
	if st["registration"] != "disabled" || st["call"] != "idle" {
		t.Fatalf("status %v", st)
	}
	var calls []calllog.Entry
	json.Unmarshal(do(s, "GET", "/api/v1/calls", "", local, "").Body.Bytes(), &calls)
	if len(calls) != 1 || calls[0].Peer != "5001" {
		t.Fatalf("calls %+v", calls)
	}
}

// Hostile bodies and paths never crash the API or make it fail with a server error.
func FuzzAPI(f *testing.F) {
	f.Add("POST", "/api/v1/dial", `{"to":"5001"}`)
	f.Add("POST", "/api/v1/dtmf", `{"digits":"1\u0000"}`)
	f.Add("POST", "/api/v1/hold", `{"on":"yes"}`)
	f.Add("GET", "/api/v1/calls?limit=-1", ``)
	sg := &sig{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := phone.New(phone.Config{}, sg, nil, nil, nil, log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	s, _ := New(Config{}, p, nil, log)
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		r, err := http.NewRequest(method, "http://x"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		r.RemoteAddr = local
		r.Host = "127.0.0.1"
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		if w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s %q: %d %s", method, path, body, w.Code, w.Body)
		}
	})
}
