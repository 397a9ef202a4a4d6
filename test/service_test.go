package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A broken config is reported with its line by `deskphone check`, and `run` says what is wrong
// instead of exiting into a silent restart loop.
func TestCheckReportsEveryProblemWithItsLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "deskphone.toml")
	os.WriteFile(path, []byte(`data_dir = "`+dir+`"
[registrar]
listen = "0.0.0.0:5060"

[[registrar.accounts]]
extension = "5001"
username = "alcatel"
password = "1111"
`), 0o600)
	out, err := exec.Command(deskphoneBinary(t), "check", "--config", path).CombinedOutput()
	if code := exitCode(err); code != 1 {
		t.Fatalf("check exit code %d, want 1; output:\n%s", code, out)
	}
	if !strings.Contains(string(out), "line 8: registrar.accounts.0.password: is too short") {
		t.Fatalf("check output does not point at the short password:\n%s", out)
	}
	good := filepath.Join(dir, "good.toml")
	ex, err := exec.Command(deskphoneBinary(t), "example").Output()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(good, ex, 0o600)
	if out, err := exec.Command(deskphoneBinary(t), "check", "--config", good).CombinedOutput(); err != nil {
		t.Fatalf("the shipped example config does not check: %v\n%s", err, out)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}
