package boottime

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestPhasesMergeInitAndServiceInTimeOrder(t *testing.T) {
	rec := filepath.Join(t.TempDir(), "boot-timeline")
	os.WriteFile(rec, []byte("kernel 1.50\nmodules 1.90\ngarbage line here\nmounts x\nnetwork 2.10\n"), 0o644)
	tl := Open(rec, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if tl == nil {
		t.Fatal("Open returned nil for an existing record")
	}
	now := 2.0
	tl.uptime = func() (time.Duration, error) { return time.Duration(now * float64(time.Second)), nil }
	tl.Mark("service")
	now = 3.25
	tl.Mark("registered")
	now = 9
	tl.Mark("registered") // a later registration does not move the first one
	// The DHCP lease arrives in the background after the service started.
	f, _ := os.OpenFile(rec, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("dhcp 2.80\ndhcp 40.00\n")
	f.Close()

	want := []Phase{{"kernel", 1.5}, {"modules", 1.9}, {"service", 2}, {"network", 2.1}, {"dhcp", 2.8}, {"registered", 3.25}}
	if got := tl.Phases(); !reflect.DeepEqual(got, want) {
		t.Fatalf("phases:\n got %v\nwant %v", got, want)
	}
	if s := tl.Summary(); s != "kernel=1.50 modules=1.90 service=2.00 network=2.10 dhcp=2.80 registered=3.25" {
		t.Fatalf("summary %q", s)
	}
}

func TestNoRecordNoTimeline(t *testing.T) {
	tl := Open(filepath.Join(t.TempDir(), "missing"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if tl != nil {
		t.Fatal("a timeline without the init's record: the uptime of a PC says nothing about the service")
	}
	tl.Mark("service") // must not panic
	if p := tl.Phases(); p != nil {
		t.Fatalf("phases %v", p)
	}
}

func TestProcUptimeIsMonotonic(t *testing.T) {
	if _, err := os.Stat("/proc/uptime"); err != nil {
		t.Skip("no /proc/uptime")
	}
	a, err := procUptime()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	b, _ := procUptime()
	if a <= 0 || b < a {
		t.Fatalf("uptime %v then %v", a, b)
	}
}
