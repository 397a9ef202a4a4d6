package registrar

import (
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"sync"
	"time"
)

// nonceState is what the registrar remembers of one challenge it issued.
type nonceState struct {
	issued time.Time
	source string // IP address the challenge was sent to
	nc     uint64 // highest nonce-count accepted so far (RFC 2617 §3.2.2)
	used   bool   // accepted once without qop
}

// nonceTable holds outstanding nonces, at most max of them; the oldest is forgotten first, so a
// flood of challenges costs a bounded amount of memory (a forgotten nonce just gets stale=true).
type nonceTable struct {
	mu       sync.Mutex
	lifetime time.Duration
	max      int
	m        map[string]*nonceState
	order    []string // FIFO of issued nonces; may hold already-deleted ones
	head     int
}

func newNonceTable(lifetime time.Duration, max int) *nonceTable {
	return &nonceTable{lifetime: lifetime, max: max, m: make(map[string]*nonceState, max)}
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux (Go ≥ 1.24 panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// issue creates a fresh 128-bit nonce bound to the source IP.
func (t *nonceTable) issue(source string, now time.Time) string {
	n := randomToken(16)
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.m) >= t.max && t.head < len(t.order) {
		delete(t.m, t.order[t.head])
		t.order[t.head] = ""
		t.head++
	}
	if t.head > len(t.order)/2 && t.head > 1024 {
		t.order = append([]string(nil), t.order[t.head:]...)
		t.head = 0
	}
	t.m[n] = &nonceState{issued: now, source: source}
	t.order = append(t.order, n)
	return n
}

func (t *nonceTable) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// nonceVerdict is the outcome of checking a nonce whose digest was already found correct.
type nonceVerdict int

const (
	nonceOK     nonceVerdict = iota
	nonceStale               // unknown, expired or from another address: challenge again with stale=true
	nonceReplay              // nonce-count not increasing: a replayed request
)

// use checks and consumes a nonce for one request (RFC 2617 §3.2.2: nc must increase).
func (t *nonceTable) use(nonce, source, qop, ncHex string, now time.Time) nonceVerdict {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.m[nonce]
	if !ok || st.source != source {
		return nonceStale
	}
	if now.Sub(st.issued) > t.lifetime {
		delete(t.m, nonce)
		return nonceStale
	}
	if qop == "" {
		if st.used {
			return nonceReplay
		}
		st.used = true
		return nonceOK
	}
	nc, err := strconv.ParseUint(ncHex, 16, 64)
	if err != nil || len(ncHex) != 8 || nc <= st.nc {
		return nonceReplay
	}
	st.nc = nc
	return nonceOK
}
