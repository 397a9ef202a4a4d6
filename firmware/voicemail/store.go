package voicemail

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/deskphone/deskphone/firmware/atomicfile"
)

// Folders of a mailbox: messages not yet heard, and those kept after listening (Asterisk's
// INBOX and Old).
const (
	FolderNew   = "new"
	FolderSaved = "saved"
	folderTmp   = "tmp" // recordings in progress; moved to new when they end
)

// minMessage: shorter recordings (a caller who hung up at the beep) are not kept.
const minMessage = time.Second

// timeLayout names message files by their UTC start time; lexical order is time order.
const timeLayout = "20060102T150405.000Z"

// ErrFull is returned when the storage quota leaves no room for another message.
var ErrFull = errors.New("voicemail storage is full: delete old messages to receive new ones")

// ErrNoMessage: no such message in that mailbox.
var ErrNoMessage = errors.New("no such message")

// Message is one stored voicemail message.
type Message struct {
	ID      string    `json:"id"` // file name without .wav
	Folder  string    `json:"folder"`
	Caller  string    `json:"caller"`
	Time    time.Time `json:"time"`
	Seconds float64   `json:"seconds"`
}

// Store keeps every mailbox under one directory: <dir>/<extension>/{new,saved,tmp}/<time>-<caller>.wav,
// <dir>/<extension>/greeting.wav (a user's own greeting) and <dir>/pins.json.
type Store struct {
	dir   string
	quota int64 // bytes for all mailboxes together
	log   *slog.Logger

	mu       sync.Mutex
	pins     map[string]string
	watchers []func(ext string)
}

