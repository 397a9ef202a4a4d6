package registrar

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// runStore runs s's writer until stop, which returns after its final save.
func runStore(s *store) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// storeSet registers one contact for aor and waits until it is saved, as onRegister does.
func storeSet(t *testing.T, s *store, l *location, aor, contact string, exp time.Time) {
	t.Helper()
	v, _ := l.update(aor, func([]Binding) ([]Binding, bool) {
		return []Binding{{AOR: aor, Contact: contact, Expires: exp}}, true
	})
	if err := s.saveNow(context.Background(), v); err != nil {
		t.Fatal(err)
	}
}

// The journal is replayed over the bindings file: records the file already holds are skipped
// (a crash between writing the file and emptying the journal), and a torn last record (a crash
// during its write, before its 200 OK) is ignored.
func TestStoreJournalReplay(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	exp := now.Add(time.Hour)
	log := slog.New(slog.DiscardHandler)
	l := newLocation()
	s := newStore(dir, l, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.run(ctx); close(done) }()
	storeSet(t, s, l, "a", "sip:a@old", exp)
	old, err := os.ReadFile(s.journalPath)
	if err != nil || len(old) == 0 {
		t.Fatalf("the saved change is not in the journal: %q, %v", old, err)
	}
	storeSet(t, s, l, "a", "sip:a@new", exp)
	storeSet(t, s, l, "b", "sip:b@x", exp)
	cancel() // the final save folds the journal into the bindings file
	<-done
	if st, err := os.Stat(s.journalPath); err != nil || st.Size() != 0 {
		t.Fatalf("journal not emptied by the final save: %v", err)
	}
	// A stale record before a torn one, as a crash would leave them.
	if err := os.WriteFile(s.journalPath, append(old, `{"seq":99,"aor":"b","bind`...), 0o600); err != nil {
		t.Fatal(err)
	}
	l2 := newLocation()
	n, err := newStore(dir, l2, log).load(now)
	if err != nil || n != 2 {
		t.Fatalf("load: %d bindings, %v; want 2", n, err)
	}
	if got := l2.get("a"); len(got) != 1 || got[0].Contact != "sip:a@new" {
		t.Fatalf("a stale journal record overrode the bindings file: %+v", got)
	}
	if got := l2.get("b"); len(got) != 1 {
		t.Fatalf("a torn record changed b: %+v", got)
	}
}

