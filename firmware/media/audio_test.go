package media

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/deskphone/deskphone/firmware/tones"
	"github.com/deskphone/deskphone/hw/audio/audiotest"
)

// runClocked runs an Audio loop on a fake device driven by a manual clock and returns a
// function advancing it by n frames (waiting until each frame has been played).
func runClocked(t *testing.T, dev *audiotest.Device, a *Audio) func(n int) {
	t.Helper()
	tick := make(chan time.Time)
	dev.Tick = tick
	played := make(chan struct{}, 1)
	dev.OnWrite = func([]int16) { played <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return func(n int) {
		for i := 0; i < n; i++ {
			tick <- time.Now()
			<-played
		}
	}
}

func TestAudioPlaysCountryTones(t *testing.T) {
	for _, c := range []struct {
		country string
		tone    tones.Tone
		freq    float64
	}{
		{"fr", tones.Dial, 440}, {"de", tones.Ringback, 425}, {"uk", tones.Busy, 400}, {"us", tones.Busy, 475},
	} {
		t.Run(c.country+"/"+c.tone.String(), func(t *testing.T) {
			dev := &audiotest.Device{}
			a := NewAudio(dev, nil)
			plan, err := tones.ForCountry(c.country)
			if err != nil {
				t.Fatal(err)
			}
			a.SetTonePlan(plan)
			step := runClocked(t, dev, a)
			a.PlayTone(c.tone)
			step(10) // 200 ms: inside the first "on" period of every cadence here
			got := dev.Played()
			if c.country == "us" { // 480+620 Hz: check both components instead of one peak
				if goertzelPower(got, 480) < 0.005 || goertzelPower(got, 620) < 0.005 {
					t.Fatalf("US busy lacks 480+620 Hz")
				}
				return
			}
			if f, share := dominantFrequency(got); f != c.freq || share < 0.5 {
				t.Fatalf("dominant %v Hz (%.0f%%), want %v Hz", f, share*100, c.freq)
			}
			a.PlayTone(tones.None)
			n := len(dev.Played())
			step(5)
			if s, total := silentWindows(dev.Played()[n:]); s != total {
				t.Fatalf("tone kept playing after None: %d of %d windows silent", s, total)
			}
		})
	}
}

func TestCallWaitingIsMixedOverCallAudio(t *testing.T) {
	a, b := newTestSession(t, DefaultConfig()), newTestSession(t, DefaultConfig())
	connect(t, a, b, nil, nil)
	runAudio(t, a, 1000)
	eb := runAudio(t, b, 0)
	waitFor(t, 2*time.Second, "call audio", func() bool { return b.Stats().PacketsReceived > 10 })
	plan, _ := tones.ForCountry("fr")
	eb.audio.SetTonePlan(plan)
	n := len(eb.dev.Played())
	eb.audio.PlayTone(tones.CallWaiting) // 440 Hz, 300 ms
	waitFor(t, 5*time.Second, "200 ms of audio", func() bool { return len(eb.dev.Played()) >= n+1600 })
	mixed := eb.playedSince(n)[:1600]
	if goertzelPower(mixed, 1000) < 0.01 || goertzelPower(mixed, 440) < 0.005 {
		t.Fatalf("want both the call (1 kHz, %.4f) and the call-waiting tone (440 Hz, %.4f)",
			goertzelPower(mixed, 1000), goertzelPower(mixed, 440))
	}
}

func TestRingerPlaysOnItsOwnDevice(t *testing.T) {
	handset, bell := &audiotest.Device{}, &audiotest.Device{}
	a := NewAudio(handset, nil)
	a.SetRinger(bell)
	step := runClocked(t, handset, a)
	a.PlayTone(tones.Ringer)
	step(10)
	if s, total := silentWindows(handset.Played()); s != total {
		t.Fatalf("handset not silent while ringing (%d of %d windows silent)", s, total)
	}
	// The bell warbles between 1000 and 1250 Hz every 25 ms.
	rung := bell.Played()
	if len(rung) != 10*FrameLength {
		t.Fatalf("ringer device got %d samples", len(rung))
	}
	f1, _ := dominantFrequency(rung[:200])
	f2, _ := dominantFrequency(rung[200:400])
	if f1 < 975 || f1 > 1025 || f2 < 1225 || f2 > 1275 {
		t.Fatalf("ringer warble %v/%v Hz, want 1000/1250", f1, f2)
	}
}
