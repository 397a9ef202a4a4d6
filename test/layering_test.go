package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// The layering rules of the project: firmware/ and hw/ never import each other (cmd/deskphone
// wires them), only firmware/ packages named for SIP or media import sipgo and pion, and the
// shipped binary contains no test fakes.
func TestLayering(t *testing.T) {
	const mod = "github.com/deskphone/deskphone/"
	deps := func(pattern string) map[string][]string {
		t.Helper()
		cmd := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, pattern)
		cmd.Dir = repoRoot(t)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pattern, err)
		}
		m := map[string][]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			if len(f) > 0 && strings.HasPrefix(f[0], mod) {
				m[f[0]] = f[1:]
			}
		}
		return m
	}
	for pkg, ds := range deps("./firmware/...") {
		for _, d := range ds {
			if strings.HasPrefix(d, mod+"hw/") {
				t.Errorf("%s imports %s: firmware/ must not import hw/ (wire them in cmd/deskphone)", pkg, d)
			}
			if strings.HasPrefix(d, "github.com/gen2brain/malgo") || strings.HasPrefix(d, "periph.io/") {
				t.Errorf("%s depends on %s: hardware libraries belong in hw/", pkg, d)
			}
		}
	}
	for pkg, ds := range deps("./hw/...") {
		for _, d := range ds {
			if strings.HasPrefix(d, mod+"firmware/") {
				t.Errorf("%s imports %s: hw/ must not import firmware/", pkg, d)
			}
		}
	}
	for _, d := range deps("./cmd/deskphone")[mod+"cmd/deskphone"] {
		if strings.HasSuffix(d, "test") && strings.HasPrefix(d, mod) {
			t.Errorf("the deskphone binary links the test fake %s", d)
		}
	}
}