// After a power cut the journal is kept, not folded into the bindings file before the first
// REGISTER is answered: a torn last record is cut off, and the changes saved after the restart
// are appended and found by the next start.
func TestStoreKeepsJournalAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	exp := now.Add(time.Hour)
	log := slog.New(slog.DiscardHandler)

	l := newLocation()
	s := newStore(dir, l, log)
	stop := runStore(s)
	storeSet(t, s, l, "a", "sip:a@1", exp)
	storeSet(t, s, l, "b", "sip:b@1", exp)
	// A power cut during the next record's write: the files as they are now, with a torn line at
	// the end of the journal (stopping the store folds the journal; the power cut does not).
	powerCut := func(s *store, stop func(), torn string) {
		t.Helper()
		j, err := os.ReadFile(s.journalPath)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(s.path)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		stop()
		os.Remove(s.path)
		if b != nil {
			os.WriteFile(s.path, b, 0o600)
		}
		// The records end where the preallocated zeros start; the torn record is written there.
		end := bytes.IndexByte(j, 0)
		if end <= 0 {
			t.Fatalf("the journal has no preallocated zeros after its records: %q", j)
		}
		cut := append(append(j[:end:end], torn...), j[min(end+len(torn), len(j)):]...)
		if err := os.WriteFile(s.journalPath, cut, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	powerCut(s, stop, `{"seq":99,"aor":"a","bind`)

	l2 := newLocation()
	s2 := newStore(dir, l2, log)
	if n, err := s2.load(now); err != nil || n != 2 {
		t.Fatalf("load after the power cut: %d bindings, %v; want 2", n, err)
	}
	if s2.needFull {
		t.Fatal("an intact journal is folded into the bindings file before the first REGISTER")
	}
	stop2 := runStore(s2)
	storeSet(t, s2, l2, "a", "sip:a@2", exp)
	if _, err := os.Stat(s2.path); err == nil {
		t.Fatal("the bindings file was written at start")
	}
	powerCut(s2, stop2, "")

	l3 := newLocation()
	if n, err := newStore(dir, l3, log).load(now); err != nil || n != 2 {
		t.Fatalf("load: %d bindings, %v; want 2", n, err)
	}
	if got := l3.get("a"); len(got) != 1 || got[0].Contact != "sip:a@2" {
		t.Fatalf("the change saved after the restart is lost: %+v", got)
	}
	if got := l3.get("b"); len(got) != 1 || got[0].Contact != "sip:b@1" {
		t.Fatalf("b: %+v", got)
	}
}

// What a crash may leave past the journal's records — a torn record's later sectors after
// zeros — is cut off at the next start: the records written after it load, not a damaged line.
func TestStoreCutsWhatACrashLeftPastTheRecords(t *testing.T) {
	dir, now, log := t.TempDir(), time.Now(), slog.New(slog.DiscardHandler)
	exp := now.Add(time.Hour)
	l := newLocation()
	s := newStore(dir, l, log)
	stop := runStore(s)
	storeSet(t, s, l, "a", "sip:a@1", exp)
	j, err := os.ReadFile(s.journalPath)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	os.Remove(s.path) // the power cut came before the final save
	// The journal holds one record; the later sectors of a longer one that was being written
	// when the power went, lines included, start a little after it.
	end := bytes.IndexByte(j, 0)
	junk := strings.Repeat("x", 3*end) + "\n" + `{"seq":7,"aor":"z"` + "\n"
	if end <= 0 || len(j) < end+10+len(junk) {
		t.Fatalf("the journal has no preallocated zeros after its records: %d bytes, records end at %d", len(j), end)
	}
	copy(j[end+10:], junk)
	if err := os.WriteFile(s.journalPath, j, 0o600); err != nil {
		t.Fatal(err)
	}

	l2 := newLocation()
	s2 := newStore(dir, l2, log)
	if n, err := s2.load(now); err != nil || n != 1 || s2.needFull {
		t.Fatalf("load: %d bindings, %v, rewrite all %v; want 1, the journal kept", n, err, s2.needFull)
	}
	stop2 := runStore(s2)
	storeSet(t, s2, l2, "a", "sip:a@2", exp)
	storeSet(t, s2, l2, "b", "sip:b@2", exp)
	stop2Power := func() {
		j, _ := os.ReadFile(s2.journalPath)
		stop2()
		os.Remove(s2.path)
		os.WriteFile(s2.journalPath, j, 0o600)
	}
	stop2Power()

	l3 := newLocation()
	s3 := newStore(dir, l3, log)
	if n, err := s3.load(now); err != nil || n != 2 || s3.needFull {
		t.Fatalf("load after the second start: %d bindings, %v, rewrite all %v; want 2, the journal intact", n, err, s3.needFull)
	}
	if got := l3.get("a"); len(got) != 1 || got[0].Contact != "sip:a@2" {
		t.Fatalf("a: %+v, want the change saved after the restart", got)
	}
}

// powerCutCopy returns a new data directory holding the bindings files of dir as they are now,
// as a power cut would leave them (the store keeps running on dir).
func powerCutCopy(t *testing.T, dir string) string {
	t.Helper()
	to := t.TempDir()
	for _, name := range []string{bindingsFile, journalFile} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			if err := os.WriteFile(filepath.Join(to, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	return to
}

// cover runs coverLocked as register does, inside the account's update, and returns the
// bindings as covered (with the expiries on disk) or as asked.
func cover(l *location, aor string, bs []Binding, now time.Time) ([]Binding, bool) {
	var covered bool
	var out []Binding
	l.update(aor, func(cur []Binding) ([]Binding, bool) {
		out = slices.Clone(bs)
		covered = l.coverLocked(aor, out, now, 60*time.Second)
		return cur, false // the location itself is left as it was
	})
	return out, covered
}

// A REGISTER is answered before its record is written only when the disk holds the account's
// bindings already, near enough: a refresh from where the phone was, asking for an expiry at
// most refreshSlack later than the one on disk — and it is granted the expiry on disk, so that a
// power cut right after the 200 OK (the files as they are then) finds the binding as the phone
// was told. Anything else waits for its write.
func TestStoreCoversOnlyRefreshesTheDiskHolds(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	log := slog.New(slog.DiscardHandler)
	l := newLocation()
	s := newStore(dir, l, log)
	if _, err := s.load(now); err != nil {
		t.Fatal(err)
	}
	stop := runStore(s)
	defer stop()
	phone := Binding{AOR: "a", Extension: "100", Contact: "sip:a@192.0.2.7:5060", Source: "192.0.2.7:5060", Transport: "UDP", Expires: now.Add(time.Hour)}
	other := Binding{AOR: "a", Extension: "100", Contact: "sip:a@192.0.2.8:5060", Source: "192.0.2.8:5060", Transport: "UDP", Expires: now.Add(time.Hour)}
	short := Binding{AOR: "c", Contact: "sip:c@192.0.2.7", Source: "192.0.2.7:5062", Transport: "UDP", Expires: now.Add(70 * time.Second)}
	for _, b := range []Binding{phone, short} {
		v, _ := l.update(b.AOR, func([]Binding) ([]Binding, bool) { return []Binding{b}, true })
		if err := s.saveNow(context.Background(), v); err != nil {
			t.Fatal(err)
		}
	}
	with := func(b Binding, f func(*Binding)) []Binding { f(&b); return []Binding{b} }
	for _, tc := range []struct {
		name string
		aor  string
		bs   []Binding
		want bool
	}{
		{"the same again", "a", []Binding{phone}, true},
		{"refreshed 20 s later", "a", with(phone, func(b *Binding) { b.Expires = b.Expires.Add(20 * time.Second); b.CallID, b.CSeq = "new-call", 7 }), true},
		{"refreshed 40 s later", "a", with(phone, func(b *Binding) { b.Expires = b.Expires.Add(40 * time.Second) }), false},
		{"cut short", "a", with(phone, func(b *Binding) { b.Expires = b.Expires.Add(-time.Second) }), false},
		{"moved to another source", "a", with(phone, func(b *Binding) { b.Source = "192.0.2.9:5060" }), false},
		{"over TCP now", "a", with(phone, func(b *Binding) { b.Transport = "TCP" }), false},
		{"another instance", "a", with(phone, func(b *Binding) { b.Instance = "<urn:uuid:x>" }), false},
		{"another contact", "a", []Binding{other}, false},
		{"a second contact", "a", []Binding{phone, other}, false},
		{"unregistered", "a", nil, false},
		{"a browser tab besides (never saved)", "a", []Binding{phone, with(other, func(b *Binding) { b.Transport = "WSS" })[0]}, true},
		{"a new account", "b", []Binding{{AOR: "b", Contact: "sip:b@x", Expires: now.Add(time.Hour)}}, false},
		// 70 s: the slack is 7 s, and what is on disk must leave at least 60 s.
		{"a short registration refreshed 10 s later", "c", with(short, func(b *Binding) { b.Expires = b.Expires.Add(10 * time.Second) }), false},
		{"a short registration refreshed 3 s later", "c", with(short, func(b *Binding) { b.Expires = b.Expires.Add(3 * time.Second) }), true},
	} {
		got, covered := cover(l, tc.aor, tc.bs, now)
		if covered != tc.want {
			t.Errorf("%s: covered %v, want %v", tc.name, covered, tc.want)
			continue
		}
		if covered {
			l.mu.RLock()
			onDisk := l.onDisk[tc.aor][0].Expires
			l.mu.RUnlock()
			for i, b := range got {
				if want := tc.bs[i].Expires; b.Transport != "WSS" && !b.Expires.Equal(onDisk) {
					t.Errorf("%s: granted expiry %v, want the one on disk, %v (asked %v)", tc.name, b.Expires, onDisk, want)
				} else if b.Transport == "WSS" && !b.Expires.Equal(want) {
					t.Errorf("%s: the browser tab's expiry moved to %v", tc.name, b.Expires)
				}
			}
		}
	}

	// A covered refresh, then a power cut before its record is written: the binding on disk is
	// the one the phone was told.
	refreshed, covered := cover(l, "a", with(phone, func(b *Binding) { b.Expires = b.Expires.Add(20 * time.Second); b.CallID = "new-call" }), now)
	if !covered {
		t.Fatal("the refresh is not covered")
	}
	l.update("a", func([]Binding) ([]Binding, bool) { return refreshed, false })
	crash := powerCutCopy(t, dir)
	l2 := newLocation()
	if _, err := newStore(crash, l2, log).load(now); err != nil {
		t.Fatal(err)
	}
	if got := l2.get("a"); len(got) != 1 || got[0].Contact != phone.Contact || !got[0].Expires.Equal(refreshed[0].Expires) {
		t.Fatalf("after a power cut: %+v, want %s expiring at %v as the phone was told", got, phone.Contact, refreshed[0].Expires)
	}
	// Its record (the new Call-ID) goes to disk with the next write.
	s.saveLater()
	v, _ := l.update("d", func([]Binding) ([]Binding, bool) {
		return []Binding{{AOR: "d", Contact: "sip:d@x", Expires: now.Add(time.Hour)}}, true
	})
	if err := s.saveNow(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	later := powerCutCopy(t, dir)
	l3 := newLocation()
	if _, err := newStore(later, l3, log).load(now); err != nil {
		t.Fatal(err)
	}
	if got := l3.get("a"); len(got) != 1 || got[0].CallID != "new-call" {
		t.Fatalf("the covered refresh's record was not written with the next write: %+v", got)
	}
}

// While an account's record is being written the disk may hold either the old record or the
// new one: a REGISTER is covered only if both keep its bindings.
func TestStoreCoversDuringAWriteWhatBothRecordsKeep(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	l := newLocation()
	s := newStore(dir, l, slog.New(slog.DiscardHandler))
	if _, err := s.load(now); err != nil {
		t.Fatal(err)
	}
	phone := []Binding{{AOR: "a", Contact: "sip:a@192.0.2.7", Source: "192.0.2.7:5060", Transport: "UDP", Expires: now.Add(time.Hour)}}
	stop := runStore(s)
	v, _ := l.update("a", func([]Binding) ([]Binding, bool) { return phone, true })
	if err := s.saveNow(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	stop()
	if _, ok := cover(l, "a", phone, now); !ok {
		t.Fatal("a saved binding is not covered")
	}
	// A record that keeps the same bindings (a covered refresh's: a new Call-ID) being written.
	l.update("a", func([]Binding) ([]Binding, bool) {
		b := phone[0]
		b.CallID, b.CSeq = "refresh", 9
		return []Binding{b}, true
	})
	changed, _ := l.takeDirty() // the write starts
	if _, ok := cover(l, "a", phone, now); !ok {
		t.Error("a refresh is not covered while a record with the same bindings is being written")
	}
	l.wrote(changed, nil, true)
	// A record that removes the binding being written.
	l.update("a", func([]Binding) ([]Binding, bool) { return nil, true }) // unregistered
	changed, _ = l.takeDirty()
	if _, ok := cover(l, "a", phone, now); ok {
		t.Error("a REGISTER is covered while its account's record, removing the binding, is being written")
	}
	l.wrote(changed, nil, true)
	if _, ok := cover(l, "a", phone, now); ok {
		t.Error("a binding removed on disk is covered")
	}
}

// A write that fails leaves what is on disk unknown: no refresh is covered until one succeeds.
func TestStoreCoversNothingAfterAFailedWrite(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	log := slog.New(slog.DiscardHandler)
	phone := []Binding{{AOR: "a", Contact: "sip:a@192.0.2.7", Source: "192.0.2.7:5060", Transport: "UDP", Expires: now.Add(time.Hour)}}
	l := newLocation()
	s := newStore(dir, l, log)
	stop := runStore(s)
	v, _ := l.update("a", func([]Binding) ([]Binding, bool) { return phone, true })
	if err := s.saveNow(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	stop() // folds the journal into the bindings file

	l2 := newLocation()
	s2 := newStore(dir, l2, log)
	if _, err := s2.load(now); err != nil {
		t.Fatal(err)
	}
	if _, ok := cover(l2, "a", phone, now); !ok {
		t.Fatal("a binding loaded from disk is not covered")
	}
	// Neither the journal nor the bindings file can be written any more.
	for _, p := range []string{s2.journalPath, s2.path} {
		os.Remove(p)
		if err := os.MkdirAll(filepath.Join(p, "in-the-way"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	defer runStore(s2)()
	l2.update("b", func([]Binding) ([]Binding, bool) {
		return []Binding{{AOR: "b", Contact: "sip:b@x", Expires: now.Add(time.Hour)}}, true
	})
	s2.saveLater()
	covered := func() bool { _, ok := cover(l2, "a", phone, now); return ok }
	for deadline := time.Now().Add(5 * time.Second); covered() && time.Now().Before(deadline); {
		select {
		case s2.kick <- struct{}{}:
		default:
		}
		time.Sleep(10 * time.Millisecond)
	}
	if covered() {
		t.Error("a refresh is still covered after a failed write")
	}
}
