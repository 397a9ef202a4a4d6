package registrar

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/deskphone/deskphone/firmware/atomicfile"
	"github.com/deskphone/deskphone/firmware/sipid"
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
	key := sipid.Token(24)
	if err := atomicfile.Write(path, []byte(key), 0o600); err != nil {
		return "", fmt.Errorf("save registrar key: %w", err)
	}
	return key, nil
}

type storeFile struct {
	Version int       `json:"version"`
	Saved   time.Time `json:"saved"`
	// Seq is the location version the file holds; journal records up to it are already in it.
	Seq      uint64    `json:"seq,omitempty"`
	Bindings []Binding `json:"bindings"`
}

// journalFile holds, one JSON line each, the bindings of every account changed since the
// bindings file was last written.
const journalFile = "bindings.journal"

// journalRecord is one line of the journal: an account's whole set of bindings after a change.
type journalRecord struct {
	Seq      uint64    `json:"seq"`
	AOR      string    `json:"aor"`
	Bindings []Binding `json:"bindings"`
}

// store keeps the location service on disk as a bindings file plus a journal. Every REGISTER
// that changes a binding, a refresh included, is answered only once its account's record is
// appended to the journal and fsynced (group commit: the REGISTERs waiting together share one
// append and one fsync), so a crash or power cut after the 200 OK loses nothing. When the
// journal grows to compactFactor times the bindings file, the whole location is written to it
// (atomically) and the journal starts again. Expiries found by housekeeping are saved within
// refreshDelay.
type store struct {
	path        string
	journalPath string
	loc         *location
	log         *slog.Logger

	mu        sync.Mutex
	cond      *sync.Cond
	wanted    uint64 // highest location version someone waits for
	saved     uint64 // highest version on disk
	lastErr   error
	dirtyLazy bool
	kick      chan struct{}
	waiting   []saveWaiter // afterSave callbacks of versions not on disk yet

	// owned by run
	journal      *os.File
	journalSize  int64 // where the next record goes: the records' end
	journalAlloc int64 // the open journal's size: zeros from journalSize on
	snapshotSize int64
	needFull     bool // the journal is unusable or stale: write the whole location next
	lastWrite    time.Time
	gap          time.Duration // between the starts of two writes at least (syncGap)
	buf          []byte
}

// syncGap is the least time between two writes of the bindings (each ends in an fsync). A write
// asked for sooner waits for the rest of the gap, so under load the REGISTERs of the gap share
// one append and one fsync (and each 200 OK still waits for its own). 5 ms halved the fsyncs at
// full rate but every REGISTER then waited up to 5 ms for its answer, which bounded the rate
// with 200 in flight; 1 ms keeps most of the batching. An office's occasional REGISTER finds the
// last write long past and is written at once.
const syncGap = 1 * time.Millisecond

// refreshDelay bounds how long an expiry found by housekeeping may stay unsaved.
const refreshDelay = 10 * time.Second

// compactFactor is how many times the bindings file's size the journal may grow to before it
// is folded in: each fold rewrites every binding, so the higher, the rarer (a start replays the
// journal, a few ms for an office's).
const compactFactor = 4

// minCompact is the journal size below which it is never folded into the bindings file.
const minCompact = 64 << 10

