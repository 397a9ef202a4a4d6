// Package g711 converts between 16-bit linear PCM and ITU-T G.711 A-law (PCMA) and µ-law (PCMU).
//
// The functions are pure and allocation free. Linear samples use the full int16 range; G.711's
// 13-bit (A-law) and 14-bit (µ-law) magnitudes are scaled up by 8 and 4, as in the ITU-T
// reference implementation (G.191 Software Tools Library, g711.c).
package g711

// EncodeALaw returns the A-law code of one linear sample (ITU-T G.711 §2, Table 1a/1b).
// Even bits are inverted on the wire, hence the 0x55 mask.
func EncodeALaw(sample int16) byte {
	v := int(sample) >> 3 // 13-bit
	mask := byte(0xD5)
	if v < 0 {
		mask = 0x55
		v = -v - 1
	}
	seg := segment(v>>5, 8) // segment ends 0x1F, 0x3F, 0x7F, ... 0xFFF
	if seg >= 8 {
		return 0x7F ^ mask
	}
	code := byte(seg << 4)
	if seg < 2 {
		code |= byte(v>>1) & 0x0F
	} else {
		code |= byte(v>>seg) & 0x0F
	}
	return code ^ mask
}

// DecodeALaw returns the linear value of an A-law code.
func DecodeALaw(code byte) int16 { return alawDecode[code] }

// EncodeULaw returns the µ-law code of one linear sample (ITU-T G.711 §3, Table 2a/2b), with the
// usual bias of 33 and clipping at 8159 (14-bit).
func EncodeULaw(sample int16) byte {
	const clip, bias = 8159, 0x21
	v := int(sample) >> 2 // 14-bit
	mask := byte(0xFF)
	if v < 0 {
		v = -v
		mask = 0x7F
	}
	if v > clip {
		v = clip
	}
	v += bias
	seg := segment(v>>6, 8) // segment ends 0x3F, 0x7F, ... 0x1FFF
	if seg >= 8 {
		return 0x7F ^ mask
	}
	code := byte(seg<<4) | byte(v>>(seg+1))&0x0F
	return code ^ mask
}

// DecodeULaw returns the linear value of a µ-law code.
func DecodeULaw(code byte) int16 { return ulawDecode[code] }

// segment returns the index of the highest set bit of x plus one (0 for x == 0), capped at limit:
// the G.711 segment number once the sample is shifted so segment 0 ends at 0.
func segment(x, limit int) int {
	s := 0
	for x > 0 && s < limit {
		x >>= 1
		s++
	}
	return s
}

// EncodeALawFrame encodes pcm into dst, which must be at least len(pcm) long; it returns dst[:len(pcm)].
func EncodeALawFrame(dst []byte, pcm []int16) []byte {
	dst = dst[:len(pcm)]
	for i, s := range pcm {
		dst[i] = EncodeALaw(s)
	}
	return dst
}

// EncodeULawFrame encodes pcm into dst, which must be at least len(pcm) long; it returns dst[:len(pcm)].
func EncodeULawFrame(dst []byte, pcm []int16) []byte {
	dst = dst[:len(pcm)]
	for i, s := range pcm {
		dst[i] = EncodeULaw(s)
	}
	return dst
}

// DecodeALawFrame decodes codes into dst, which must be at least len(codes) long.
func DecodeALawFrame(dst []int16, codes []byte) []int16 {
	dst = dst[:len(codes)]
	for i, c := range codes {
		dst[i] = alawDecode[c]
	}
	return dst
}

// DecodeULawFrame decodes codes into dst, which must be at least len(codes) long.
func DecodeULawFrame(dst []int16, codes []byte) []int16 {
	dst = dst[:len(codes)]
	for i, c := range codes {
		dst[i] = ulawDecode[c]
	}
	return dst
}

// decodeALaw is the reference A-law decoder the table was built from.
func decodeALaw(a byte) int16 {
	a ^= 0x55
	t := int(a&0x0F) << 4
	seg := int(a&0x70) >> 4
	switch seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

// decodeULaw is the reference µ-law decoder the table was built from.
func decodeULaw(u byte) int16 {
	u = ^u
	t := (int(u&0x0F) << 3) + 0x84
	t <<= int(u&0x70) >> 4
	if u&0x80 != 0 {
		return int16(0x84 - t)
	}
	return int16(t - 0x84)
}
