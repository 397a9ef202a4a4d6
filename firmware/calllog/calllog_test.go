package calllog

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestAppendRecentRotate(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, 600)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	for i := 0; i < 20; i++ {
		e := Entry{Direction: "in", Peer: "500" + string(rune('0'+i%10)), Start: start.Add(time.Duration(i) * time.Minute), Duration: float64(i), Outcome: "answered"}
		if err := l.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := l.Recent(100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[0].Duration != 19 {
		t.Fatalf("newest first: got %+v", got)
	}
	for i := 1; i < len(got); i++ {
		if !got[i].Start.Before(got[i-1].Start) {
			t.Fatalf("not newest first at %d", i)
		}
	}
	var total int64
	for _, p := range []string{FileName, FileName + ".1"} {
		st, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		total += st.Size()
	}
	if total > 1200 {
		t.Fatalf("log grew to %d bytes, bound is 2×600", total)
	}
	if got, _ := l.Recent(3); len(got) != 3 {
		t.Fatalf("Recent(3) gave %d", len(got))
	}
}

func TestTornLineSkipped(t *testing.T) {
	dir := t.TempDir()
	l, _ := Open(dir, 0)
	l.Append(Entry{Direction: "out", Peer: "5001", Outcome: "busy"})
	f, _ := os.OpenFile(filepath.Join(dir, FileName), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"direction":"in","pe`)
	f.Close()
	got, err := l.Recent(10)
	if err != nil || len(got) != 1 || got[0].Peer != "5001" {
		t.Fatalf("got %+v %v", got, err)
	}
	// Appending after a torn line still yields readable entries.
	l.Append(Entry{Direction: "in", Peer: "5003", Outcome: "missed"})
	got, _ = l.Recent(10)
	if len(got) != 2 || got[0].Peer != "5003" {
		t.Fatalf("after a torn line: %+v", got)
	}
}
