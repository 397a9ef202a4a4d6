package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Problem is one thing wrong in a config file, with the line it is on (0 when the key is absent).
type Problem struct {
	Line int
	Key  string
	Msg  string
}

// String is the problem as `deskphone check` prints it: "line 12: web.listen: …".
func (p Problem) String() string {
	switch {
	case p.Line > 0 && p.Key != "":
		return fmt.Sprintf("line %d: %s: %s", p.Line, p.Key, p.Msg)
	case p.Line > 0:
		return fmt.Sprintf("line %d: %s", p.Line, p.Msg)
	case p.Key != "":
		return fmt.Sprintf("%s: %s", p.Key, p.Msg)
	}
	return p.Msg
}

// Problems is the error returned when a config file has mistakes; it lists all of them.
type Problems struct {
	File string
	List []Problem
}

// Error lists every problem, one a line, each prefixed with the file name.
func (e *Problems) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s has %d problem(s):", e.File, len(e.List))
	for _, p := range e.List {
		b.WriteString("\n  ")
		b.WriteString(e.File)
		b.WriteString(":")
		b.WriteString(p.String())
	}
	return b.String()
}

// ErrInvalid is wrapped by every validation failure, so callers can tell a bad file from a missing one.
var ErrInvalid = errors.New("invalid configuration")

// Unwrap makes errors.Is(err, ErrInvalid) hold for every Problems.
func (e *Problems) Unwrap() error { return ErrInvalid }

// Load reads and checks the file at path. A missing file is reported with os.ErrNotExist wrapped.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, b)
}

// Parse decodes data (named name in messages), applies defaults and validates everything. On any
// problem it returns a *Problems error listing each one with its line.
func Parse(name string, data []byte) (*File, error) {
	f := Default()
	lines := locate(data)
	md, err := toml.Decode(string(data), f)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			msg := pe.Message
			if msg == "" {
				msg = pe.Error()
			}
			line := pe.Position.Line
			if strings.Contains(msg, `'\n'`) && line > 1 {
				line-- // the parser stopped at the end of the line that is wrong
			}
			return nil, &Problems{File: name, List: []Problem{{Line: line, Key: pe.LastKey, Msg: msg}}}
		}
		if m := decodeErrRE.FindStringSubmatch(err.Error()); m != nil {
			n, _ := strconv.Atoi(m[1])
			return nil, &Problems{File: name, List: []Problem{{Line: n, Key: m[2], Msg: m[3]}}}
		}
		return nil, &Problems{File: name, List: []Problem{{Msg: err.Error()}}}
	}
	var probs []Problem
	for _, k := range md.Undecoded() {
		key := k.String()
		probs = append(probs, Problem{Line: lines.line(key), Key: key, Msg: "unknown setting (misspelt, or in the wrong [section]?)"})
	}
	c := &checker{lines: lines, set: func(key string) bool { return md.IsDefined(strings.Split(key, ".")...) }}
	f.validate(c)
	probs = append(probs, c.list...)
	if len(probs) > 0 {
		sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
		return nil, &Problems{File: name, List: probs}
	}
	return f, nil
}

// checker collects the problems of a file; each section's validate method reports through it.
type checker struct {
	lines lineIndex
	list  []Problem
	set   func(key string) bool // the file sets key (as opposed to the default)
}

// bad reports a problem with the setting key, at the line that sets it (or its section's).
func (c *checker) bad(key, format string, a ...any) {
	c.list = append(c.list, Problem{Line: c.lines.line(key), Key: key, Msg: fmt.Sprintf(format, a...)})
}

func (c *checker) atLeastOne(key string, v int) {
	if v < 1 {
		c.bad(key, "must be at least 1")
	}
}

func (c *checker) positive(key string, v Duration) {
	if v.Duration <= 0 {
		c.bad(key, "must be a positive duration such as \"60s\"")
	}
}

func (c *checker) percent(key string, v int) {
	if v < 0 || v > 100 {
		c.bad(key, "must be 0-100 (got %d)", v)
	}
}

// listen checks an address:port setting; an empty one is fine unless required.
func (c *checker) listen(key, v string, required bool) {
	if v == "" && !required {
		return
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		c.bad(key, "must be address:port such as \"0.0.0.0:5060\" (got %q)", v)
		return
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil && host != "localhost" {
			c.bad(key, "%q is not an IP address", host)
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		c.bad(key, "%q is not a port number", port)
	}
}

// decodeErrRE reads the TOML library's type errors: `toml: line 3 (last key "a.b"): incompatible types: …`.
var decodeErrRE = regexp.MustCompile(`line (\d+) \(last key "([^"]*)"\): (.*)`)

func samePort(a, b string) bool {
	_, pa, _ := net.SplitHostPort(a)
	_, pb, _ := net.SplitHostPort(b)
	return pa == pb && pa != "0"
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// Lenient decodes what it can of a file that does not check, for the few settings a service
// needs to report its own broken config (the web listener). It never fails: a file that is not
// even TOML gives the defaults.
func Lenient(data []byte) *File {
	f := Default()
	if _, err := toml.Decode(string(data), f); err != nil {
		return Default()
	}
	return f
}
