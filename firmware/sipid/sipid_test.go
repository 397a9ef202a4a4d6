package sipid

import (
	"strings"
	"testing"
)

func TestTokenIsHexOfTheLengthAsked(t *testing.T) {
	for _, n := range []int{1, 8, 12, 24, 40} {
		tok := Token(n)
		if len(tok) != 2*n {
			t.Fatalf("Token(%d) = %q: %d characters, want %d", n, tok, len(tok), 2*n)
		}
		if strings.Trim(tok, "0123456789abcdef") != "" {
			t.Fatalf("Token(%d) = %q: not lowercase hexadecimal", n, tok)
		}
	}
	if Token(8) == Token(8) {
		t.Fatal("two tokens are the same: not random")
	}
}