// OpenStore opens (creating) the mailboxes under dir and keeps every recording a crash or
// power cut interrupted: its header is repaired and it is filed as a new message.
func OpenStore(dir string, quota int64, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("voicemail directory: %w", err)
	}
	s := &Store{dir: dir, quota: quota, log: log, pins: map[string]string{}}
	if b, err := os.ReadFile(filepath.Join(dir, "pins.json")); err == nil {
		if err := json.Unmarshal(b, &s.pins); err != nil {
			return nil, fmt.Errorf("voicemail PINs %s: %w", filepath.Join(dir, "pins.json"), err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("voicemail PINs: %w", err)
	}
	tmps, _ := filepath.Glob(filepath.Join(dir, "*", folderTmp, "*.wav"))
	for _, p := range tmps {
		n, err := fixWAV(p)
		if err != nil || n < uint32(minMessage.Seconds()*bytesPerSec) {
			log.Info("dropped an interrupted recording", "path", p, "bytes", n, "err", err)
			os.Remove(p)
			continue
		}
		box := filepath.Dir(filepath.Dir(p))
		dst := filepath.Join(box, FolderNew, filepath.Base(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err == nil && os.Rename(p, dst) == nil {
			log.Warn("kept a recording interrupted by a restart or power cut", "mailbox", filepath.Base(box), "seconds", float64(n)/bytesPerSec)
		}
	}
	return s, nil
}

// validExt keeps extensions usable as directory names.
func validExt(ext string) bool {
	if ext == "" || len(ext) > 32 || ext[0] == '.' {
		return false
	}
	for _, c := range ext {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// cleanCaller keeps what is safe in a file name from the caller's user part.
func cleanCaller(c string) string {
	var b strings.Builder
	for _, r := range c {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '+' || r == '.' || r == '_' {
			b.WriteRune(r)
		}
		if b.Len() >= 32 {
			break
		}
	}
	if b.Len() == 0 {
		return "unknown"
	}
	return b.String()
}

// Watch calls fn with the extension whose messages changed (new, saved or deleted).
func (s *Store) Watch(fn func(ext string)) {
	s.mu.Lock()
	s.watchers = append(s.watchers, fn)
	s.mu.Unlock()
}

func (s *Store) changed(ext string) {
	s.mu.Lock()
	ws := append([]func(string){}, s.watchers...)
	s.mu.Unlock()
	for _, w := range ws {
		w(ext)
	}
}

// PIN returns the mailbox PIN of ext, generating (and keeping) a random 6-digit one the first time.
func (s *Store) PIN(ext string) (string, error) {
	pins, err := s.PINs([]string{ext})
	if err != nil {
		return "", err
	}
	return pins[ext], nil
}

// PINs is PIN for several mailboxes, with one write of the PIN file for all the new ones (at a
// first start with many accounts, one write per account rewrote the whole file each time).
func (s *Store) PINs(exts []string) (map[string]string, error) {
	for _, ext := range exts {
		if !validExt(ext) {
			return nil, fmt.Errorf("mailbox name %q is not usable", ext)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(exts))
	var added []string
	for _, ext := range exts {
		if p, ok := s.pins[ext]; ok {
			out[ext] = p
			continue
		}
		n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
		if err != nil {
			s.forget(added)
			return nil, fmt.Errorf("generate a PIN: %w", err)
		}
		pin := fmt.Sprintf("%06d", n.Int64())
		s.pins[ext], out[ext] = pin, pin
		added = append(added, ext)
	}
	if len(added) == 0 {
		return out, nil
	}
	b, _ := json.MarshalIndent(s.pins, "", "  ")
	if err := atomicfile.Write(filepath.Join(s.dir, "pins.json"), b, 0o600); err != nil {
		s.forget(added)
		return nil, fmt.Errorf("save voicemail PIN: %w", err)
	}
	return out, nil
}

// forget drops PINs generated but not saved.
func (s *Store) forget(exts []string) {
	for _, ext := range exts {
		delete(s.pins, ext)
	}
}

func (s *Store) boxDir(ext string) (string, error) {
	if !validExt(ext) {
		return "", fmt.Errorf("mailbox name %q is not usable", ext)
	}
	return filepath.Join(s.dir, ext), nil
}

// List returns ext's messages: new ones first, then saved, each oldest first.
func (s *Store) List(ext string) ([]Message, error) {
	box, err := s.boxDir(ext)
	if err != nil {
		return nil, err
	}
	var out []Message
	for _, folder := range []string{FolderNew, FolderSaved} {
		ents, err := os.ReadDir(filepath.Join(box, folder))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read mailbox %s: %w", ext, err)
		}
		var msgs []Message
		for _, e := range ents {
			m, ok := parseMessageName(e.Name())
			if !ok {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue
			}
			m.Folder = folder
			m.Seconds = float64(max(info.Size()-headerLen, 0)) / bytesPerSec
			msgs = append(msgs, m)
		}
		sort.Slice(msgs, func(i, j int) bool { return msgs[i].ID < msgs[j].ID })
		out = append(out, msgs...)
	}
	return out, nil
}

func parseMessageName(name string) (Message, bool) {
	id, ok := strings.CutSuffix(name, ".wav")
	if !ok {
		return Message{}, false
	}
	ts, caller, ok := strings.Cut(id, "-")
	if !ok {
		return Message{}, false
	}
	t, err := time.Parse(timeLayout, ts)
	if err != nil {
		return Message{}, false
	}
	return Message{ID: id, Caller: caller, Time: t}, true
}

// Counts returns how many new and saved messages ext has.
func (s *Store) Counts(ext string) (newMsgs, saved int) {
	msgs, _ := s.List(ext)
	return count(msgs)
}

// BoxStatus is one mailbox in the status API.
type BoxStatus struct {
	New   int `json:"new"`
	Saved int `json:"saved"`
}

// Status lists every mailbox that holds messages, and the space used, for the status API.
func (s *Store) Status() map[string]any {
	boxes := map[string]BoxStatus{}
	ents, _ := os.ReadDir(s.dir)
	for _, e := range ents {
		if !e.IsDir() || !validExt(e.Name()) {
			continue
		}
		if n, saved := s.Counts(e.Name()); n+saved > 0 {
			boxes[e.Name()] = BoxStatus{New: n, Saved: saved}
		}
	}
	return map[string]any{"mailboxes": boxes, "used_bytes": s.Used(), "quota_bytes": s.quota}
}

// count splits a mailbox listing into new and saved messages.
func count(msgs []Message) (newMsgs, saved int) {
	for _, m := range msgs {
		if m.Folder == FolderNew {
			newMsgs++
		} else {
			saved++
		}
	}
	return newMsgs, saved
}

// find returns the path of message id in ext's box.
func (s *Store) find(ext, id string) (string, string, error) {
	box, err := s.boxDir(ext)
	if err != nil {
		return "", "", err
	}
	if _, ok := parseMessageName(id + ".wav"); !ok || strings.ContainsAny(id, `/\`) {
		return "", "", ErrNoMessage
	}
	for _, folder := range []string{FolderNew, FolderSaved} {
		p := filepath.Join(box, folder, id+".wav")
		if _, err := os.Stat(p); err == nil {
			return p, folder, nil
		}
	}
	return "", "", ErrNoMessage
}

// Path returns the WAV file of a message, for playing it.
func (s *Store) Path(ext, id string) (string, error) {
	p, _, err := s.find(ext, id)
	return p, err
}

// Delete removes a message.
func (s *Store) Delete(ext, id string) error {
	p, _, err := s.find(ext, id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("delete message: %w", err)
	}
	s.log.Info("voicemail deleted", "mailbox", ext, "message", id)
	s.changed(ext)
	return nil
}

// Save moves a new message to the saved folder (it no longer counts as waiting).
func (s *Store) Save(ext, id string) error {
	p, folder, err := s.find(ext, id)
	if err != nil || folder == FolderSaved {
		return err
	}
	dst := filepath.Join(filepath.Dir(filepath.Dir(p)), FolderSaved, filepath.Base(p))
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return fmt.Errorf("save message: %w", err)
	}
	if err := os.Rename(p, dst); err != nil {
		return fmt.Errorf("save message: %w", err)
	}
	s.changed(ext)
	return nil
}

// Used is the space all mailboxes take, in bytes.
func (s *Store) Used() int64 {
	var n int64
	filepath.WalkDir(s.dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// room is how many seconds of audio still fit under the quota.
func (s *Store) room() time.Duration {
	left := s.quota - s.Used()
	if left <= headerLen {
		return 0
	}
	return time.Duration(float64(left-headerLen) / bytesPerSec * float64(time.Second))
}

// Greeting returns ext's own recorded greeting, or nil when it has none.
func (s *Store) Greeting(ext string) []int16 {
	box, err := s.boxDir(ext)
	if err != nil {
		return nil
	}
	pcm, err := readWAV(filepath.Join(box, "greeting.wav"))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("own greeting not usable, playing the default one", "mailbox", ext, "err", err)
		}
		return nil
	}
	return pcm
}

// SetGreeting replaces ext's own greeting (8 kHz samples); nil goes back to the default one.
func (s *Store) SetGreeting(ext string, pcm []int16) error {
	box, err := s.boxDir(ext)
	if err != nil {
		return err
	}
	p := filepath.Join(box, "greeting.wav")
	if pcm == nil {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove greeting: %w", err)
		}
		return nil
	}
	if err := os.MkdirAll(box, 0o750); err != nil {
		return fmt.Errorf("voicemail directory: %w", err)
	}
	b := wavHeader(uint32(2 * len(pcm)))
	for _, v := range pcm {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	if err := atomicfile.Write(p, b, 0o640); err != nil {
		return fmt.Errorf("save greeting: %w", err)
	}
	s.log.Info("voicemail greeting changed", "mailbox", ext, "seconds", float64(len(pcm))/sampleRate)
	return nil
}

// recording is a message being recorded.
type recording struct {
	s        *Store
	ext, tmp string
	w        *wavWriter
}

// record starts a message from caller in ext's box; ErrFull when the quota is reached.
func (s *Store) record(ext, caller string, at time.Time) (*recording, error) {
	box, err := s.boxDir(ext)
	if err != nil {
		return nil, err
	}
	if s.room() < minMessage {
		return nil, ErrFull
	}
	if err := os.MkdirAll(filepath.Join(box, folderTmp), 0o750); err != nil {
		return nil, fmt.Errorf("voicemail directory: %w", err)
	}
	name := at.UTC().Format(timeLayout) + "-" + cleanCaller(caller) + ".wav"
	p := filepath.Join(box, folderTmp, name)
	w, err := createWAV(p)
	if err != nil {
		return nil, err
	}
	return &recording{s: s, ext: ext, tmp: p, w: w}, nil
}

// finish closes the recording and files it as a new message (or drops one too short to keep).
func (r *recording) finish() (Message, bool, error) {
	err := r.w.close()
	secs := r.w.seconds()
	if err != nil || secs < minMessage.Seconds() {
		os.Remove(r.tmp)
		return Message{}, false, err
	}
	dst := filepath.Join(filepath.Dir(filepath.Dir(r.tmp)), FolderNew, filepath.Base(r.tmp))
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return Message{}, false, fmt.Errorf("file message: %w", err)
	}
	if err := os.Rename(r.tmp, dst); err != nil {
		return Message{}, false, fmt.Errorf("file message: %w", err)
	}
	m, _ := parseMessageName(filepath.Base(dst))
	m.Folder, m.Seconds = FolderNew, secs
	r.s.changed(r.ext)
	return m, true, nil
}