func newStore(dataDir string, loc *location, log *slog.Logger) *store {
	s := &store{loc: loc, log: log, kick: make(chan struct{}, 1), gap: syncGap}
	if dataDir != "" {
		s.path = filepath.Join(dataDir, bindingsFile)
		s.journalPath = filepath.Join(dataDir, journalFile)
	}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// load reads the bindings file and replays the journal; a missing file is an empty location.
// It returns the number of bindings restored.
func (s *store) load(now time.Time) (int, error) {
	if s.path == "" {
		return 0, nil
	}
	b, err := os.ReadFile(s.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("read bindings %s: %w", s.path, err)
	}
	var f storeFile
	if len(b) > 0 {
		if err := json.Unmarshal(b, &f); err != nil {
			// A damaged file must not stop the phone system: phones register again.
			s.log.Warn("bindings file is damaged; starting without bindings", "path", s.path, "err", err)
			f = storeFile{}
		}
	}
	s.snapshotSize = int64(len(b))
	s.loc.load(lasting(f.Bindings), nil, f.Seq, now)

	j, err := os.ReadFile(s.journalPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("read bindings journal %s: %w", s.journalPath, err)
	}
	// The journal is kept and appended to, as it is after a power cut: folding it into the
	// bindings file now would hold up the first REGISTERs behind two fsyncs. Its records end
	// at the first zero byte (the rest of the file is preallocated zeros, appendJournal). A torn
	// last record (a crash during its write; its REGISTER was not answered) and whatever a crash
	// left past the records are cut off first, so that the next record starts on a line of its
	// own with only zeros after it.
	records := j
	if end := bytes.IndexByte(j, 0); end >= 0 {
		records = j[:end]
	}
	good := 0
	for rest := records; len(rest) > 0; {
		line, next, whole := bytes.Cut(rest, []byte{'\n'})
		var rec journalRecord
		if err := json.Unmarshal(line, &rec); err != nil || rec.AOR == "" || !whole {
			if len(bytes.TrimSpace(next)) > 0 {
				s.log.Warn("bindings journal is damaged; later changes are lost", "path", s.journalPath, "err", err)
				s.needFull = true // rewrite the bindings file and start a clean journal
			}
			break
		}
		good += len(line) + 1
		rest = next
		if rec.Seq <= f.Seq {
			continue // already in the bindings file
		}
		s.loc.load(lasting(rec.Bindings), []string{rec.AOR}, rec.Seq, now)
	}
	s.journalSize = int64(good)
	if !s.needFull && len(bytes.Trim(j[good:], "\x00")) > 0 {
		if err := os.Truncate(s.journalPath, int64(good)); err != nil {
			s.needFull = true
		}
	}
	return s.loc.loaded(), nil
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

// saveWaiter is an afterSave callback.
type saveWaiter struct {
	v  uint64
	fn func(error)
}

// afterSave calls fn once the location at version v is on disk (from the writer's goroutine,
// or at once if it already is): saveNow for callers that must not wait.
func (s *store) afterSave(v uint64, fn func(error)) {
	if s.path == "" {
		fn(nil)
		return
	}
	s.mu.Lock()
	if s.saved >= v {
		err := s.lastErr
		s.mu.Unlock()
		fn(err)
		return
	}
	if v > s.wanted {
		s.wanted = v
	}
	s.waiting = append(s.waiting, saveWaiter{v, fn})
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// releaseLocked removes the afterSave callbacks whose version is on disk and returns them, to be
// called without the lock.
func (s *store) releaseLocked() []saveWaiter {
	var ready []saveWaiter
	keep := s.waiting[:0]
	for _, w := range s.waiting {
		if w.v <= s.saved {
			ready = append(ready, w)
		} else {
			keep = append(keep, w)
		}
	}
	clear(s.waiting[len(keep):])
	s.waiting = keep
	return ready
}

// saveLater marks a change that may wait up to refreshDelay.
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
	defer func() {
		if s.journal != nil {
			s.journal.Close()
		}
	}()
	if s.needFull {
		s.write()
	}
	t := time.NewTicker(refreshDelay)
	defer t.Stop()
	gap := time.NewTimer(0)
	defer gap.Stop()
	<-gap.C
	for {
		select {
		case <-ctx.Done():
			s.needFull = true
			s.write()
			s.mu.Lock()
			s.saved = ^uint64(0) >> 1 // release any waiter
			s.cond.Broadcast()
			ready, err := s.releaseLocked(), s.lastErr
			s.mu.Unlock()
			for _, w := range ready {
				w.fn(err)
			}
			return
		case <-s.kick:
			if wait := time.Until(s.lastWrite.Add(s.gap)); wait > 0 {
				// Group commit: the changes that come in meanwhile share this write's fsync.
				gap.Reset(wait)
				select {
				case <-gap.C:
				case <-ctx.Done():
					continue // saved below
				}
			}
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

// write saves every change so far: the changed accounts' records appended to the journal, or
// the whole location when the journal is due to be folded in.
func (s *store) write() {
	s.lastWrite = time.Now()
	s.mu.Lock()
	s.dirtyLazy = false
	s.mu.Unlock()
	var v uint64
	var err error
	var changed, all map[string][]Binding // what went to disk: some accounts, or all
	if s.needFull || s.journalSize > max(minCompact, compactFactor*s.snapshotSize) {
		all, v, err = s.writeFull()
	} else {
		changed, v = s.loc.takeDirty()
		if len(changed) > 0 {
			if err = s.appendJournal(changed, v); err != nil {
				// The taken changes are not on disk: the whole location goes next time.
				s.needFull = true
				var errFull error
				if all, v, errFull = s.writeFull(); errFull == nil {
					err = nil
				}
			}
		}
	}
	if err != nil {
		s.log.Error("cannot save bindings", "path", s.path, "err", err)
	}
	s.loc.wrote(changed, all, err == nil)
	s.mu.Lock()
	if err != nil {
		s.dirtyLazy = true // tried again within refreshDelay, if no REGISTER comes first
	}
	if v > s.saved {
		s.saved = v
	}
	s.lastErr = err
	s.cond.Broadcast()
	ready := s.releaseLocked()
	s.mu.Unlock()
	for _, w := range ready {
		w.fn(err)
	}
}

// journalChunk is the most the journal grows by when its preallocated zeros run out.
const journalChunk = 256 << 10

// appendJournal appends one record per changed account and makes it durable. The records are
// written over zeros the file already has, and synced with fdatasync: the file's size does not
// change, so only the record's blocks go to the disk, not the file system's journal as well.
// When the zeros run out the file grows (to the size at which it is folded in, at most
// journalChunk further) and that append is synced with fsync.
func (s *store) appendJournal(changed map[string][]Binding, v uint64) error {
	if s.journal == nil {
		if _, err := os.Stat(s.journalPath); errors.Is(err, os.ErrNotExist) {
			// Created atomically, so its directory entry is on disk before any record is.
			if err := atomicfile.Write(s.journalPath, nil, 0o600); err != nil {
				return fmt.Errorf("create bindings journal: %w", err)
			}
			s.journalSize = 0
		}
		f, err := os.OpenFile(s.journalPath, os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("open bindings journal: %w", err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("open bindings journal: %w", err)
		}
		if st.Size() < s.journalSize {
			f.Close()
			return fmt.Errorf("bindings journal %s is shorter than its records (%d < %d bytes)", s.journalPath, st.Size(), s.journalSize)
		}
		s.journal, s.journalAlloc = f, st.Size()
	}
	b := s.buf[:0]
	for aor, bs := range changed {
		b = append(appendJournalRecord(b, journalRecord{Seq: v, AOR: aor, Bindings: lasting(bs)}), '\n')
	}
	records := int64(len(b))
	grow := s.journalSize+records > s.journalAlloc
	if grow {
		// As far as the journal may grow before it is folded in (an office's: one step), at
		// most journalChunk at a time.
		step := min(journalChunk, max(minCompact, compactFactor*s.snapshotSize))
		size := (s.journalSize + records + step + 4<<10 - 1) &^ (4<<10 - 1)
		b = append(b, make([]byte, size-s.journalSize-records)...)
	}
	s.buf = b[:0]
	n, err := s.journal.WriteAt(b, s.journalSize)
	if err == nil {
		if grow {
			s.journalAlloc = s.journalSize + int64(n)
			err = s.journal.Sync()
		} else {
			err = syscall.Fdatasync(int(s.journal.Fd()))
		}
	}
	if err != nil {
		// Where the records end is not known now: the caller writes the whole location.
		return fmt.Errorf("write bindings journal %s: %w", s.journalPath, err)
	}
	s.journalSize += records
	return nil
}

// writeFull replaces the bindings file with the whole location and empties the journal. It
// returns the bindings written, by account.
func (s *store) writeFull() (map[string][]Binding, uint64, error) {
	s.needFull = true // until it succeeds: takeAll forgets which accounts changed
	bs, v := s.loc.takeAll()
	bs = lasting(bs)
	b := appendStoreFile(s.buf[:0], storeFile{Version: 1, Saved: time.Now().UTC(), Seq: v, Bindings: bs})
	b = append(b, '\n')
	s.buf = b
	if err := atomicfile.Write(s.path, b, 0o600); err != nil {
		return nil, 0, err
	}
	s.snapshotSize = int64(len(b))
	// The bindings file now holds every record of the journal (they have lower Seq), so a
	// crash before the truncation below only leaves records that load skips.
	if s.journal != nil {
		s.journal.Close()
		s.journal = nil
	}
	if err := os.Truncate(s.journalPath, 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, v, fmt.Errorf("empty bindings journal: %w", err)
	}
	s.journalSize, s.journalAlloc = 0, 0
	s.needFull = false
	return byAccount(bs), v, nil
}
