package registrar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/deskphone/deskphone/firmware/atomicfile"
)

// bindingsFile is the file in Config.DataDir that keeps bindings across restarts: an Alcatel phone
// re-registers only every 3600 s, so losing them would leave it unreachable for up to an hour.
const bindingsFile = "bindings.json"

// routeKeyFile keys the Record-Route tokens, so calls set up before a restart can still hang up.
const routeKeyFile = "registrar.key"

// loadRouteKey reads the Record-Route key from dataDir, making one on first start.
func loadRouteKey(dataDir string) (string, error) {
	path := filepath.Join(dataDir, routeKeyFile)
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= 32 {
		return string(b), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read registrar key %s: %w", path, err)
	}
	key := randomToken(24)
	if err := atomicfile.Write(path, []byte(key), 0o600); err != nil {
		return "", fmt.Errorf("save registrar key: %w", err)
	}
	return key, nil
}

type storeFile struct {
	Version  int       `json:"version"`
	Saved    time.Time `json:"saved"`
	Bindings []Binding `json:"bindings"`
}

// store writes the location service to disk. New or removed contacts are saved before the
// REGISTER is answered (group commit: concurrent REGISTERs share one fsync); refreshes that only
// move an expiry time are saved within refreshDelay.
type store struct {
	path string
	loc  *location
	log  *slog.Logger

	mu        sync.Mutex
	cond      *sync.Cond
	wanted    uint64 // highest location version someone waits for
	saved     uint64 // highest version on disk
	lastErr   error
	dirtyLazy bool
	kick      chan struct{}
}

// refreshDelay bounds how long an expiry-only change may stay unsaved.
const refreshDelay = 10 * time.Second

func newStore(dataDir string, loc *location, log *slog.Logger) *store {
	s := &store{loc: loc, log: log, kick: make(chan struct{}, 1)}
	if dataDir != "" {
		s.path = filepath.Join(dataDir, bindingsFile)
	}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// load reads the bindings file; a missing file is an empty location.
func (s *store) load(now time.Time) (int, error) {
	if s.path == "" {
		return 0, nil
	}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read bindings %s: %w", s.path, err)
	}
	var f storeFile
	if err := json.Unmarshal(b, &f); err != nil {
		// A damaged file must not stop the phone system: phones register again.
		s.log.Warn("bindings file is damaged; starting without bindings", "path", s.path, "err", err)
		return 0, nil
	}
	return s.loc.load(lasting(f.Bindings), now), nil
}

// saveNow waits until the location at version v is on disk.
func (s *store) saveNow(ctx context.Context, v uint64) error {
	if s.path == "" {
		return nil
	}
	s.mu.Lock()
	if v > s.wanted {
		s.wanted = v
	}
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.saved < v && ctx.Err() == nil {
		s.cond.Wait()
	}
	if s.saved < v {
		return fmt.Errorf("save bindings: %w", ctx.Err())
	}
	return s.lastErr
}

// saveLater marks an expiry-only change.
func (s *store) saveLater() {
	s.mu.Lock()
	s.dirtyLazy = true
	s.mu.Unlock()
}

// run is the single writer. It returns after a final save once ctx ends.
func (s *store) run(ctx context.Context) {
	if s.path == "" {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(refreshDelay)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.write()
			s.mu.Lock()
			s.saved = ^uint64(0) >> 1 // release any waiter
			s.cond.Broadcast()
			s.mu.Unlock()
			return
		case <-s.kick:
			s.write()
		case <-t.C:
			s.mu.Lock()
			lazy := s.dirtyLazy
			s.mu.Unlock()
			if lazy {
				s.write()
			}
		}
	}
}

func (s *store) write() {
	s.mu.Lock()
	s.dirtyLazy = false
	s.mu.Unlock()
	bs, v := s.loc.snapshot()
	bs = lasting(bs)
	b, err := json.MarshalIndent(storeFile{Version: 1, Saved: time.Now().UTC(), Bindings: bs}, "", " ")
	if err == nil {
		err = atomicfile.Write(s.path, append(b, '\n'), 0o600)
	}
	if err != nil {
		s.log.Error("cannot save bindings", "path", s.path, "err", err)
	}
	s.mu.Lock()
	if v > s.saved {
		s.saved = v
	}
	s.lastErr = err
	s.cond.Broadcast()
	s.mu.Unlock()
}
