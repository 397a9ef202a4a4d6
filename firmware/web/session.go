package web

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/deskphone/deskphone/firmware/atomicfile"
)

// SessionCookie is the login cookie; the __Host- prefix makes browsers refuse it unless it is
// Secure, for "/" and set by this host itself.
const SessionCookie = "__Host-deskphone"

const (
	sessionIdle   = 12 * time.Hour
	maxSessions   = 64
	kdfIterations = 60000
)

// admin is the page password, kept in data_dir/web-admin.json (mode 0600). A generated one is
// stored in clear so the console can print it beside the accounts, as the SIP passwords are;
// once the user sets their own, only its hash is kept.
type admin struct {
	path string

	mu        sync.Mutex
	checking  sync.Mutex
	Generated string `json:"generated,omitempty"`
	Salt      []byte `json:"salt"`
	Hash      []byte `json:"hash"`
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// openAdmin loads the password file, or generates a password on first start.
func openAdmin(path string, generate func() (string, error)) (*admin, error) {
	a := &admin{path: path}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, a); err != nil || len(a.Hash) == 0 {
			return nil, fmt.Errorf("the web password file %s is damaged (remove it to generate a new password): %v", path, err)
		}
		return a, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("read the web password: %w", err)
	}
	pw, err := generate()
	if err != nil {
		return nil, err
	}
	if err := a.set(pw, true); err != nil {
		return nil, err
	}
	return a, nil
}

func hashPassword(salt []byte, pw string) []byte {
	k, _ := pbkdf2.Key(sha256.New, pw, salt, kdfIterations, 32)
	return k
}

func (a *admin) set(pw string, generated bool) error {
	salt := make([]byte, 16)
	rand.Read(salt)
	a.mu.Lock()
	defer a.mu.Unlock()
	next := admin{Salt: salt, Hash: hashPassword(salt, pw)}
	if generated {
		next.Generated = pw
	}
	b, _ := json.MarshalIndent(&next, "", "  ")
	if err := os.MkdirAll(filepath.Dir(a.path), 0o750); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	if err := atomicfile.Write(a.path, b, 0o600); err != nil {
		return fmt.Errorf("store the web password: %w", err)
	}
	a.Generated, a.Salt, a.Hash = next.Generated, next.Salt, next.Hash
	return nil
}

func (a *admin) check(pw string) bool {
	a.mu.Lock()
	salt, hash := a.Salt, a.Hash
	a.mu.Unlock()
	if len(pw) > 1024 {
		return false
	}
	// One check at a time: guesses from many addresses queue instead of taking every core.
	a.checking.Lock()
	defer a.checking.Unlock()
	return subtle.ConstantTimeCompare(hashPassword(salt, pw), hash) == 1
}

// generated is the password made on first start, "" once the user changed it.
func (a *admin) generated() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.Generated
}

type session struct {
	csrf string
	seen time.Time
}

// sessions are the logged-in browsers, in memory: a restart logs everyone out.
type sessions struct {
	mu   sync.Mutex
	now  func() time.Time
	byID map[string]*session
}

func (ss *sessions) create() (id string, s *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	for k, v := range ss.byID {
		if now.Sub(v.seen) > sessionIdle {
			delete(ss.byID, k)
		}
	}
	if len(ss.byID) >= maxSessions { // drop the oldest
		var oldest string
		for k, v := range ss.byID {
			if oldest == "" || v.seen.Before(ss.byID[oldest].seen) {
				oldest = k
			}
		}
		delete(ss.byID, oldest)
	}
	id = randomString(32)
	s = &session{csrf: randomString(32), seen: now}
	ss.byID[id] = s
	return id, s
}

func (ss *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.byID[c.Value]
	if !ok {
		return nil
	}
	now := ss.now()
	if now.Sub(s.seen) > sessionIdle {
		delete(ss.byID, c.Value)
		return nil
	}
	s.seen = now
	return s
}

func (ss *sessions) drop(r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		ss.mu.Lock()
		delete(ss.byID, c.Value)
		ss.mu.Unlock()
	}
}

// dropAll logs every browser out (after a password change).
func (ss *sessions) dropAll() {
	ss.mu.Lock()
	clear(ss.byID)
	ss.mu.Unlock()
}

func sessionCookie(id string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: SessionCookie, Value: id, Path: "/", MaxAge: maxAge, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode}
}

// csrfOK: the request carries the session's CSRF token, in the X-CSRF-Token header (scripts on
// the pages) or the csrf form field.
func csrfOK(s *session, r *http.Request) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" && r.Header.Get("Content-Type") == "application/x-www-form-urlencoded" {
		got = r.PostFormValue("csrf")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

// StoredPassword reads the page password file: the generated password, or "" once the user has
// set their own (then changed is true).
func StoredPassword(path string) (pw string, changed bool, err error) {
	a, err := openAdmin(path, func() (string, error) { return "", os.ErrNotExist })
	if err != nil {
		return "", false, err
	}
	g := a.generated()
	return g, g == "", nil
}
