package web

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deskphone/deskphone/firmware/certs"
)

// withLogin is a server with a page password, a token and a CA, as the service runs it.
func withLogin(t *testing.T) (*Server, *sig) {
	t.Helper()
	s, _, sg := setup(t, "s3cret-token-for-scripts")
	ca, err := certs.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := openAdmin(filepath.Join(t.TempDir(), "web-admin.json"), func() (string, error) { return "correct-horse-battery", nil })
	if err != nil {
		t.Fatal(err)
	}
	s.admin, s.cfg.Certs = a, ca
	s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	return s, sg
}

type req struct {
	method, path, body, remote, host string
	hdr                              map[string]string
	cookie                           *http.Cookie
}

func (q req) run(h http.Handler) *httptest.ResponseRecorder {
	r := httptest.NewRequest(q.method, q.path, strings.NewReader(q.body))
	r.RemoteAddr = q.remote
	if r.RemoteAddr == "" {
		r.RemoteAddr = "192.0.2.7:40000"
	}
	r.Host = q.host
	if r.Host == "" {
		r.Host = "127.0.0.1"
	}
	for k, v := range q.hdr {
		r.Header.Set(k, v)
	}
	if q.cookie != nil {
		r.AddCookie(q.cookie)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func loginAs(t *testing.T, s *Server, remote, pw string) *httptest.ResponseRecorder {
	t.Helper()
	return req{method: "POST", path: "/login", body: url.Values{"password": {pw}}.Encode(), remote: remote,
		hdr: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://127.0.0.1"}}.run(s.Handler())
}

func TestRebindingHostIsRefused(t *testing.T) {
	s, sg := withLogin(t)
	for _, q := range []req{
		{method: "GET", path: "/api/v1/status", remote: local, host: "attacker.example"},
		{method: "POST", path: "/api/v1/dial", body: `{"to":"5001"}`, remote: local, host: "attacker.example:80", hdr: map[string]string{"Content-Type": "application/json"}},
		{method: "GET", path: "/", remote: "192.0.2.7:1", host: "attacker.example"},
	} {
		if w := q.run(s.Handler()); w.Code != http.StatusMisdirectedRequest || !strings.Contains(w.Body.String(), "[web] names") {
			t.Errorf("%s %s Host %s: %d %s", q.method, q.path, q.host, w.Code, w.Body)
		}
	}
	// On plain HTTP the loopback API does not answer a rebound name either.
	if w := (req{method: "POST", path: "/api/v1/dial", body: `{"to":"5001"}`, remote: local, host: "attacker.example", hdr: map[string]string{"Content-Type": "application/json"}}).run(s.PlainHandler()); w.Code != http.StatusMisdirectedRequest {
		t.Errorf("plain HTTP rebinding: %d %s", w.Code, w.Body)
	}
	s.cfg.Names = []string{"phones.office.lan"}
	s.hostsUntil = time.Time{}
	if w := (req{method: "GET", path: "/api/v1/status", host: "phones.office.lan", hdr: map[string]string{"Authorization": "Bearer s3cret-token-for-scripts"}}).run(s.Handler()); w.Code != 200 {
		t.Errorf("a name from [web] names: %d %s", w.Code, w.Body)
	}
	if got := sg.list(); got != "" {
		t.Fatalf("a refused request reached the phone: %s", got)
	}
}

func TestCrossSitePostIsRefused(t *testing.T) {
	s, sg := withLogin(t)
	for name, q := range map[string]req{
		"text/plain from another site":      {hdr: map[string]string{"Content-Type": "text/plain", "Origin": "http://attacker.example"}},
		"text/plain without origin":         {hdr: map[string]string{"Content-Type": "text/plain"}},
		"json with Sec-Fetch-Site":          {hdr: map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}},
		"json with a foreign Origin":        {hdr: map[string]string{"Content-Type": "application/json", "Origin": "https://attacker.example"}},
		"form from another site with token": {hdr: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Authorization": "Bearer s3cret-token-for-scripts"}},
	} {
		q.method, q.path, q.body, q.remote = "POST", "/api/v1/dial", `{"to":"5001"}`, local
		for _, h := range []http.Handler{s.Handler(), s.PlainHandler()} {
			if w := q.run(h); w.Code != http.StatusForbidden && w.Code != http.StatusUnsupportedMediaType {
				t.Errorf("%s: %d %s", name, w.Code, w.Body)
			}
		}
	}
	if got := sg.list(); got != "" {
		t.Fatalf("a cross-site request dialled: %s", got)
	}
	// The same request from a script on this machine goes through.
	if w := (req{method: "POST", path: "/api/v1/dial", body: `{"to":"5001"}`, remote: local, hdr: map[string]string{"Content-Type": "application/json"}}).run(s.PlainHandler()); w.Code != 200 {
		t.Fatalf("local script: %d %s", w.Code, w.Body)
	}
}

func TestLoginSessionAndCSRF(t *testing.T) {
	s, sg := withLogin(t)
	if w := (req{method: "GET", path: "/"}).run(s.Handler()); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login" {
		t.Fatalf("page without login: %d %v", w.Code, w.Header())
	}
	w := loginAs(t, s, "192.0.2.7:1", "correct-horse-battery")
	if w.Code != http.StatusSeeOther {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	set := w.Header().Get("Set-Cookie")
	for _, attr := range []string{SessionCookie + "=", "Secure", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(set, attr) {
			t.Errorf("session cookie %q lacks %s", set, attr)
		}
	}
	cookie := w.Result().Cookies()[0]
	page := req{method: "GET", path: "/", cookie: cookie}.run(s.Handler())
	if page.Code != 200 || !strings.Contains(page.Body.String(), "Registered devices") {
		t.Fatalf("dashboard: %d", page.Code)
	}
	csrf := between(page.Body.String(), `data-csrf="`, `"`)
	dial := req{method: "POST", path: "/api/v1/dial", body: `{"to":"5001"}`, cookie: cookie, hdr: map[string]string{"Content-Type": "application/json", "Origin": "https://127.0.0.1"}}
	if w := dial.run(s.Handler()); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "CSRF") {
		t.Fatalf("change without CSRF token: %d %s", w.Code, w.Body)
	}
	dial.hdr["X-CSRF-Token"] = "wrong"
	if w := dial.run(s.Handler()); w.Code != http.StatusForbidden {
		t.Fatalf("wrong CSRF token: %d", w.Code)
	}
	if got := sg.list(); got != "" {
		t.Fatalf("refused requests dialled: %s", got)
	}
	dial.hdr["X-CSRF-Token"] = csrf
	if w := dial.run(s.Handler()); w.Code != 200 {
		t.Fatalf("with CSRF token: %d %s", w.Code, w.Body)
	}
	// The session is worth nothing on plain HTTP.
	if w := (req{method: "GET", path: "/api/v1/status", cookie: cookie}).run(s.PlainHandler()); w.Code != http.StatusUnauthorized {
		t.Fatalf("session on plain HTTP: %d", w.Code)
	}
}

func between(s, a, b string) string {
	_, rest, _ := strings.Cut(s, a)
	v, _, _ := strings.Cut(rest, b)
	return v
}

func TestBruteForceLoginAndWrongTokenAreBanned(t *testing.T) {
	s, _ := withLogin(t)
	for i := 0; i < maxFailures; i++ {
		if w := loginAs(t, s, "192.0.2.9:1", "guess"); w.Code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i, w.Code)
		}
	}
	if w := loginAs(t, s, "192.0.2.9:1", "correct-horse-battery"); w.Code != http.StatusForbidden {
		t.Fatalf("banned source logged in with the right password: %d", w.Code)
	}
	if w := loginAs(t, s, "192.0.2.10:1", "correct-horse-battery"); w.Code != http.StatusSeeOther {
		t.Fatalf("another source cannot log in: %d", w.Code)
	}
	for i := 0; i < maxFailures; i++ {
		w := req{method: "GET", path: "/api/v1/status", remote: "192.0.2.11:1", hdr: map[string]string{"Authorization": "Bearer wrong"}}.run(s.Handler())
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d", i, w.Code)
		}
	}
	good := req{method: "GET", path: "/api/v1/status", remote: "192.0.2.11:1", hdr: map[string]string{"Authorization": "Bearer s3cret-token-for-scripts"}}
	if w := good.run(s.Handler()); w.Code != http.StatusForbidden {
		t.Fatalf("banned token guesser still served: %d", w.Code)
	}
	var list []Ban
	w := req{method: "GET", path: "/api/v1/bans", remote: local}.run(s.Handler())
	json.Unmarshal(w.Body.Bytes(), &list)
	if len(list) != 2 || list[0].Source != "192.0.2.11" || list[1].Source != "192.0.2.9" {
		t.Fatalf("bans: %s", w.Body)
	}
	if w := (req{method: "DELETE", path: "/api/v1/bans/192.0.2.11", remote: local}).run(s.Handler()); w.Code != 200 {
		t.Fatalf("unban: %d %s", w.Code, w.Body)
	}
	if w := good.run(s.Handler()); w.Code != 200 {
		t.Fatalf("unbanned source: %d", w.Code)
	}
}

