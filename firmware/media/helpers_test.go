package media

import (
	"context"
	"log/slog"
	"math"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/deskphone/deskphone/hw/audio/audiotest"
)

// goertzelPower returns the normalised power of frequency f in x (8 kHz).
func goertzelPower(x []int16, f float64) float64 {
	w := 2 * math.Pi * f / SampleRate
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := float64(v)/32768 + c*s1 - s2
		s2, s1 = s1, s0
	}
	n := float64(len(x))
	return 4 * (s1*s1 + s2*s2 - c*s1*s2) / (n * n)
}

// dominantFrequency scans 100–3900 Hz in 5 Hz steps and returns the strongest frequency and
// the share of the signal's power it carries.
func dominantFrequency(x []int16) (freq, share float64) {
	var best, total float64
	for _, v := range x {
		total += float64(v) / 32768 * float64(v) / 32768
	}
	total /= float64(len(x))
	for f := 100.0; f < 3900; f += 5 {
		if p := goertzelPower(x, f); p > best {
			best, freq = p, f
		}
	}
	if total == 0 {
		return 0, 0
	}
	return freq, best / 2 / total
}

// silentWindows counts 10 ms windows with (almost) no energy.
func silentWindows(x []int16) (silent, total int) {
	for i := 0; i+80 <= len(x); i += 80 {
		var e float64
		for _, v := range x[i : i+80] {
			e += float64(v) * float64(v)
		}
		if e/80 < 100*100 {
			silent++
		}
		total++
	}
	return silent, total
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("MEDIA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

func newTestSession(t *testing.T, cfg Config) *Session {
	t.Helper()
	s, err := NewSession(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// connect runs the offer/answer between a (offerer) and b, optionally rewriting each SDP on
// the way (to put a relay in between).
func connect(t *testing.T, a, b *Session, rewriteOffer, rewriteAnswer func([]byte) []byte) {
	t.Helper()
	offer, err := a.Offer()
	if err != nil {
		t.Fatal(err)
	}
	if rewriteOffer != nil {
		offer = rewriteOffer(offer)
	}
	answer, err := b.AcceptOffer(offer)
	if err != nil {
		t.Fatalf("AcceptOffer: %v\n%s", err, offer)
	}
	if rewriteAnswer != nil {
		answer = rewriteAnswer(answer)
	}
	if err := a.AcceptAnswer(answer); err != nil {
		t.Fatalf("AcceptAnswer: %v\n%s", err, answer)
	}
}

// endpoint is a session with an audio loop around a fake handset.
type endpoint struct {
	s     *Session
	audio *Audio
	dev   *audiotest.Device
}

// runAudio starts an audio loop for s whose microphone plays a sine of freq Hz.
func runAudio(t *testing.T, s *Session, freq float64) *endpoint {
	t.Helper()
	dev := &audiotest.Device{}
	if freq > 0 {
		dev.Source = audiotest.Sine(freq, 8000)
	}
	a := NewAudio(dev, testLogger(t))
	a.Connect(s)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := a.Run(ctx); err != nil {
			t.Errorf("audio loop: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		dev.Close()
	})
	return &endpoint{s: s, audio: a, dev: dev}
}

// playedSince returns the audio played after sample index from.
func (e *endpoint) playedSince(from int) []int16 {
	p := e.dev.Played()
	if from > len(p) {
		return nil
	}
	return p[from:]
}

// waitFor polls cond every 20 ms for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitPlayed waits until each endpoint has played at least n samples (the machine may be busy).
func waitPlayed(t *testing.T, n int, eps ...*endpoint) {
	t.Helper()
	waitFor(t, 20*time.Second, "audio to play", func() bool {
		for _, e := range eps {
			if len(e.dev.Played()) < n {
				return false
			}
		}
		return true
	})
}

// checkTone asserts that x is mostly a tone of want Hz.
func checkTone(t *testing.T, who string, x []int16, want float64) {
	t.Helper()
	if len(x) < SampleRate/2 {
		t.Fatalf("%s: only %d samples played", who, len(x))
	}
	f, share := dominantFrequency(x)
	if math.Abs(f-want) > 25 || share < 0.5 {
		t.Fatalf("%s: dominant frequency %.0f Hz with %.0f%% of the power, want %.0f Hz", who, f, share*100, want)
	}
}
