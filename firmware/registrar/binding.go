package registrar

import (
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Binding ties an account's address-of-record to one contact (RFC 3261 §10.3).
type Binding struct {
	AOR        string    `json:"aor"`       // account username
	Extension  string    `json:"extension"` // account extension
	Contact    string    `json:"contact"`   // Contact URI as registered
	Source     string    `json:"source"`    // ip:port the REGISTER came from (RFC 3581)
	Transport  string    `json:"transport"` // UDP or TCP
	CallID     string    `json:"call_id"`
	CSeq       uint32    `json:"cseq"`
	Expires    time.Time `json:"expires"`
	Registered time.Time `json:"registered"` // first registration of this contact
	UserAgent  string    `json:"user_agent,omitempty"`
	Reachable  bool      `json:"reachable"`
	Instance   string    `json:"instance,omitempty"` // the Contact's +sip.instance (RFC 5626)

	key string // contactKey(Contact) when set by a REGISTER; "" for one read back from disk
}

// contactKey is contactKey(b.Contact), kept from the REGISTER that set it.
func (b *Binding) contactKey() string {
	if b.key != "" {
		return b.key
	}
	return contactKey(b.Contact)
}

// BindingStatus is one binding as the status API shows it.
type BindingStatus struct {
	AOR       string        `json:"aor"`
	Extension string        `json:"extension"`
	Contact   string        `json:"contact"`
	Source    string        `json:"source"`
	Transport string        `json:"transport"`
	ExpiresIn time.Duration `json:"-"`
	// ExpiresSeconds is ExpiresIn in whole seconds, for JSON.
	ExpiresSeconds int    `json:"expires_in"`
	Reachable      bool   `json:"reachable"`
	UserAgent      string `json:"user_agent"`
}

// contactUpdate is one Contact of a REGISTER, with its expiry already resolved (RFC 3261 §10.3
// step 7: the Contact "expires" parameter, else the Expires header, else the default).
type contactUpdate struct {
	URI      string
	Key      string // comparison form of URI
	Instance string // +sip.instance, "" if none
	Expires  time.Duration
}

// registerUpdate is the part of a REGISTER that changes bindings.
type registerUpdate struct {
	Wildcard  bool // Contact: * with Expires: 0
	Contacts  []contactUpdate
	CallID    string
	CSeq      uint32
	Source    string
	Transport string
	UserAgent string
}

// registerOutcome is what applyRegister decided.
type registerOutcome int

const (
	registerOK         registerOutcome = iota
	registerOutOfOrder                 // same Call-ID with a CSeq not higher: RFC 3261 §10.3 step 7
)

// applyRegister returns the account's bindings after u, and whether the set of contacts or their
// addresses changed (a pure refresh only moves expiry times). It never touches cur.
func applyRegister(cur []Binding, u registerUpdate, aor, ext string, maxContacts int, now time.Time) ([]Binding, bool, registerOutcome) {
	next := make([]Binding, 0, len(cur)+len(u.Contacts))
	for _, b := range cur {
		if b.Expires.After(now) {
			next = append(next, b)
		}
	}
	changed := len(next) != len(cur)
	if u.Wildcard {
		for _, b := range next {
			if b.CallID == u.CallID && u.CSeq <= b.CSeq {
				return cur, false, registerOutOfOrder
			}
		}
		return nil, len(next) > 0 || changed, registerOK
	}
	for _, c := range u.Contacts {
		idx := -1
		for i, b := range next {
			if b.contactKey() == c.Key {
				idx = i
				break
			}
		}
		if idx >= 0 && next[idx].CallID == u.CallID && u.CSeq <= next[idx].CSeq {
			return cur, false, registerOutOfOrder
		}
		if c.Expires == 0 {
			if idx >= 0 {
				next = append(next[:idx], next[idx+1:]...)
				changed = true
			}
			continue
		}
		if idx >= 0 {
			b := &next[idx]
			if b.Source != u.Source || b.Transport != u.Transport || b.Contact != c.URI {
				changed = true
			}
			b.Contact, b.key, b.Source, b.Transport = c.URI, c.Key, u.Source, u.Transport
			b.CallID, b.CSeq, b.UserAgent = u.CallID, u.CSeq, u.UserAgent
			b.Expires = now.Add(c.Expires)
			b.Reachable, b.Instance = true, c.Instance
			continue
		}
		next = append(next, Binding{
			AOR: aor, Extension: ext, Contact: c.URI, key: c.Key, Source: u.Source, Transport: u.Transport,
			CallID: u.CallID, CSeq: u.CSeq, Expires: now.Add(c.Expires), Registered: now,
			UserAgent: u.UserAgent, Reachable: true, Instance: c.Instance,
		})
		changed = true
	}
	// Too many contacts: replace the oldest registrations (Asterisk's remove_existing).
	for len(next) > maxContacts {
		oldest := 0
		for i, b := range next {
			if b.Registered.Before(next[oldest].Registered) {
				oldest = i
			}
		}
		next = append(next[:oldest], next[oldest+1:]...)
		changed = true
	}
	return next, changed, registerOK
}

// contactKey is the comparison form of a Contact URI (RFC 3261 §19.1.4, simplified): scheme,
// user and host are case-insensitive, URI parameters other than transport are ignored.
func contactKey(uri string) string {
	u := strings.TrimPrefix(uri, "<")
	i := indexParamStart(u)
	if i < 0 {
		return lowerASCII(u)
	}
	head, rest := u[:i], u[i:]
	t := indexFold(rest, "transport=")
	if t < 0 {
		return lowerASCII(head)
	}
	tr := rest[t+len("transport="):]
	if j := indexParamStart(tr); j >= 0 {
		tr = tr[:j]
	}
	const sep = ";transport="
	if !hasUpper(head) && !hasUpper(tr) && strings.HasPrefix(rest, sep) && len(rest) >= len(sep)+len(tr) && rest[len(sep):len(sep)+len(tr)] == tr {
		return u[:i+len(sep)+len(tr)] // already in comparison form: no copy
	}
	var b strings.Builder
	b.Grow(len(head) + len(sep) + len(tr))
	writeLower(&b, head)
	b.WriteString(sep)
	writeLower(&b, tr)
	return b.String()
}

// indexParamStart is the index of the first ';', '?' or '>' in s, or -1.
func indexParamStart(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ';' || c == '?' || c == '>' {
			return i
		}
	}
	return -1
}

