package tone

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"testing"
	"time"
)

func TestWrittenSineReadsBackAtItsFrequency(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tone.wav")
	WriteSine(t, path, 1000, 8000, 2*time.Second)
	x, rate := ReadMono(t, path)
	if rate != 8000 || len(x) != 16000 {
		t.Fatalf("read %d samples at %d Hz, want 16000 at 8000 Hz", len(x), rate)
	}
	hz, rms := Dominant(x, rate)
	if hz != 1000 || math.Abs(rms-8000/math.Sqrt2) > 50 {
		t.Fatalf("dominant %.0f Hz at RMS %.0f, want 1000 Hz at about %.0f", hz, rms, 8000/math.Sqrt2)
	}
}

func TestStereoMixesOrTakesTheFirstChannel(t *testing.T) {
	// Two frames of stereo: left 1000, right 3000.
	b := WAV([]int16{1000, 3000, 1000, 3000}, 8000)
	binary.LittleEndian.PutUint16(b[22:], 2)     // channels
	binary.LittleEndian.PutUint32(b[28:], 32000) // byte rate
	binary.LittleEndian.PutUint16(b[32:], 4)     // block align
	first, _, err := DecodeFirstChannel(b)
	if err != nil || len(first) != 2 || first[0] != 1000 {
		t.Fatalf("first channel %v, %v; want [1000 1000]", first, err)
	}
	mixed, _, err := decode(b, true)
	if err != nil || len(mixed) != 2 || mixed[0] != 2000 {
		t.Fatalf("mixed %v, %v; want [2000 2000]", mixed, err)
	}
}

func TestNotAWAVFile(t *testing.T) {
	if _, _, err := DecodeFirstChannel([]byte("not a wav file at all")); err == nil {
		t.Fatal("decoded text as a WAV file")
	}
}

func TestWindowsFollowWhatWasHeard(t *testing.T) {
	// 1 s of 1000 Hz, 1 s of silence, 1 s of 1500 Hz, at 8 kHz
	x := make([]float64, 0, 24000)
	for _, hz := range []float64{1000, 0, 1500} {
		for i := 0; i < 8000; i++ {
			x = append(x, 8000*math.Sin(2*math.Pi*hz*float64(i)/8000))
		}
	}
	got := Windows(x, 8000, 500*time.Millisecond)
	want := []float64{1000, 1000, 0, 0, 1500, 1500}
	if len(got) != len(want) {
		t.Fatalf("Windows = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Windows = %v, want %v", got, want)
		}
	}
}
