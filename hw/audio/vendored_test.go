package audio

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestVendoredMalgoIsUpstreamPlusPatches checks that third_party/malgo is exactly the malgo release
// go.mod names, plus the patches in third_party/malgo/patches: nothing changed by hand, nothing
// silently lost on an upgrade.
func TestVendoredMalgoIsUpstreamPlusPatches(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads the upstream module")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	vendored := filepath.Join(root, "third_party", "malgo")
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/gen2brain/malgo (v\S+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod does not require github.com/gen2brain/malgo")
	}
	version := string(m[1])

	// The upstream module, from the module cache or the module proxy.
	cmd := exec.Command("go", "mod", "download", "-json", "github.com/gen2brain/malgo@"+version)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download malgo@%s: %v\n%s", version, err, out)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download malgo@%s: no module directory in %q", version, out)
	}

	// Upstream plus our patches, in a scratch copy.
	work := t.TempDir()
	entries, err := os.ReadDir(vendored)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if e.IsDir() || e.Name() == "PATCHED.md" {
			continue
		}
		files = append(files, e.Name())
		up, err := os.ReadFile(filepath.Join(mod.Dir, e.Name()))
		if err != nil {
			t.Errorf("%s is not in malgo %s: vendored files must come from upstream", e.Name(), version)
			continue
		}
		if err := os.WriteFile(filepath.Join(work, e.Name()), up, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	patches, _ := filepath.Glob(filepath.Join(vendored, "patches", "*.patch"))
	if len(patches) == 0 {
		t.Fatal("no patches in third_party/malgo/patches (PATCHED.md describes one)")
	}
	for _, p := range patches {
		apply := exec.Command("git", "apply", p)
		apply.Dir = work
		if out, err := apply.CombinedOutput(); err != nil {
			t.Fatalf("%s does not apply to malgo %s: %v\n%s", filepath.Base(p), version, err, out)
		}
	}
	for _, f := range files {
		want, err := os.ReadFile(filepath.Join(work, f))
		if err != nil {
			continue // reported above
		}
		got, err := os.ReadFile(filepath.Join(vendored, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("third_party/malgo/%s differs from malgo %s plus %s: edit it only through a patch",
				f, version, strings.Join(baseNames(patches), ", "))
		}
	}
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}