// indexFold is strings.Index(strings.ToLower(s), sub) for a lower-case ASCII sub.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for ; j < len(sub); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				break
			}
		}
		if j == len(sub) {
			return i
		}
	}
	return -1
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' || c >= 0x80 {
			return true
		}
	}
	return false
}

// lowerASCII is strings.ToLower, without a copy when s has no upper-case letter.
func lowerASCII(s string) string {
	if !hasUpper(s) {
		return s
	}
	return strings.ToLower(s)
}

func writeLower(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			b.WriteString(strings.ToLower(s)) // non-ASCII letters: Unicode's lower case
			return
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
}

// location is the in-memory location service: account username → bindings.
type location struct {
	mu        sync.RWMutex
	byAOR     map[string][]Binding
	byContact map[string]string // contactKey → account, for in-dialog targets
	version   uint64            // increases on every change worth saving
	dirty     map[string]bool   // accounts changed since the store last took them

	// What the files on disk hold (store.go), for coverLocked: per account, the bindings of its
	// last record written (WebSocket ones are never saved); nil while unknown (no store, or a
	// write failed). writing: the accounts' records the store's write under way took (all of
	// them: writingAll).
	onDisk     map[string][]Binding
	writing    map[string][]Binding
	writingAll bool
}

func newLocation() *location {
	return &location{byAOR: map[string][]Binding{}, byContact: map[string]string{}, dirty: map[string]bool{}, writing: map[string][]Binding{}}
}

// setLocked stores the account's bindings, which were old, and keeps the contact index in step.
func (l *location) setLocked(aor string, old, next []Binding) {
	l.dirty[aor] = true
	for i := range old {
		if k := old[i].contactKey(); l.byContact[k] == aor {
			delete(l.byContact, k)
		}
	}
	if len(next) == 0 {
		delete(l.byAOR, aor)
		return
	}
	l.byAOR[aor] = next
	for i := range next {
		l.byContact[next[i].contactKey()] = aor
	}
}

