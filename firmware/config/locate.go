package config

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
)

// lineIndex maps dotted keys ("registrar.accounts.0.password") to the line they are written on.
// Tables and arrays of tables map too ("registrar", "registrar.accounts.0"), so a missing key can
// be reported at the section that should hold it.
type lineIndex map[string]int

// line returns the line of key, else of its nearest enclosing table, else 0.
func (l lineIndex) line(key string) int {
	for k := key; k != ""; {
		if n, ok := l[k]; ok {
			return n
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}

// locate scans TOML text for table headers and key lines. It is deliberately simple: it only has
// to find where a key is written, the real decoding is done by the TOML library.
func locate(data []byte) lineIndex {
	idx := lineIndex{}
	arrays := map[string]int{} // array-of-tables name → count so far
	table := ""
	inMulti := "" // inside a multi-line string, its delimiter
	depth := 0    // inside a multi-line array
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if inMulti != "" {
			if strings.Contains(line, inMulti) {
				inMulti = ""
			}
			continue
		}
		if depth > 0 {
			depth += strings.Count(line, "[") - strings.Count(line, "]")
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if strings.HasPrefix(line, "[[") {
			name := cleanKey(strings.TrimSuffix(strings.SplitN(line[2:], "]]", 2)[0], "]]"))
			i := arrays[name]
			arrays[name] = i + 1
			table = name + "." + strconv.Itoa(i)
			idx[table] = n
			if _, ok := idx[name]; !ok {
				idx[name] = n
			}
			continue
		}
		if line[0] == '[' {
			table = cleanKey(strings.SplitN(line[1:], "]", 2)[0])
			idx[table] = n
			continue
		}
		eq := strings.IndexByte(line, '=')
		if eq < 0 {
			continue
		}
		key := cleanKey(line[:eq])
		full := key
		if table != "" {
			full = table + "." + key
		}
		idx[full] = n
		val := strings.TrimSpace(line[eq+1:])
		for _, d := range []string{`"""`, `'''`} {
			if strings.HasPrefix(val, d) && !strings.Contains(val[3:], d) {
				inMulti = d
			}
		}
		if strings.HasPrefix(val, "[") {
			// Element lines of a one-line array get "key.N" entries; multi-line arrays are skipped.
			depth = strings.Count(val, "[") - strings.Count(val, "]")
			if depth <= 0 {
				for i := 0; i < strings.Count(val, ",")+1; i++ {
					idx[full+"."+strconv.Itoa(i)] = n
				}
			}
		}
	}
	return idx
}

func cleanKey(k string) string {
	parts := strings.Split(strings.TrimSpace(k), ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return strings.Join(parts, ".")
}
