package sdes

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse: any a=crypto value is a usable line, one we do not implement, or malformed; never
// a panic. A usable line has a suite we implement and a key of KeyLen bytes, and writes back
// as a line that parses to the same.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"1 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj",
		"1 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj|2^20",
		"1 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj|2^20|1:4",
		"2 AES_CM_128_HMAC_SHA1_32 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj|1:4",
		"3 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj;inline:QUJD",
		"4 AES_256_CM_HMAC_SHA1_80 inline:QUJD",
		"5 AES_CM_128_HMAC_SHA1_80 inline:QUJD",
		"6 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj UNENCRYPTED_SRTP",
		"x AES_CM_128_HMAC_SHA1_80 inline:",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		c, ok, err := Parse(v)
		if err != nil {
			if ok || !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) = ok %v, err %v: an error must be ErrMalformed and not ok", v, ok, err)
			}
			return
		}
		if !ok {
			return
		}
		if _, known := SuiteByName(c.Suite.Name); !known || len(c.Key) != KeyLen {
			t.Fatalf("Parse(%q) accepted suite %q with a %d-byte key", v, c.Suite.Name, len(c.Key))
		}
		again, ok, err := Parse(c.String())
		if err != nil || !ok || again.String() != c.String() {
			t.Fatalf("%q wrote %q, which parses to %v %v %v", v, c.String(), again, ok, err)
		}
		if strings.Contains(v, "UNENCRYPTED") || strings.Contains(v, "UNAUTHENTICATED") {
			t.Fatalf("Parse(%q) accepted a line that turns protection off", v)
		}
		if _, err := NewStreams(c, c); err != nil {
			t.Fatalf("Parse(%q)'s key makes no SRTP context: %v", v, err)
		}
	})
}
