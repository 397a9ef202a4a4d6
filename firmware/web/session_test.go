package web

import (
	"path/filepath"
	"testing"
)

// BenchmarkPasswordCheck is the CPU one login attempt costs (PBKDF2-SHA256); the checks run one
// at a time, so a guessing flood costs at most one core.
func BenchmarkPasswordCheck(b *testing.B) {
	a, err := openAdmin(filepath.Join(b.TempDir(), "web-admin.json"), func() (string, error) { return "correct-horse-battery", nil })
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		a.check("wrong-guess")
	}
}
