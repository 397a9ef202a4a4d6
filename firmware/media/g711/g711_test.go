package g711

import "testing"

// Known values: silence, the largest magnitudes and points in several segments, as produced by
// the Sun/ITU-T G.191 reference coder (cross-checked against CPython's audioop module).
func TestALawKnownValues(t *testing.T) {
	enc := []struct {
		in   int16
		want byte
	}{
		{0, 0xD5}, {-1, 0x55}, {-8, 0x55}, {8, 0xD5}, {16, 0xD4},
		{32767, 0xAA}, {-32768, 0x2A}, {256, 0xC5}, {-256, 0x5A},
		{1024, 0xE5}, {4096, 0x85}, {-4096, 0x1A}, {1000, 0xFA}, {-1000, 0x7A},
	}
	for _, c := range enc {
		if got := EncodeALaw(c.in); got != c.want {
			t.Errorf("EncodeALaw(%d) = %#02x, want %#02x", c.in, got, c.want)
		}
	}
	dec := []struct {
		in   byte
		want int16
	}{
		{0xD5, 8}, {0x55, -8}, {0xAA, 32256}, {0x2A, -32256}, {0xD4, 24}, {0xC5, 264}, {0x95, 2112}, {0xE5, 1056}, {0xCE, 440},
	}
	for _, c := range dec {
		if got := DecodeALaw(c.in); got != c.want {
			t.Errorf("DecodeALaw(%#02x) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestULawKnownValues(t *testing.T) {
	enc := []struct {
		in   int16
		want byte
	}{
		{0, 0xFF}, {-1, 0x7E}, {-4, 0x7E}, {4, 0xFE}, {8, 0xFE}, {16, 0xFD},
		{32767, 0x80}, {-32768, 0x00}, {1000, 0xCE}, {-1000, 0x4E}, {256, 0xE7}, {4096, 0xAF}, {-4096, 0x2F},
	}
	for _, c := range enc {
		if got := EncodeULaw(c.in); got != c.want {
			t.Errorf("EncodeULaw(%d) = %#02x, want %#02x", c.in, got, c.want)
		}
	}
	dec := []struct {
		in   byte
		want int16
	}{
		{0xFF, 0}, {0x7F, 0}, {0x80, 32124}, {0x00, -32124}, {0xFE, 8}, {0xCE, 988}, {0x4E, -988}, {0xD5, 716}, {0xAA, 5372}, {0x95, 13436},
	}
	for _, c := range dec {
		if got := DecodeULaw(c.in); got != c.want {
			t.Errorf("DecodeULaw(%#02x) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestDecodeTablesMatchFormula(t *testing.T) {
	for i := 0; i < 256; i++ {
		if alawDecode[i] != decodeALaw(byte(i)) {
			t.Fatalf("A-law table[%#02x] = %d, formula %d", i, alawDecode[i], decodeALaw(byte(i)))
		}
		if ulawDecode[i] != decodeULaw(byte(i)) {
			t.Fatalf("µ-law table[%#02x] = %d, formula %d", i, ulawDecode[i], decodeULaw(byte(i)))
		}
	}
}

// Every code decodes to a value that encodes back to the same code (except µ-law's negative
// zero 0x7F, which encodes as 0xFF), and encoding is monotonic: the companding curve never folds.
func TestRoundTripAndMonotonic(t *testing.T) {
	for i := 0; i < 256; i++ {
		c := byte(i)
		if got := EncodeALaw(DecodeALaw(c)); got != c {
			t.Errorf("A-law %#02x → %d → %#02x", c, DecodeALaw(c), got)
		}
		if c == 0x7F {
			continue
		}
		if got := EncodeULaw(DecodeULaw(c)); got != c {
			t.Errorf("µ-law %#02x → %d → %#02x", c, DecodeULaw(c), got)
		}
	}
	prevA, prevU := DecodeALaw(EncodeALaw(-32768)), DecodeULaw(EncodeULaw(-32768))
	for s := -32768; s <= 32767; s++ {
		a, u := DecodeALaw(EncodeALaw(int16(s))), DecodeULaw(EncodeULaw(int16(s)))
		if a < prevA || u < prevU {
			t.Fatalf("not monotonic at %d: A %d<%d or µ %d<%d", s, a, prevA, u, prevU)
		}
		prevA, prevU = a, u
		// Quantisation error stays within half a step of the segment (≤ 1/32 of the value + 16).
		if d := abs(s - int(a)); d > abs(s)/16+16 {
			t.Fatalf("A-law error %d at %d", d, s)
		}
		if d := abs(s - int(u)); d > abs(s)/16+16 && abs(s) < 32124 {
			t.Fatalf("µ-law error %d at %d", d, s)
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func BenchmarkEncodeALawFrame(b *testing.B) {
	pcm := make([]int16, 160)
	for i := range pcm {
		pcm[i] = int16(i * 200)
	}
	dst := make([]byte, 160)
	for b.Loop() {
		EncodeALawFrame(dst, pcm)
	}
}
