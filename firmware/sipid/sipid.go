// Package sipid makes the random identifiers deskphone puts in SIP messages: tags, Via branches,
// Call-IDs, opaque values.
//
// They are lowercase hexadecimal. A peer that finds a header by searching the message's text
// (SIPp looks for "CSeq" so) would otherwise sometimes find one inside a tag: a tag of 16
// letters and digits spells "CSeq" about once in a million, and the peer then reads the wrong
// CSeq and drops the response — one failed registration in 60,000 in the benchmark. Hexadecimal
// digits cannot spell a header name.
package sipid

import (
	"crypto/rand"
	"encoding/hex"
)

// Token returns n random bytes as 2n lowercase hexadecimal digits.
func Token(n int) string {
	return string(Append(make([]byte, 0, 2*n), n))
}

// Append appends Token(n) to dst without another allocation.
func Append(dst []byte, n int) []byte {
	var b [32]byte
	for n > 0 {
		k := min(n, len(b))
		_, _ = rand.Read(b[:k]) // crypto/rand.Read never fails on Linux (Go ≥ 1.24 panics instead)
		dst = hex.AppendEncode(dst, b[:k])
		n -= k
	}
	return dst
}
