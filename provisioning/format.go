package provisioning

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// File is an Alcatel sipconfig file: "[section]" headers, each followed by "key=value" lines.
// Comments (lines starting with "#") are kept only on output, in Header.
type File struct {
	Header   []string // comment lines written at the top, without the leading "# "
	Sections []Section
}

// Section is one "[name]" block, keys in file order.
type Section struct {
	Name string
	Keys []KeyValue
}

// KeyValue is one "key=value" line. An empty value tells the phone to use its default.
type KeyValue struct {
	Key, Value string
}

// ErrSyntax is wrapped by Parse for a line that is not a section header, a key=value pair, a comment
// or blank.
var ErrSyntax = errors.New("not an Alcatel sipconfig line")

// ErrUnsafeValue says a value holds a character that would break the file (a line break, a NUL or
// another control character) and could smuggle in extra keys.
var ErrUnsafeValue = errors.New("value holds a control character")

// Get returns the value of key in section (the last one if repeated) and whether it is present.
func (f File) Get(section, key string) (string, bool) {
	var v string
	var found bool
	for _, s := range f.Sections {
		if s.Name != section {
			continue
		}
		for _, kv := range s.Keys {
			if kv.Key == key {
				v, found = kv.Value, true
			}
		}
	}
	return v, found
}

// Keys returns every "section.key" in file order, for tests and diagnostics.
func (f File) Keys() []string {
	var out []string
	for _, s := range f.Sections {
		for _, kv := range s.Keys {
			out = append(out, s.Name+"."+kv.Key)
		}
	}
	return out
}

func (s *Section) add(key, value string) { s.Keys = append(s.Keys, KeyValue{key, value}) }

// set replaces the value of key, or adds it.
func (s *Section) set(key, value string) {
	for i := range s.Keys {
		if s.Keys[i].Key == key {
			s.Keys[i].Value = value
			return
		}
	}
	s.add(key, value)
}

// Marshal writes the file with LF line ends. It refuses names and values that are not UTF-8 or hold
// control characters, so nothing a user typed can add a line to the file.
func (f File) Marshal() ([]byte, error) {
	var b bytes.Buffer
	for _, c := range f.Header {
		if err := checkValue(c); err != nil {
			return nil, fmt.Errorf("comment %q: %w", c, err)
		}
		b.WriteString("# " + c + "\n")
	}
	for i, s := range f.Sections {
		if !validName(s.Name) {
			return nil, fmt.Errorf("section name %q: %w", s.Name, ErrSyntax)
		}
		if i > 0 || len(f.Header) > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("[" + s.Name + "]\n")
		for _, kv := range s.Keys {
			if !validName(kv.Key) {
				return nil, fmt.Errorf("key name %q: %w", kv.Key, ErrSyntax)
			}
			if err := checkValue(kv.Value); err != nil {
				return nil, fmt.Errorf("[%s] %s: %w", s.Name, kv.Key, err)
			}
			b.WriteString(kv.Key + "=" + kv.Value + "\n")
		}
	}
	return b.Bytes(), nil
}

// Parse reads a sipconfig file as the phone does: blank lines and "#" comments are skipped, leading
// spaces are allowed, a value runs to the end of the line (CR LF or LF).
func Parse(data []byte) (File, error) {
	var f File
	if !utf8.Valid(data) {
		return f, fmt.Errorf("file is not UTF-8: %w", ErrSyntax)
	}
	var cur *Section
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		trimmed := strings.TrimLeft(line, " \t")
		switch {
		case trimmed == "":
			continue
		case trimmed[0] == '#':
			continue
		case trimmed[0] == '[':
			name, ok := strings.CutSuffix(strings.TrimRight(trimmed, " \t"), "]")
			name = name[1:]
			if !ok || !validName(name) {
				return f, fmt.Errorf("line %d: bad section header %q: %w", n+1, line, ErrSyntax)
			}
			f.Sections = append(f.Sections, Section{Name: name})
			cur = &f.Sections[len(f.Sections)-1]
		default:
			key, value, ok := strings.Cut(trimmed, "=")
			key = strings.TrimRight(key, " \t")
			if !ok || !validName(key) {
				return f, fmt.Errorf("line %d: %q is not key=value: %w", n+1, line, ErrSyntax)
			}
			if cur == nil {
				return f, fmt.Errorf("line %d: key %q before any [section]: %w", n+1, key, ErrSyntax)
			}
			if err := checkValue(value); err != nil {
				return f, fmt.Errorf("line %d: %w", n+1, err)
			}
			cur.add(key, value)
		}
	}
	return f, nil
}

// validName accepts the section and key names the reference file uses: lower-case letters, digits and
// underscores.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func checkValue(v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("%q is not UTF-8: %w", v, ErrUnsafeValue)
	}
	for _, c := range v {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == '\u2028' || c == '\u2029' {
			return fmt.Errorf("%q: %w", v, ErrUnsafeValue)
		}
	}
	return nil
}

// cleanText makes free text (a display name) safe for the file: control characters become spaces,
// runs of spaces collapse, and the result is trimmed and cut to max runes.
func cleanText(s string, max int) string {
	s = strings.ToValidUTF8(s, "")
	var b strings.Builder
	space := false
	n := 0
	for _, c := range s {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == '\u2028' || c == '\u2029' || c == ' ' {
			space = true
			continue
		}
		if n >= max {
			break
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
			n++
		}
		space = false
		b.WriteRune(c)
		n++
	}
	return b.String()
}
