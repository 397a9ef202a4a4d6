package config

import (
	"regexp"
	"strings"
	"testing"
)

// The name checks accept exactly what the regular expressions they replace accepted.
func TestNameChecksMatchTheirRegularExpressions(t *testing.T) {
	checks := []struct {
		name string
		fn   func(string) bool
		re   *regexp.Regexp
	}{
		{"extension", isExtension, regexp.MustCompile(`^[0-9]{1,15}$`)},
		{"name", isName, regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)},
		{"SIP user", isSIPUser, regexp.MustCompile(`^(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2}){1,64}$`)},
		{"dialable", isDialable, regexp.MustCompile(`^[A-Za-z0-9*#+._-]{1,64}$`)},
	}
	inputs := []string{"", "5002", "0", "123456789012345", "1234567890123456", "rpi", "pi.office", "-rpi", ".x", "a_b-c.d",
		"user@host", "a b", "%41%42", "%4", "%G1", "%", "a%2", "50%2502", "*97", "#1", "+33123", "é", "a\n", "5002\n",
		"!~*'()&=+$,;?/", strings.Repeat("a", 64), strings.Repeat("a", 65), strings.Repeat("%41", 64), strings.Repeat("%41", 65),
		"x" + strings.Repeat("9", 63), "x" + strings.Repeat("9", 64), "a\x00", "ABCxyz019"}
	for _, c := range checks {
		for _, in := range inputs {
			if got, want := c.fn(in), c.re.MatchString(in); got != want {
				t.Errorf("%s %q: %v, want %v", c.name, in, got, want)
			}
		}
	}
}

func FuzzNameChecks(f *testing.F) {
	for _, s := range []string{"5002", "rpi", "%41", "a.b", "*97"} {
		f.Add(s)
	}
	ext := regexp.MustCompile(`^[0-9]{1,15}$`)
	name := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	user := regexp.MustCompile(`^(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2}){1,64}$`)
	dial := regexp.MustCompile(`^[A-Za-z0-9*#+._-]{1,64}$`)
	f.Fuzz(func(t *testing.T, s string) {
		if isExtension(s) != ext.MatchString(s) || isName(s) != name.MatchString(s) ||
			isSIPUser(s) != user.MatchString(s) || isDialable(s) != dial.MatchString(s) {
			t.Errorf("%q: checks and regular expressions disagree", s)
		}
	})
}