func (l *location) get(aor string) []Binding {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return append([]Binding(nil), l.byAOR[aor]...)
}

// getAt is get with the location version it was read at.
func (l *location) getAt(aor string) ([]Binding, uint64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return append([]Binding(nil), l.byAOR[aor]...), l.version
}

// update runs f on the account's bindings under the lock and stores the result.
func (l *location) update(aor string, f func(cur []Binding) ([]Binding, bool)) (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := slices.Clone(l.byAOR[aor]) // f may reuse the slice
	next, changed := f(l.byAOR[aor])
	l.setLocked(aor, old, next)
	l.version++
	return l.version, changed
}

// all returns every binding, sorted by extension then contact.
func (l *location) all() []Binding {
	l.mu.RLock()
	var out []Binding
	for _, bs := range l.byAOR {
		out = append(out, bs...)
	}
	l.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Extension != out[j].Extension {
			return out[i].Extension < out[j].Extension
		}
		return out[i].Contact < out[j].Contact
	})
	return out
}

// snapshot returns all bindings and the version they represent.
func (l *location) snapshot() ([]Binding, uint64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []Binding
	for _, bs := range l.byAOR {
		out = append(out, bs...)
	}
	return out, l.version
}

// takeDirty returns the bindings of every account changed since the last call (nil for an
// account left without any), and the version they represent.
func (l *location) takeDirty() (map[string][]Binding, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.dirty) == 0 {
		return nil, l.version
	}
	out := make(map[string][]Binding, len(l.dirty))
	for aor := range l.dirty {
		out[aor] = slices.Clone(l.byAOR[aor])
		l.writing[aor] = out[aor]
	}
	clear(l.dirty)
	return out, l.version
}

// takeAll is snapshot for a full save: it also forgets which accounts changed.
func (l *location) takeAll() ([]Binding, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.dirty)
	l.writingAll = true
	var out []Binding
	for _, bs := range l.byAOR {
		out = append(out, bs...)
	}
	return out, l.version
}

// load replaces the accounts' bindings with bs (accounts absent from bs keep theirs), dropping
// expired ones, and makes version at least v. Loaded bindings are not dirty.
func (l *location) load(bs []Binding, aors []string, v uint64, now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, aor := range aors {
		l.setLocked(aor, l.byAOR[aor], nil)
	}
	n := 0
	for _, b := range bs {
		if b.AOR == "" || !b.Expires.After(now) {
			continue
		}
		old := l.byAOR[b.AOR]
		l.setLocked(b.AOR, old, append(slices.Clip(old), b))
		n++
	}
	l.version = max(l.version, v)
	clear(l.dirty)
	return n
}

// expire removes expired bindings and reports whether any went.
func (l *location) expire(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	gone := false
	for aor, bs := range l.byAOR {
		keep := bs[:0:0]
		for _, b := range bs {
			if b.Expires.After(now) {
				keep = append(keep, b)
			}
		}
		if len(keep) != len(bs) {
			gone = true
			l.setLocked(aor, bs, keep)
		}
	}
	if gone {
		l.version++
	}
	return gone
}

// setReachable records a qualify result for one binding.
func (l *location) setReachable(aor, contact string, ok bool) (changed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	bs := l.byAOR[aor]
	for i := range bs {
		if bs[i].Contact == contact && bs[i].Reachable != ok {
			bs[i].Reachable = ok
			changed = true
		}
	}
	return changed
}

// findByContact finds the binding whose Contact URI matches uri (used for in-dialog targets).
func (l *location) findByContact(uri string) (Binding, bool) {
	k := contactKey(uri)
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, b := range l.byAOR[l.byContact[k]] {
		if b.contactKey() == k {
			return b, true
		}
	}
	return Binding{}, false
}

// hasSource reports whether some binding was registered from this IP (a known phone).
func (l *location) hasSourceIP(ip string) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, bs := range l.byAOR {
		for _, b := range bs {
			if strings.HasPrefix(b.Source, ip+":") {
				return true
			}
		}
	}
	return false
}