func TestPlainHTTPServesOnlyFilesCAAndRedirect(t *testing.T) {
	s, _ := withLogin(t)
	s.HandlePlain("GET /{file}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("file") != "sipconfig.txt" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "cfg")
	}))
	s.tlsLn = fakeAddrListener("0.0.0.0:8443")
	if w := (req{method: "GET", path: "/ca.crt"}).run(s.PlainHandler()); w.Code != 200 || !strings.Contains(w.Body.String(), "BEGIN CERTIFICATE") || w.Header().Get("X-Certificate-SHA256") != s.Fingerprint() {
		t.Fatalf("ca.crt: %d %v", w.Code, w.Header())
	}
	if w := (req{method: "GET", path: "/sipconfig.txt", host: "192.0.2.1"}).run(s.PlainHandler()); w.Body.String() != "cfg" {
		t.Fatalf("phone file: %d %s", w.Code, w.Body)
	}
	if w := (req{method: "GET", path: "/?x=1", host: "127.0.0.1"}).run(s.PlainHandler()); w.Code != http.StatusFound || w.Header().Get("Location") != "https://127.0.0.1:8443/?x=1" {
		t.Fatalf("redirect: %d %s", w.Code, w.Header().Get("Location"))
	}
	if w := (req{method: "GET", path: "/api/v1/status", hdr: map[string]string{"Authorization": "Bearer s3cret-token-for-scripts"}}).run(s.PlainHandler()); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "https://") {
		t.Fatalf("API over plain HTTP from the LAN: %d %s", w.Code, w.Body)
	}
}

type addrListener struct{ addr string }

func (l addrListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (l addrListener) Close() error              { return nil }
func (l addrListener) Addr() net.Addr {
	a, _ := net.ResolveTCPAddr("tcp", l.addr)
	return a
}

func fakeAddrListener(addr string) net.Listener { return addrListener{addr} }
