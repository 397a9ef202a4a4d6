package registrar

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"
)

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
