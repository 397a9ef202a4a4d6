// Package accounts is the phone system's directory of SIP accounts: the ones written in the config
// file and the ones the appliance generated itself (first boot, Alcatel pairing), which it keeps in
// data_dir so they survive a restart.
package accounts

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deskphone/deskphone/firmware/atomicfile"
)

// Origin says where an account comes from.
type Origin string

const (
	OriginConfig    Origin = "config"    // written by the user in deskphone.toml
	OriginGenerated Origin = "generated" // made by the appliance on first boot
	OriginPaired    Origin = "paired"    // made when an Alcatel phone paired
)

// Account is one SIP account. It is reachable as sip:<Username>@… and as sip:<Extension>@….
type Account struct {
	Extension   string `json:"extension"`
	Username    string `json:"username"`
	Password    string `json:"password"`
	DisplayName string `json:"display_name"`
	MAC         string `json:"mac,omitempty"` // 12 upper-case hex digits, for a paired Alcatel phone
	// SRTP is the media encryption the registrar gives this account's phone: "" (follow the
	// caller), "off", "optional" (SRTP whenever it is on TLS) or "mandatory".
	SRTP    string    `json:"srtp,omitempty"`
	Origin  Origin    `json:"origin"`
	Created time.Time `json:"created"`
}

var (
	// ErrExists is returned by Add when the extension or username is already taken.
	ErrExists = errors.New("an account with that extension or username already exists")
	// ErrNotFound is returned by Remove for an unknown extension.
	ErrNotFound = errors.New("no such account")
	// ErrFromConfig is returned by Remove for an account that lives in the config file.
	ErrFromConfig = errors.New("the account is written in the config file; remove it there")
)

// Directory holds every account. It is safe for concurrent use.
type Directory struct {
	path string // JSON file of the accounts the appliance made; "" keeps them in memory only

	mu      sync.RWMutex
	static  []Account          // from the config file, never written
	dynamic []Account          // persisted in path
	byName  map[string]Account // Lookup's answers: every username and extension, first match wins
	subs    []chan struct{}
}

type fileFormat struct {
	Version  int       `json:"version"`
	Accounts []Account `json:"accounts"`
}

// Open loads the generated accounts from path (absent file = none) and merges the config's
// accounts, which win on a clash (the clashing generated account is dropped and reported).
func Open(path string, fromConfig []Account) (*Directory, []error, error) {
	d := &Directory{path: path}
	for _, a := range fromConfig {
		a.Origin = OriginConfig
		d.static = append(d.static, a)
	}
	d.reindexLocked()
	var warnings []error
	if path == "" {
		return d, nil, nil
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return d, nil, nil
	case err != nil:
		return nil, nil, fmt.Errorf("read accounts file %s: %w", path, err)
	}
	var f fileFormat
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, nil, fmt.Errorf("accounts file %s is damaged (%v); move it away to start with no generated accounts: %w", path, err, ErrDamaged)
	}
	for _, a := range f.Accounts {
		if d.takenLocked(a.Extension, a.Username) {
			warnings = append(warnings, fmt.Errorf("generated account %s (%s) clashes with the config file and is ignored", a.Extension, a.Username))
			continue
		}
		d.dynamic = append(d.dynamic, a)
	}
	d.reindexLocked()
	return d, warnings, nil
}

// reindexLocked rebuilds byName after a change of the lists: the registrar looks an account up
// several times per request, and a scan of an office's thousand accounts costs more than the
// rest of a REGISTER.
func (d *Directory) reindexLocked() {
	d.byName = make(map[string]Account, 2*(len(d.static)+len(d.dynamic)))
	for _, list := range [][]Account{d.static, d.dynamic} {
		for _, a := range list {
			for _, k := range []string{a.Username, a.Extension} {
				if _, taken := d.byName[k]; !taken && k != "" {
					d.byName[k] = a
				}
			}
		}
	}
}

// ErrDamaged says the accounts file could not be parsed.
var ErrDamaged = errors.New("damaged accounts file")

func (d *Directory) takenLocked(ext, user string) bool {
	for _, list := range [][]Account{d.static, d.dynamic} {
		for _, a := range list {
			if (ext != "" && (a.Extension == ext || a.Username == ext)) || (user != "" && (a.Username == user || a.Extension == user)) {
				return true
			}
		}
	}
	return false
}

