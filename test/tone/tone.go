// Package tone writes test tones as WAV files and measures which tone a recording carries.
package tone

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"testing"
	"time"
)

// Sine is d of a sine at hz sampled at rate, with the given peak amplitude.
func Sine(hz float64, rate int, d time.Duration, amplitude float64) []int16 {
	pcm := make([]int16, int(d.Seconds()*float64(rate)))
	for i := range pcm {
		pcm[i] = int16(amplitude * math.Sin(2*math.Pi*hz*float64(i)/float64(rate)))
	}
	return pcm
}

// WAV is a mono 16-bit PCM WAV file of pcm at rate.
func WAV(pcm []int16, rate int) []byte {
	var b bytes.Buffer
	data := len(pcm) * 2
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(36+data))
	b.WriteString("WAVEfmt ")
	binary.Write(&b, binary.LittleEndian, uint32(16))
	binary.Write(&b, binary.LittleEndian, uint16(1))
	binary.Write(&b, binary.LittleEndian, uint16(1))
	binary.Write(&b, binary.LittleEndian, uint32(rate))
	binary.Write(&b, binary.LittleEndian, uint32(rate*2))
	binary.Write(&b, binary.LittleEndian, uint16(2))
	binary.Write(&b, binary.LittleEndian, uint16(16))
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(data))
	binary.Write(&b, binary.LittleEndian, pcm)
	return b.Bytes()
}

// WriteSine writes an 8 kHz mono 16-bit WAV file of d of a sine at hz with the given peak
// amplitude.
func WriteSine(t testing.TB, path string, hz, amplitude float64, d time.Duration) {
	t.Helper()
	if err := os.WriteFile(path, WAV(Sine(hz, 8000, d, amplitude), 8000), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ReadMono reads a 16-bit PCM WAV file, mixing its channels down to mono, and returns the
// samples and the sample rate. A recording cut short keeps what it has.
func ReadMono(t testing.TB, path string) ([]float64, int) {
	t.Helper()
	return read(t, path, true)
}

// ReadFirstChannel reads the first channel of a 16-bit PCM WAV file and returns the samples and
// the sample rate. A recording cut short keeps what it has.
func ReadFirstChannel(t testing.TB, path string) ([]float64, int) {
	t.Helper()
	return read(t, path, false)
}

func read(t testing.TB, path string, mix bool) ([]float64, int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	x, rate, err := decode(b, mix)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return x, rate
}

// DecodeFirstChannel returns the first channel of 16-bit PCM WAV data and its sample rate.
func DecodeFirstChannel(b []byte) ([]float64, int, error) { return decode(b, false) }

func decode(b []byte, mix bool) ([]float64, int, error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, fmt.Errorf("not a WAV file")
	}
	var rate, channels, bits int
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:p+8]))
		body := b[p+8:]
		if size > len(body) || size < 0 {
			size = len(body) // a recording cut short keeps what it has
		}
		body = body[:size]
		switch id {
		case "fmt ":
			if len(body) < 16 {
				return nil, 0, fmt.Errorf("short fmt chunk")
			}
			channels = int(binary.LittleEndian.Uint16(body[2:4]))
			rate = int(binary.LittleEndian.Uint32(body[4:8]))
			bits = int(binary.LittleEndian.Uint16(body[14:16]))
		case "data":
			if bits != 16 || channels < 1 || rate == 0 {
				return nil, 0, fmt.Errorf("%d-bit %d channels at %d Hz, want 16-bit PCM", bits, channels, rate)
			}
			frames := size / 2 / channels
			out := make([]float64, frames)
			for i := 0; i < frames; i++ {
				if !mix {
					out[i] = float64(int16(binary.LittleEndian.Uint16(body[i*channels*2:])))
					continue
				}
				var sum float64
				for c := 0; c < channels; c++ {
					sum += float64(int16(binary.LittleEndian.Uint16(body[(i*channels+c)*2:])))
				}
				out[i] = sum / float64(channels)
			}
			return out, rate, nil
		}
		p += 8 + size + size%2
	}
	return nil, 0, fmt.Errorf("no data chunk")
}

// Goertzel is the power of frequency hz in x, sampled at rate.
func Goertzel(x []float64, rate int, hz float64) float64 {
	w := 2 * math.Pi * hz / float64(rate)
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := v + c*s1 - s2
		s2, s1 = s1, s0
	}
	return s1*s1 + s2*s2 - c*s1*s2
}

// Dominant is the strongest frequency between 100 Hz and 3.5 kHz (10 Hz steps) in the loudest
// second of x, and that second's level (RMS). Less than a second of audio has level 0.
func Dominant(x []float64, rate int) (hz, rms float64) {
	win := rate
	best := 0
	for start := 0; start+win <= len(x); start += win / 2 {
		var e float64
		for _, v := range x[start : start+win] {
			e += v * v
		}
		if r := math.Sqrt(e / float64(win)); r > rms {
			best, rms = start, r
		}
	}
	if len(x) < win {
		win = len(x)
	}
	seg := x[best : best+win]
	var power float64
	for f := 100.0; f <= 3500; f += 10 {
		if p := Goertzel(seg, rate, f); p > power {
			hz, power = f, p
		}
	}
	return hz, rms
}

// Windows splits x into pieces of d and returns each piece's strongest frequency (10 Hz steps,
// 100 Hz to 3.5 kHz), or 0 for a piece that is nearly silent (below -40 dBFS): a timeline of
// what was heard, to find when a tone started or came back.
func Windows(x []float64, rate int, d time.Duration) []float64 {
	n := int(float64(rate) * d.Seconds())
	if n <= 0 {
		return nil
	}
	var out []float64
	for i := 0; i+n <= len(x); i += n {
		seg := x[i : i+n]
		var e float64
		for _, v := range seg {
			e += v * v
		}
		hz, power := 0.0, 0.0
		if math.Sqrt(e/float64(n)) >= 0.01*32768 {
			for f := 100.0; f <= 3500; f += 10 {
				if p := Goertzel(seg, rate, f); p > power {
					hz, power = f, p
				}
			}
		}
		out = append(out, hz)
	}
	return out
}