// loaded records that the files on disk hold the bindings there are now (the store has just
// loaded them) and returns how many there are.
func (l *location) loaded() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.onDisk = make(map[string][]Binding, len(l.byAOR))
	n := 0
	for aor, bs := range l.byAOR {
		n += len(bs)
		if bs = lasting(bs); len(bs) > 0 {
			l.onDisk[aor] = slices.Clone(bs)
		}
	}
	return n
}

// wrote ends the store's write of what takeDirty (changed) or takeAll (all, by account) took:
// written to disk if ok, else what the disk holds is no longer known.
func (l *location) wrote(changed, all map[string][]Binding, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.writing)
	l.writingAll = false
	switch {
	case !ok:
		l.onDisk = nil
	case all != nil:
		l.onDisk = all
	case l.onDisk != nil:
		for aor, bs := range changed {
			if bs = lasting(bs); len(bs) > 0 {
				l.onDisk[aor] = bs
			} else {
				delete(l.onDisk, aor)
			}
		}
	}
}

// refreshSlack is how much sooner than a refresh asks for its binding may expire on disk for
// the refresh to be answered before its record is written (coverLocked): a tenth of the
// registration's interval, at most maxRefreshSlack.
func refreshSlack(interval time.Duration) time.Duration {
	return min(maxRefreshSlack, interval/10)
}

const maxRefreshSlack = 30 * time.Second

// coverLocked reports whether the files on disk hold the account's bindings next already, near
// enough for the REGISTER that leaves the account with next to be answered at once, before its
// own record is written (which follows with the next write, or within refreshDelay): the same
// contacts, from the same source and transport, each saved with an expiry no later than the new
// one and at most refreshSlack sooner, leaving at least minExpires; and if the account's record
// is being written at the moment, that record holds the same (a power cut may leave either).
// It then gives each of next's bindings the expiry it has on disk — what the 200 OK tells the
// phone — so that a power cut after the answer loses nothing. A pure refresh sent within
// seconds of the last (a phone retransmitting, or re-registering quickly) is such a one; a new
// contact, a removed one, a phone that moved, and a refresh at half the interval (an office
// phone's usual one) wait for the disk. The caller holds l.mu (inside update).
func (l *location) coverLocked(aor string, next []Binding, now time.Time, minExpires time.Duration) bool {
	if l.onDisk == nil || l.writingAll {
		return false
	}
	disk := l.onDisk[aor]
	if w, ok := l.writing[aor]; ok && !sameOnDisk(disk, lasting(w)) {
		return false
	}
	saved := 0
	for i := range next {
		b := &next[i]
		if isWS(b.Transport) {
			continue // never saved
		}
		d := bindingOf(disk, b.Contact)
		if d == nil || !sameRoute(d, b) || d.Expires.After(b.Expires) ||
			d.Expires.Before(b.Expires.Add(-refreshSlack(b.Expires.Sub(now)))) || d.Expires.Sub(now) < minExpires {
			return false
		}
		saved++
	}
	if saved != len(disk) {
		return false
	}
	for i := range next {
		if b := &next[i]; !isWS(b.Transport) {
			b.Expires = bindingOf(disk, b.Contact).Expires
		}
	}
	return true
}

// bindingOf is the binding of bs with the contact, nil if none.
func bindingOf(bs []Binding, contact string) *Binding {
	for i := range bs {
		if bs[i].Contact == contact {
			return &bs[i]
		}
	}
	return nil
}

// sameRoute reports whether two bindings of one contact reach the phone the same way.
func sameRoute(a, b *Binding) bool {
	return a.Source == b.Source && a.Transport == b.Transport && a.Instance == b.Instance && a.Extension == b.Extension
}

// byAccount groups bindings by account.
func byAccount(bs []Binding) map[string][]Binding {
	m := make(map[string][]Binding)
	for _, b := range bs {
		m[b.AOR] = append(m[b.AOR], b)
	}
	return m
}

// sameOnDisk reports whether two records of an account keep the same bindings as far as calls
// and expiries go (they may differ in Call-ID, CSeq, User-Agent).
func sameOnDisk(a, b []Binding) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if d := bindingOf(b, a[i].Contact); d == nil || !sameRoute(d, &a[i]) || !d.Expires.Equal(a[i].Expires) {
			return false
		}
	}
	return true
}
