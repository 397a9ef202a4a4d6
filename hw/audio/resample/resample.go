// Package resample converts 8 kHz telephone audio to and from a sound-card rate that is a whole
// multiple of it (16, 24, 32 or 48 kHz).
//
// Both directions use the same windowed-sinc (Blackman) low-pass filter, cut off at 3.7 kHz: the
// interpolator removes the images that zero-stuffing creates above 4 kHz, the decimator removes
// what would alias into the telephone band. The interpolator is polyphase, so each direction costs
// about 32 multiply-adds per sample at the higher rate.
package resample

import (
	"fmt"
	"math"
)

// Rate is the telephone side's sample rate, in Hz.
const Rate = 8000

// tapsPerPhase sets the filter length: tapsPerPhase × factor taps.
const tapsPerPhase = 32

// cutoff is the pass-band edge in Hz, below Rate/2.
const cutoff = 3700.0

// Factor returns deviceRate / Rate, or an error if deviceRate is not a whole multiple of 8 kHz.
func Factor(deviceRate int) (int, error) {
	if deviceRate < Rate || deviceRate%Rate != 0 {
		return 0, fmt.Errorf("sample rate %d Hz is not a multiple of %d Hz", deviceRate, Rate)
	}
	return deviceRate / Rate, nil
}

// lowPass designs the filter at the high rate factor×Rate, normalised to unity gain at DC.
func lowPass(factor int) []float32 {
	n := tapsPerPhase * factor
	fc := cutoff / float64(factor*Rate) // cycles per sample at the high rate
	h := make([]float64, n)
	sum := 0.0
	mid := float64(n-1) / 2
	for i := range h {
		x := float64(i) - mid
		sinc := 2 * fc
		if x != 0 {
			sinc = math.Sin(2*math.Pi*fc*x) / (math.Pi * x)
		}
		w := 0.42 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1)) + 0.08*math.Cos(4*math.Pi*float64(i)/float64(n-1))
		h[i] = sinc * w
		sum += h[i]
	}
	out := make([]float32, n)
	for i := range h {
		out[i] = float32(h[i] / sum)
	}
	return out
}

// Up converts 8 kHz audio to factor×8 kHz. It keeps filter state between calls, so a stream may
// be fed in pieces of any size.
type Up struct {
	factor int
	phases [][]float32 // phases[k][j] = factor × h[j×factor+k]
	line   delayLine   // the last tapsPerPhase inputs
}

// NewUp returns an interpolator by factor (deviceRate / 8000).
func NewUp(factor int) *Up {
	h := lowPass(factor)
	u := &Up{factor: factor, phases: make([][]float32, factor), line: newDelayLine(tapsPerPhase)}
	for k := range u.phases {
		u.phases[k] = make([]float32, tapsPerPhase)
		for j := range u.phases[k] {
			u.phases[k][j] = float32(factor) * h[j*factor+k]
		}
	}
	return u
}

// Process appends len(src)×factor samples to dst and returns it.
func (u *Up) Process(dst, src []int16) []int16 {
	for _, s := range src {
		d := u.line.push(s)
		for _, ph := range u.phases {
			var acc float32
			for j, c := range ph {
				acc += c * d[j]
			}
			dst = append(dst, clip(acc))
		}
	}
	return dst
}

// Down converts factor×8 kHz audio to 8 kHz. It keeps filter state and phase between calls.
type Down struct {
	factor int
	h      []float32
	line   delayLine // the last len(h) inputs
	count  int
}

// NewDown returns a decimator by factor (deviceRate / 8000).
func NewDown(factor int) *Down {
	h := lowPass(factor)
	return &Down{factor: factor, h: h, line: newDelayLine(len(h))}
}

// Process appends about len(src)/factor samples to dst and returns it.
func (d *Down) Process(dst, src []int16) []int16 {
	for _, s := range src {
		w := d.line.push(s)
		d.count++
		if d.count < d.factor {
			continue
		}
		d.count = 0
		var acc float32
		for j, c := range d.h {
			acc += c * w[j]
		}
		dst = append(dst, clip(acc))
	}
	return dst
}

// delayLine keeps the last n samples of a stream as one window, newest first. Each sample is
// stored twice, n apart, so the window never wraps.
type delayLine struct {
	buf []float32
	pos int
}

func newDelayLine(n int) delayLine { return delayLine{buf: make([]float32, 2*n)} }

// push adds s and returns the window: s, then the n-1 samples before it.
func (l *delayLine) push(s int16) []float32 {
	n := len(l.buf) / 2
	l.pos--
	if l.pos < 0 {
		l.pos = n - 1
	}
	l.buf[l.pos] = float32(s)
	l.buf[l.pos+n] = float32(s)
	return l.buf[l.pos : l.pos+n]
}

func clip(v float32) int16 {
	switch {
	case v > math.MaxInt16:
		return math.MaxInt16
	case v < math.MinInt16:
		return math.MinInt16
	}
	return int16(math.Round(float64(v)))
}
