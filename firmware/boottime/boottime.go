// Package boottime is the appliance's boot timeline: when each phase of the start was reached,
// in seconds since the kernel started (the monotonic clock of /proc/uptime, which the missing
// real-time clock and a later NTP step cannot move).
//
// The init records its phases (kernel, modules, mounts, fsck, network up, DHCP lease, clock) as
// lines "PHASE SECONDS" in a file under /run; the service appends its own (service start, first
// REGISTER answered) with Mark, so `cat /run/boot-timeline` shows the whole start. Phases lists
// them, in time order.
package boottime

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// InitRecord is where the card's init writes its phases.
const InitRecord = "/run/boot-timeline"

// Phase is one step of the start and when it was reached.
type Phase struct {
	Name string  `json:"phase"`
	At   float64 `json:"at_s"` // seconds since the kernel started
}

// Timeline is the record the init started and the service adds to.
type Timeline struct {
	record string
	uptime func() (time.Duration, error)
	log    *slog.Logger

	mu   sync.Mutex
	seen map[string]bool
}

// Open returns the timeline whose init phases are in record (InitRecord on the card). It returns
// nil when record does not exist: the service then runs on a machine that did not boot for it,
// whose uptime says nothing about the service. A nil *Timeline ignores Mark and has no phases.
func Open(record string, log *slog.Logger) *Timeline {
	if _, err := os.Stat(record); err != nil {
		return nil
	}
	return &Timeline{record: record, uptime: procUptime, log: log, seen: map[string]bool{}}
}

// Mark records that the service reached phase now, the first time only, and says so on the log.
func (t *Timeline) Mark(phase string) {
	if t == nil {
		return
	}
	up, err := t.uptime()
	if err != nil {
		t.log.Debug("boot timeline", "err", err)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seen[phase] {
		return
	}
	t.seen[phase] = true
	f, err := os.OpenFile(t.record, os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = fmt.Fprintf(f, "%s %.2f\n", phase, seconds(up))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.log.Warn("boot timeline not recorded", "phase", phase, "err", err)
	}
	t.log.Info("boot phase", "phase", phase, "at", fmt.Sprintf("%.2fs", seconds(up)))
}

// Phases is the whole timeline so far, in time order (read anew each time: the DHCP lease and the
// clock arrive in the background).
func (t *Timeline) Phases() []Phase {
	if t == nil {
		return nil
	}
	data, err := os.ReadFile(t.record)
	if err != nil {
		t.log.Debug("boot timeline", "err", err)
	}
	out := parse(data)
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out
}

// Summary is Phases as one line, "kernel=1.52 modules=1.80 …", for the console.
func (t *Timeline) Summary() string {
	var b strings.Builder
	for i, p := range t.Phases() {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%.2f", p.Name, p.At)
	}
	return b.String()
}

// Status is the "boot" section of the status API.
func (t *Timeline) Status() any {
	return map[string]any{"phases": t.Phases()}
}

// parse reads "PHASE SECONDS" lines; anything else is skipped. A phase recorded twice (a DHCP
// lease renewed, the clock set again) keeps its first time.
func parse(data []byte) []Phase {
	var out []Phase
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || seen[f[0]] {
			continue
		}
		at, err := strconv.ParseFloat(f[1], 64)
		if err != nil || at < 0 {
			continue
		}
		seen[f[0]] = true
		out = append(out, Phase{Name: f[0], At: at})
	}
	return out
}

func seconds(d time.Duration) float64 {
	return float64(d.Round(10*time.Millisecond)) / float64(time.Second)
}

// procUptime is the time since the kernel started, from /proc/uptime.
func procUptime() (time.Duration, error) {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, fmt.Errorf("read the uptime: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("read the uptime: /proc/uptime is empty")
	}
	s, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, fmt.Errorf("read the uptime %q: %w", f[0], err)
	}
	return time.Duration(s * float64(time.Second)), nil
}
