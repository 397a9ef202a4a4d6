package procgroup

import (
	"fmt"
	"os/exec"
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
