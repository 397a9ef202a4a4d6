package voicemail

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func sine(n int) []int16 {
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(8000 * ((i % 16) - 8) / 8)
	}
	return pcm
}

// A recording cut by a power failure (header never rewritten, file still in tmp) is kept as a
// new message at the next start, with a header that matches its audio.
func TestCutRecordingIsKept(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.record("5001", "5003", time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	rec.w.syncEvery = 1 << 30 // nothing synced: the header still says 0 bytes
	for range 100 {           // 2 s
		if err := rec.w.write(sine(160)); err != nil {
			t.Fatal(err)
		}
	}
	rec.w.f.Close() // the power goes: no finish()
	if n, _ := s.Counts("5001"); n != 0 {
		t.Fatalf("a recording in progress counts as a message")
	}

	s2, err := OpenStore(dir, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := s2.List("5001")
	if err != nil || len(msgs) != 1 {
		t.Fatalf("after restart: %v, %v; want the cut message", msgs, err)
	}
	m := msgs[0]
	if m.Caller != "5003" || m.Folder != FolderNew || m.Seconds != 2 || !m.Time.Equal(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("message = %+v", m)
	}
	p, _ := s2.Path("5001", m.ID)
	b, _ := os.ReadFile(p)
	if got := binary.LittleEndian.Uint32(b[40:]); got != 32000 {
		t.Fatalf("data size in header %d, want 32000", got)
	}
	pcm, err := readWAV(p)
	if err != nil || len(pcm) != 16000 {
		t.Fatalf("readWAV: %d samples, %v", len(pcm), err)
	}
}

// A recording shorter than a second (a caller who hung up at the beep) is not kept, cut or not.
func TestShortRecordingsAreDropped(t *testing.T) {
	dir := t.TempDir()
	s, _ := OpenStore(dir, 1<<20, nil)
	rec, _ := s.record("5001", "x", time.Now())
	rec.w.write(sine(800))
	if _, kept, err := rec.finish(); kept || err != nil {
		t.Fatalf("kept=%v err=%v for 0.1 s", kept, err)
	}
	rec, _ = s.record("5001", "x", time.Now().Add(time.Second))
	rec.w.write(sine(800))
	rec.w.f.Close()
	OpenStore(dir, 1<<20, nil)
	if msgs, _ := s.List("5001"); len(msgs) != 0 {
		t.Fatalf("short messages kept: %v", msgs)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "5001", "tmp", "*")); len(left) != 0 {
		t.Fatalf("left in tmp: %v", left)
	}
}

// Save, delete, the quota, PINs and hostile names.
func TestStoreOperations(t *testing.T) {
	dir := t.TempDir()
	s, _ := OpenStore(dir, 3*bytesPerSec+headerLen+100, nil)
	changes := 0
	s.Watch(func(string) { changes++ })
	rec, err := s.record("5002", "alice <sip:x>", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	rec.w.write(sine(2 * sampleRate))
	m, kept, err := rec.finish()
	if !kept || err != nil || m.Caller != "alicesipx" {
		t.Fatalf("finish: %+v %v %v", m, kept, err)
	}
	if room := s.room(); room >= 2*time.Second || room < 900*time.Millisecond {
		t.Fatalf("room after 2 s of a 3 s quota = %s", room)
	}
	if n, saved := s.Counts("5002"); n != 1 || saved != 0 {
		t.Fatalf("counts %d/%d", n, saved)
	}
	if err := s.Save("5002", m.ID); err != nil {
		t.Fatal(err)
	}
	if n, saved := s.Counts("5002"); n != 0 || saved != 1 {
		t.Fatalf("after save: counts %d/%d", n, saved)
	}
	// Quota: a 1 s message fills it; the next caller is told the mailbox is full.
	rec, err = s.record("5002", "bob", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rec.w.write(sine(sampleRate))
	if _, kept, _ := rec.finish(); !kept {
		t.Fatal("1 s message not kept")
	}
	if _, err := s.record("5002", "carol", time.Now().Add(time.Second)); !errors.Is(err, ErrFull) {
		t.Fatalf("record over the quota: %v, want ErrFull", err)
	}
	if err := s.Delete("5002", m.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("5002", m.ID); !errors.Is(err, ErrNoMessage) {
		t.Fatalf("second delete: %v", err)
	}
	st := s.Status()
	if boxes := st["mailboxes"].(map[string]BoxStatus); len(boxes) != 1 || boxes["5002"] != (BoxStatus{New: 1}) || st["used_bytes"].(int64) <= 0 {
		t.Fatalf("status %+v", st)
	}
	if changes != 4 {
		t.Fatalf("%d change notifications, want 4 (new, save, new, delete)", changes)
	}
	for _, bad := range []string{"../5002", "", ".", "a/b", strings.Repeat("9", 40)} {
		if _, err := s.List(bad); err == nil {
			t.Errorf("mailbox %q accepted", bad)
		}
	}
	if _, err := s.Path("5002", "../../pins"); !errors.Is(err, ErrNoMessage) {
		t.Errorf("path traversal in a message id: %v", err)
	}
	pin, err := s.PIN("5002")
	if err != nil || len(pin) != 6 {
		t.Fatalf("PIN %q %v", pin, err)
	}
	s2, _ := OpenStore(dir, 1<<20, nil)
	if again, _ := s2.PIN("5002"); again != pin {
		t.Fatalf("PIN changed across restarts: %s then %s", pin, again)
	}
	other, _ := s2.PIN("5003")
	if other == pin && other != "" {
		t.Logf("two mailboxes drew the same PIN (1 in a million)")
	}
	if info, _ := os.Stat(filepath.Join(dir, "pins.json")); info.Mode().Perm() != 0o600 {
		t.Fatalf("pins.json mode %v", info.Mode())
	}
	// Many at once (a first start): the known ones kept, the new ones saved together.
	exts := []string{"5002", "5003"}
	for i := 0; i < 200; i++ {
		exts = append(exts, strconv.Itoa(6000+i))
	}
	pins, err := s2.PINs(exts)
	if err != nil || len(pins) != len(exts) || pins["5002"] != pin || pins["5003"] != other {
		t.Fatalf("PINs: %d of %d, 5002 %q (want %q), 5003 %q (want %q), %v", len(pins), len(exts), pins["5002"], pin, pins["5003"], other, err)
	}
	s3, _ := OpenStore(dir, 1<<20, nil)
	for _, ext := range exts {
		if again, _ := s3.PIN(ext); again != pins[ext] || len(again) != 6 {
			t.Fatalf("PIN of %s after a restart %q, want %q", ext, again, pins[ext])
		}
	}
	if _, err := s3.PINs([]string{"5004", "../x"}); err == nil {
		t.Fatal("PINs accepted an unusable mailbox name")
	}
}

func TestSummaryBody(t *testing.T) {
	got := string(Summary("sip:5002@127.0.0.1:5060", 2, 3))
	want := "Messages-Waiting: yes\r\nMessage-Account: sip:5002@127.0.0.1:5060\r\nVoice-Message: 2/3 (0/0)\r\n"
	if got != want {
		t.Fatalf("got %q", got)
	}
	if got := string(Summary("sip:a@b", 0, 1)); !strings.HasPrefix(got, "Messages-Waiting: no\r\n") {
		t.Fatalf("got %q", got)
	}
}

// Every embedded prompt decodes (8 kHz A-law) and lasts a sensible time.
func TestPrompts(t *testing.T) {
	for _, lang := range []string{"en", "fr", "de"} {
		p := newPrompts(lang)
		for _, name := range []string{pGreeting, pFull, pPIN, pBadPIN, pNone, pNew, pSaved, pMenu, pMessage, pDeleted, pKept, pNoMore, pGoodbye, pRecGreet, pGreetOK} {
			pcm := p.get(name)
			if d := time.Duration(len(pcm)) * time.Second / sampleRate; d < 300*time.Millisecond || d > 15*time.Second {
				t.Errorf("%s/%s lasts %s", lang, name, d)
			}
		}
		for n := 0; n <= 20; n++ {
			if len(p.number(n)) == 0 {
				t.Errorf("%s: no number %d", lang, n)
			}
		}
	}
	if newPrompts("xx").lang != "en" {
		t.Fatal("unknown language does not fall back to English")
	}
}

func TestDecodeWAVRejectsOtherFormats(t *testing.T) {
	h := wavHeader(4)
	binary.LittleEndian.PutUint32(h[24:], 44100)
	if _, err := decodeWAV(append(h, 0, 0, 0, 0)); err == nil || !strings.Contains(err.Error(), "sox") {
		t.Fatalf("44.1 kHz greeting accepted or unclear error: %v", err)
	}
	for _, b := range [][]byte{nil, []byte("RIFF"), []byte("RIFF\x00\x00\x00\x00WAVEdata\xff\xff\xff\xff")} {
		if _, err := decodeWAV(b); err == nil {
			t.Errorf("%q accepted", b)
		}
	}
}
