package config

import (
	_ "embed"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// example is the commented example configuration; it is also what a Pi without a config file runs.
//
//go:embed example.toml
var example string

// Example returns the commented example configuration. overrides replaces settings by dotted key
// ("web.listen": `"127.0.0.1:8080"`), uncommenting them where needed; values are TOML literals.
func Example(overrides map[string]string) (string, error) {
	lines := strings.Split(example, "\n")
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		table, name := "", key
		if i := strings.LastIndexByte(key, '.'); i >= 0 {
			table, name = key[:i], key[i+1:]
		}
		re := regexp.MustCompile(`^#?\s*` + regexp.QuoteMeta(name) + `\s*=`)
		cur, done := "", false
		for i, l := range lines {
			t := strings.TrimSpace(l)
			if strings.HasPrefix(t, "[") && !strings.HasPrefix(t, "[[") {
				cur = strings.Trim(t, "[]")
				continue
			}
			if cur == table && re.MatchString(t) {
				lines[i] = name + " = " + overrides[key]
				done = true
				break
			}
		}
		if !done {
			return "", fmt.Errorf("example config has no setting %s", key)
		}
	}
	return strings.Join(lines, "\n"), nil
}
