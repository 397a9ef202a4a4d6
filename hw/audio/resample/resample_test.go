package resample

import (
	"math"
	"testing"
)

func tone(freq float64, rate, n int, amp float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return out
}

// power is the Goertzel power of freq in x, normalised so a full-scale-amplitude sine gives ~1.
func power(x []int16, freq float64, rate int) float64 {
	w := 2 * math.Pi * freq / float64(rate)
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := float64(v)/32768 + c*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - c*s1*s2
	return p * 4 / float64(len(x)*len(x))
}

// peak is the frequency among candidates with the most power in x.
func peak(x []int16, rate int) float64 {
	best, bestP := 0.0, -1.0
	for f := 100.0; f < float64(rate)/2; f += 50 {
		if p := power(x, f, rate); p > bestP {
			best, bestP = f, p
		}
	}
	return best
}

func db(ratio float64) float64 { return 10 * math.Log10(ratio) }

// feed processes src in uneven pieces, as sound-card callbacks do.
func feed(process func(dst, src []int16) []int16, src []int16) []int16 {
	var out []int16
	sizes := []int{1, 7, 160, 33, 960, 2}
	for i, k := 0, 0; i < len(src); k++ {
		n := min(sizes[k%len(sizes)], len(src)-i)
		out = process(out, src[i:i+n])
		i += n
	}
	return out
}

func TestRoundTripKeepsFrequencyAndLevel(t *testing.T) {
	for _, rate := range []int{16000, 48000} {
		factor, err := Factor(rate)
		if err != nil {
			t.Fatal(err)
		}
		in := tone(1000, Rate, Rate, 16000) // 1 s of 1 kHz at 8 kHz
		high := feed(NewUp(factor).Process, in)
		if len(high) != len(in)*factor {
			t.Fatalf("%d Hz: up gave %d samples, want %d", rate, len(high), len(in)*factor)
		}
		skip := 200 * factor // filter delay
		if f := peak(high[skip:], rate); f != 1000 {
			t.Errorf("%d Hz: tone at %v Hz on the device side, want 1000", rate, f)
		}
		if rate > 16000 {
			// the image of 1 kHz at 7 kHz must be gone
			if r := db(power(high[skip:], 7000, rate) / power(high[skip:], 1000, rate)); r > -50 {
				t.Errorf("%d Hz: image at 7 kHz only %.1f dB below the tone", rate, r)
			}
		}
		back := feed(NewDown(factor).Process, high)
		if len(back) != len(in) {
			t.Fatalf("%d Hz: down gave %d samples, want %d", rate, len(back), len(in))
		}
		tail := back[400:]
		if f := peak(tail, Rate); f != 1000 {
			t.Errorf("%d Hz: round trip gives %v Hz, want 1000", rate, f)
		}
		if g := db(power(tail, 1000, Rate) / power(in[400:], 1000, Rate)); math.Abs(g) > 0.5 {
			t.Errorf("%d Hz: round trip changes the level by %.2f dB", rate, g)
		}
	}
}

func TestDownRejectsAliases(t *testing.T) {
	// 6 kHz at 48 kHz would fold to 2 kHz at 8 kHz without the filter.
	in := tone(6000, 48000, 48000, 16000)
	out := NewDown(6).Process(nil, in)
	ref := NewDown(6).Process(nil, tone(2000, 48000, 48000, 16000))
	if r := db(power(out[400:], 2000, Rate) / power(ref[400:], 2000, Rate)); r > -50 {
		t.Errorf("6 kHz folds into 2 kHz only %.1f dB down", r)
	}
}

func TestTelephoneBandIsFlat(t *testing.T) {
	for _, f := range []float64{300, 1000, 2000, 3000, 3400} {
		in := tone(f, Rate, Rate, 10000)
		out := NewDown(6).Process(nil, NewUp(6).Process(nil, in))
		if g := db(power(out[400:], f, Rate) / power(in[400:], f, Rate)); g < -3 || g > 0.5 {
			t.Errorf("%v Hz: round trip gain %.2f dB, want within -3..+0.5 dB", f, g)
		}
	}
}

func TestFactor(t *testing.T) {
	for rate, ok := range map[int]bool{8000: true, 16000: true, 48000: true, 44100: false, 0: false, 4000: false} {
		if _, err := Factor(rate); (err == nil) != ok {
			t.Errorf("Factor(%d) err = %v", rate, err)
		}
	}
}

func BenchmarkRoundTrip48k(b *testing.B) {
	up, down := NewUp(6), NewDown(6)
	in := tone(1000, Rate, 160, 10000)
	high := make([]int16, 0, 960)
	low := make([]int16, 0, 160)
	b.SetBytes(160 * 2)
	for i := 0; i < b.N; i++ {
		high = up.Process(high[:0], in)
		low = down.Process(low[:0], high)
	}
}