// Lookup finds an account by username or extension.
func (d *Directory) Lookup(user string) (Account, bool) {
	if user == "" {
		return Account{}, false
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	a, ok := d.byName[user]
	return a, ok
}

// ByMAC finds the account paired with an Alcatel phone's MAC (any case, with or without colons).
func (d *Directory) ByMAC(mac string) (Account, bool) {
	m := NormalizeMAC(mac)
	if m == "" {
		return Account{}, false
	}
	return d.find(func(a Account) bool { return a.MAC == m })
}

// find returns the first account, config file first, that match accepts.
func (d *Directory) find(match func(Account) bool) (Account, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, list := range [][]Account{d.static, d.dynamic} {
		for _, a := range list {
			if match(a) {
				return a, true
			}
		}
	}
	return Account{}, false
}

// NormalizeMAC returns the 12 upper-case hex digits of mac, or "" if it is not a MAC.
func NormalizeMAC(mac string) string {
	m := strings.ToUpper(strings.NewReplacer(":", "", "-", "").Replace(mac))
	if len(m) != 12 {
		return ""
	}
	for _, c := range m {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return ""
		}
	}
	return m
}

// All returns every account, sorted by extension.
func (d *Directory) All() []Account {
	d.mu.RLock()
	out := make([]Account, 0, len(d.static)+len(d.dynamic))
	out = append(out, d.static...)
	out = append(out, d.dynamic...)
	d.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Extension < out[j].Extension })
	return out
}

// Add stores a new generated or paired account and persists it before returning.
func (d *Directory) Add(a Account) error {
	if a.Extension == "" || a.Username == "" || a.Password == "" {
		return fmt.Errorf("account needs an extension, a username and a password")
	}
	if a.Origin == "" || a.Origin == OriginConfig {
		a.Origin = OriginGenerated
	}
	if a.Created.IsZero() {
		a.Created = time.Now().UTC()
	}
	return d.update(func(cur []Account) ([]Account, error) {
		if d.takenLocked(a.Extension, a.Username) {
			return nil, fmt.Errorf("add account %s: %w", a.Extension, ErrExists)
		}
		return append(slices.Clone(cur), a), nil
	})
}

// Remove deletes a generated or paired account by extension and persists the change.
func (d *Directory) Remove(ext string) error {
	return d.update(func(cur []Account) ([]Account, error) {
		if slices.ContainsFunc(d.static, func(a Account) bool { return a.Extension == ext }) {
			return nil, fmt.Errorf("remove account %s: %w", ext, ErrFromConfig)
		}
		idx := slices.IndexFunc(cur, func(a Account) bool { return a.Extension == ext })
		if idx < 0 {
			return nil, fmt.Errorf("remove account %s: %w", ext, ErrNotFound)
		}
		return append(append([]Account(nil), cur[:idx]...), cur[idx+1:]...), nil
	})
}

// update replaces the generated and paired accounts with what change makes of them, persists
// them before anyone sees them, and tells the subscribers. change runs with d.mu held.
func (d *Directory) update(change func(cur []Account) ([]Account, error)) error {
	d.mu.Lock()
	next, err := change(d.dynamic)
	if err == nil {
		err = d.saveLocked(next)
	}
	if err == nil {
		d.dynamic = next
		d.reindexLocked()
	}
	d.mu.Unlock()
	if err != nil {
		return err
	}
	d.notify()
	return nil
}

func (d *Directory) saveLocked(list []Account) error {
	if d.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(fileFormat{Version: 1, Accounts: list}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode accounts: %w", err)
	}
	if err := atomicfile.Write(d.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save accounts: %w", err)
	}
	return nil
}

// NextFreeExtension returns the lowest numeric extension >= start that no account uses.
func (d *Directory) NextFreeExtension(start string) (string, error) {
	n, err := strconv.Atoi(start)
	if err != nil || n < 0 {
		return "", fmt.Errorf("first extension %q is not a number", start)
	}
	width := len(start)
	d.mu.RLock()
	defer d.mu.RUnlock()
	for i := n; i < n+100000; i++ {
		ext := fmt.Sprintf("%0*d", width, i)
		if !d.takenLocked(ext, ext) {
			return ext, nil
		}
	}
	return "", fmt.Errorf("no free extension from %s on", start)
}

// Changed returns a channel that receives a value (without blocking the writer) after every
// change, so the registrar and the provisioning server can react at once.
func (d *Directory) Changed() <-chan struct{} {
	ch := make(chan struct{}, 1)
	d.mu.Lock()
	d.subs = append(d.subs, ch)
	d.mu.Unlock()
	return ch
}

func (d *Directory) notify() {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, ch := range d.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// passwordAlphabet avoids look-alike characters (0/O, 1/l/I) so a password can be typed on a
// phone keypad or read from a console without mistakes.
const passwordAlphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// GeneratePassword returns a password of n characters (at least 16) from crypto/rand.
func GeneratePassword(n int) (string, error) {
	if n < 16 {
		n = 16
	}
	var b strings.Builder
	max := big.NewInt(int64(len(passwordAlphabet)))
	for i := 0; i < n; i++ {
		k, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("generate password: %w", err)
		}
		b.WriteByte(passwordAlphabet[k.Int64()])
	}
	return b.String(), nil
}
