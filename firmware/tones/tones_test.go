package tones

import (
	"errors"
	"math"
	"testing"
)

// goertzel returns the power of frequency f in x, normalised so a full-scale sine gives ~1.
func goertzel(x []int16, f, rate float64) float64 {
	w := 2 * math.Pi * f / rate
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := float64(v)/32768 + c*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - c*s1*s2
	n := float64(len(x))
	return 4 * p / (n * n)
}

func energy(x []int16) float64 {
	var e float64
	for _, v := range x {
		e += float64(v) * float64(v)
	}
	return e / float64(len(x))
}

// cadenceOf renders d of the tone and returns the alternating on/off run lengths in ms, measured
// on 5 ms windows, starting with the first "on" run.
func cadenceOf(g *Generator, ms int) []int {
	const win = 40 // 5 ms at 8 kHz
	buf := make([]int16, win)
	var runs []int
	state, run := true, 0
	for t := 0; t < ms; t += 5 {
		g.Fill(buf)
		isOn := energy(buf) > 1000
		if isOn != state {
			runs = append(runs, run)
			state, run = isOn, 0
		}
		run += 5
	}
	return append(runs, run)
}

func TestTonesFrequencyAndCadence(t *testing.T) {
	cases := []struct {
		country string
		tone    Tone
		freqs   []float64
		cadence []int // ms on, off, on, off...; nil = continuous
	}{
		{"fr", Dial, []float64{440}, nil},
		{"fr", Ringback, []float64{440}, []int{1500, 3500}},
		{"fr", Busy, []float64{440}, []int{500, 500}},
		{"fr", CallWaiting, []float64{440}, []int{300, 10000}},
		{"fr", Ringer, []float64{1000, 1250}, []int{1500, 3500}},
		{"de", Dial, []float64{425}, nil},
		{"de", Ringback, []float64{425}, []int{1000, 4000}},
		{"de", Busy, []float64{425}, []int{480, 480}},
		{"de", Congestion, []float64{425}, []int{240, 240}},
		{"de", CallWaiting, []float64{425}, []int{200, 200, 200, 5000}},
		{"uk", Dial, []float64{350, 440}, nil},
		{"uk", Ringback, []float64{400, 450}, []int{400, 200, 400, 2000}},
		{"uk", Busy, []float64{400}, []int{375, 375}},
		{"uk", Congestion, []float64{400}, []int{400, 350, 225, 525}},
		{"us", Dial, []float64{350, 440}, nil},
		{"us", Ringback, []float64{440, 480}, []int{2000, 4000}},
		{"us", Busy, []float64{480, 620}, []int{500, 500}},
		{"us", Congestion, []float64{480, 620}, []int{250, 250}},
		{"us", CallWaiting, []float64{440}, []int{300, 9700}},
		{"gb", Busy, []float64{400}, []int{375, 375}},
	}
	for _, c := range cases {
		t.Run(c.country+"/"+c.tone.String(), func(t *testing.T) {
			p, err := ForCountry(c.country)
			if err != nil {
				t.Fatal(err)
			}
			// Frequencies: in the first 100 ms (always "on"), each expected component carries a
			// comparable share of the power and a neighbour 150 Hz away carries almost none.
			buf := make([]int16, 800)
			NewGenerator(p, c.tone, 8000).Fill(buf)
			var sum float64
			for _, f := range c.freqs {
				pw := goertzel(buf, f, 8000)
				if pw < 0.001 {
					t.Errorf("%v Hz power %.5f: component missing", f, pw)
				}
				sum += pw
			}
			if stray := goertzel(buf, c.freqs[0]+150, 8000) + goertzel(buf, c.freqs[len(c.freqs)-1]+230, 8000); stray > sum/20 {
				t.Errorf("stray power %.5f vs %.5f: wrong frequency", stray, sum)
			}
			// Level: each network component at about -13 dBm0 (amplitude ≈ 5050).
			if c.tone != Ringer {
				amp := math.Sqrt(2 * energy(buf) / float64(len(c.freqs)))
				if amp < 4000 || amp > 6500 {
					t.Errorf("component amplitude %.0f, want ≈5050 (-13 dBm0)", amp)
				}
			}
			// Cadence: two full cycles.
			total := 0
			for _, ms := range c.cadence {
				total += 2 * ms
			}
			if c.cadence == nil {
				total = 3000
			}
			runs := cadenceOf(NewGenerator(p, c.tone, 8000), total)
			if c.cadence == nil {
				if len(runs) != 1 {
					t.Fatalf("continuous tone has gaps: %v", runs)
				}
				return
			}
			want := append(append([]int{}, c.cadence...), c.cadence...)
			if len(runs) < len(want) {
				t.Fatalf("runs %v, want %v", runs, want)
			}
			for i, w := range want {
				if d := runs[i] - w; d < -10 || d > 10 {
					t.Fatalf("runs %v, want %v (run %d off by %d ms)", runs[:len(want)], want, i, d)
				}
			}
		})
	}
}

func TestNoneAndMix(t *testing.T) {
	g := NewGenerator(Default(), None, 8000)
	if !g.Silent() {
		t.Fatal("None is not silent")
	}
	frame := []int16{100, -100, 32767}
	g.Mix(frame)
	if frame[0] != 100 || frame[1] != -100 || frame[2] != 32767 {
		t.Fatalf("None changed audio: %v", frame)
	}
	loud := make([]int16, 160)
	for i := range loud {
		loud[i] = 32700
	}
	NewGenerator(Default(), CallWaiting, 8000).Mix(loud) // must saturate, not wrap
	for _, v := range loud {
		if v < 0 {
			t.Fatal("mix wrapped around instead of saturating")
		}
	}
}

func TestUnknownCountry(t *testing.T) {
	_, err := ForCountry("xx")
	if !errors.Is(err, ErrUnknownCountry) {
		t.Fatalf("err = %v", err)
	}
}
