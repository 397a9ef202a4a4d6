package procgroup

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// recorder stands in for the test that started the peer: it collects the cleanup and the errors.
type recorder struct {
	testing.TB
	cleanups []func()
	errs     []string
}

func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func run(t *testing.T, script string) []string {
	t.Helper()
	r := &recorder{TB: t}
	if _, err := Start(r, exec.Command("sh", "-c", script), time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let the children start
	for _, f := range r.cleanups {
		f()
	}
	return r.errs
}

// Children that stay in the peer's group (Kamailio's workers) are stopped with it.
func TestGroupStopped(t *testing.T) {
	if errs := run(t, "sleep 30 & sleep 30 & wait"); len(errs) > 0 {
		t.Fatalf("children in the group were not stopped: %v", errs)
	}
}

// A child that leaves the group (a daemon's setsid) fails the test and is killed.
func TestEscapedChildFailsTheTest(t *testing.T) {
	errs := run(t, "setsid sleep 31 & sleep 30")
	if len(errs) != 1 || !strings.Contains(errs[0], "sleep") {
		t.Fatalf("want one error naming the surviving sleep, got %v", errs)
	}
	if out, _ := exec.Command("pgrep", "-f", "sleep 31").Output(); len(out) > 0 {
		t.Fatalf("the survivor was not killed: pid %s", out)
	}
}

// What a peer leaves in its temporary directory when it is killed (Chromium's
// org.chromium.Chromium.*, a PulseAudio client's pulse-*) goes with its test, not into /tmp; a
// TMPDIR chosen for the peer is kept.
func TestPeerTempFilesGoWithTheTest(t *testing.T) {
	outer := t.TempDir()
	chosen := filepath.Join(outer, "chosen")
	os.Mkdir(chosen, 0o700)
	var left []string
	t.Run("peer", func(t *testing.T) {
		for i, env := range [][]string{nil, append(os.Environ(), "TMPDIR="+chosen)} {
			report := filepath.Join(outer, fmt.Sprint("report", i))
			cmd := exec.Command("sh", "-c", `[ -z "$TMPDIR" ] || touch "$TMPDIR/left-behind"; echo "$TMPDIR" >"$0"; sleep 30`, report)
			cmd.Env = env
			if _, err := Start(t, cmd, time.Second); err != nil {
				t.Fatal(err)
			}
			var dir []byte
			for deadline := time.Now().Add(5 * time.Second); len(dir) == 0 && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
				dir, _ = os.ReadFile(report)
			}
			got := strings.TrimSpace(string(dir))
			switch {
			case i == 1 && got != chosen:
				t.Errorf("the peer's own TMPDIR %s was replaced by %q", chosen, got)
			case i == 0 && (got == "" || got == os.TempDir()):
				t.Errorf("the peer's TMPDIR is %q, not a directory of its test", got)
			}
			left = append(left, filepath.Join(got, "left-behind"))
		}
	})
	if _, err := os.Stat(left[0]); !os.IsNotExist(err) {
		t.Errorf("%s outlived the test that started the peer (err %v)", left[0], err)
	}
	if _, err := os.Stat(left[1]); err != nil {
		t.Errorf("the file in the TMPDIR chosen for the peer is gone: %v", err)
	}
}
