// Package calllog keeps the list of calls (direction, peer, start, duration, outcome) as JSON lines
// in the data directory, bounded in size by rotating to one previous file.
package calllog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Entry is one finished call.
type Entry struct {
	Direction string    `json:"direction"` // in | out
	Peer      string    `json:"peer"`
	Start     time.Time `json:"start"`
	Duration  float64   `json:"duration"`          // seconds of conversation
	Outcome   string    `json:"outcome"`           // answered, missed, rejected, busy, failed, cancelled, transferred
	Reason    string    `json:"reason,omitempty"`  // why the phone ended it, e.g. "no audio from the far end"
	Quality   *Quality  `json:"quality,omitempty"` // answered calls with media
	// Transport is the signalling's (UDP, TCP or TLS); Media the audio's protection: "SRTP
	// (AES_CM_128_HMAC_SHA1_80)" or "RTP" (plain), empty for a call without media.
	Transport string `json:"transport,omitempty"`
	Media     string `json:"media,omitempty"`
}

// DefaultMaxBytes bounds the current file; with the rotated one the log takes at most twice this.
const DefaultMaxBytes = 256 << 10

// FileName is the log inside the data directory; the previous one has ".1" appended.
const FileName = "calls.jsonl"

// Log is the call log. Safe for concurrent use.
type Log struct {
	path     string
	maxBytes int64
	mu       sync.Mutex
}

// Open uses (and creates) dir for the call log. maxBytes <= 0 means DefaultMaxBytes.
func Open(dir string, maxBytes int64) (*Log, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("call log folder: %w", err)
	}
	return &Log{path: filepath.Join(dir, FileName), maxBytes: maxBytes}, nil
}

// Append adds a call, rotating the file first when it is full.
func (l *Log) Append(e Entry) error {
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if st, err := os.Stat(l.path); err == nil && st.Size()+int64(len(line)) > l.maxBytes {
		if err := os.Rename(l.path, l.path+".1"); err != nil {
			return fmt.Errorf("rotate call log: %w", err)
		}
	}
	f, err := os.OpenFile(l.path, os.O_APPEND|os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return fmt.Errorf("call log: %w", err)
	}
	// After a torn write (power cut) start on a fresh line, so only the torn entry is lost.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			line = append([]byte{'\n'}, line...)
		}
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return fmt.Errorf("call log: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("call log: %w", err)
	}
	return f.Close()
}

// Recent returns up to n calls, newest first. Lines that do not parse (a torn write after a power
// cut) are skipped.
func (l *Log) Recent(n int) ([]Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var all []Entry
	for _, p := range []string{l.path + ".1", l.path} {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("call log: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 0, 4096), 64<<10)
		for sc.Scan() {
			var e Entry
			if json.Unmarshal(sc.Bytes(), &e) == nil && e.Direction != "" {
				all = append(all, e)
			}
		}
	}
	out := make([]Entry, 0, min(n, len(all)))
	for i := len(all) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, all[i])
	}
	return out, nil
}
