package audio

import (
	"math"
	"testing"
	"time"
)

// BenchmarkALSACallback is the backend's work per 20 ms duplex callback at 48 kHz: decimating the
// microphone, queueing, interpolating the speaker.
func BenchmarkALSACallback(b *testing.B) {
	fb := newFakeALSA()
	timing := fastTiming
	timing.stall = time.Hour
	d, err := openALSA(ALSAConfig{SpeakerVolume: 80, MicGain: 80}, quietLog(), fb, timing)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	s := <-fb.opened
	in := sine(1000, 48000, 0, 960, 8000)
	out := make([]int16, 960)
	frame := sine(440, SampleRate, 0, FrameLength, 8000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.WriteFrame(frame)
		s.req.data(out, in)
		d.mu.Lock()
		d.capBuf = d.capBuf[:0]
		d.mu.Unlock()
	}
}

// BenchmarkALSARoundTrip reports the delay the backend itself adds (speaker queue, resampling
// filters), speaker to microphone, with the device's output wired back to its input and no
// device buffering: ms/roundtrip.
func BenchmarkALSARoundTrip(b *testing.B) {
	fb := newFakeALSA()
	timing := fastTiming
	timing.stall = time.Hour
	d, err := openALSA(ALSAConfig{SpeakerVolume: 100, MicGain: 80}, quietLog(), fb, timing)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	s := <-fb.opened
	var total float64
	for n := 0; n < b.N; n++ {
		loop := make([]int16, 960) // the speaker's last period, fed back as the microphone
		frame := make([]int16, FrameLength)
		sent, pos, found := -1, 0, -1.0
		for i := 0; i < 60 && found < 0; i++ {
			out := make([]int16, FrameLength)
			if i == 20 {
				for j := range out {
					out[j] = int16(16000 * math.Sin(2*math.Pi*1000*float64(j)/SampleRate))
				}
				sent = pos
			}
			d.WriteFrame(out)
			loop = s.tick(loop)
			d.mu.Lock()
			n := copy(frame, d.capBuf)
			d.capBuf = d.capBuf[:copy(d.capBuf, d.capBuf[n:])]
			d.mu.Unlock()
			if sent >= 0 {
				for j, v := range frame[:n] {
					if v > 3000 || v < -3000 {
						found = float64(pos+j-sent) * 1000 / SampleRate
						break
					}
				}
			}
			pos += n
		}
		if found < 0 {
			b.Fatal("the burst never came back")
		}
		total += found
	}
	b.ReportMetric(total/float64(b.N), "ms/roundtrip")
}
