package media

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

type simResult struct {
	frames, real, concealed int
	late                    uint64
	meanDelay, maxDelay     time.Duration // arrival → playout of real frames
	maxDepthMs              float64
	resets                  uint64
}

// simulate sends n 20 ms packets (timestamps from ts0) whose network delay is delay(i) (or lost
// if delay < 0), reads a frame every 20 ms with the given phase, and reports what the listener
// got after the first second.
func simulate(n int, delay func(i int) time.Duration, phase time.Duration) simResult {
	return simulatePtime(n, 20*time.Millisecond, delay, phase)
}

// simulatePtime is simulate with packets of ptime (10, 20, 30 ms...).
func simulatePtime(n int, ptime time.Duration, delay func(i int) time.Duration, phase time.Duration) simResult {
	return simulateCapPtime(n, ptime, delay, phase, 200*time.Millisecond)
}

func simulateCap(n int, delay func(i int) time.Duration, phase, maxDelay time.Duration) simResult {
	return simulateCapPtime(n, 20*time.Millisecond, delay, phase, maxDelay)
}

func simulateCapPtime(n int, ptime time.Duration, delay func(i int) time.Duration, phase, maxDelay time.Duration) simResult {
	samples := int(ptime * SampleRate / time.Second)
	jb := newJitterBuffer(20*time.Millisecond, maxDelay)
	t0 := time.Unix(1_000_000, 0)
	type ev struct {
		at  time.Time
		pkt int // -1 = read
	}
	var evs []ev
	for i := 0; i < n; i++ {
		if d := delay(i); d >= 0 {
			evs = append(evs, ev{t0.Add(time.Duration(i)*ptime + d), i})
		}
	}
	reads := int(time.Duration(n) * ptime / framePeriod)
	for k := 0; k < reads+20; k++ {
		evs = append(evs, ev{t0.Add(time.Duration(k)*framePeriod + phase), -1})
	}
	sort.SliceStable(evs, func(a, b int) bool { return evs[a].at.Before(evs[b].at) })
	var r simResult
	var sum time.Duration
	pcm := make([]int16, samples)
	out := make([]int16, FrameLength)
	for _, e := range evs {
		if e.pkt >= 0 {
			for j := range pcm {
				pcm[j] = int16(8000 * math.Sin(2*math.Pi*1000*float64(e.pkt*samples+j)/SampleRate))
			}
			jb.push(42, 5000+uint32(e.pkt*samples), pcm, e.at)
			continue
		}
		before := jb.stats.concealed
		arr, real := jb.read(out)
		if e.at.Sub(t0) < time.Second || e.at.Sub(t0) > time.Duration(n)*ptime {
			continue
		}
		r.frames++
		if real {
			r.real++
			d := e.at.Sub(arr)
			sum += d
			r.maxDelay = max(r.maxDelay, d)
		}
		r.concealed += int(jb.stats.concealed - before)
		r.maxDepthMs = max(r.maxDepthMs, float64(jb.lastDepth)*1000/SampleRate)
	}
	if r.real > 0 {
		r.meanDelay = sum / time.Duration(r.real)
	}
	r.late, r.resets = jb.stats.late, jb.stats.resets
	return r
}

func TestJitterBuffer(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name         string
		delay        func(i int) time.Duration
		phase        time.Duration
		maxConcealed float64 // share of frames
		maxMeanDelay time.Duration
		minMeanDelay time.Duration
	}{
		{"no jitter, read just after arrival", func(int) time.Duration { return 5 * time.Millisecond }, 6 * time.Millisecond, 0, 5 * time.Millisecond, 0},
		{"no jitter, read just before arrival", func(int) time.Duration { return 5 * time.Millisecond }, 4 * time.Millisecond, 0, 20 * time.Millisecond, 0},
		{"5% loss", func(i int) time.Duration {
			if rng.Float64() < 0.05 {
				return -1
			}
			return 3 * time.Millisecond
		}, 10 * time.Millisecond, 0.08, 25 * time.Millisecond, 0},
		{"uniform jitter 0-60 ms", func(int) time.Duration { return time.Duration(rng.Int64N(int64(60 * time.Millisecond))) }, 7 * time.Millisecond, 0.03, 110 * time.Millisecond, 20 * time.Millisecond},
		{"bursts of 3 every 60 ms", func(i int) time.Duration { return time.Duration(2-i%3) * framePeriod }, 1 * time.Millisecond, 0.02, 80 * time.Millisecond, 0},
		{"2 s stall then a burst", func(i int) time.Duration {
			if i >= 100 && i < 200 { // packets 100..199 all arrive at 4 s
				return 4*time.Second - time.Duration(i)*framePeriod
			}
			return 3 * time.Millisecond
		}, 10 * time.Millisecond, 0.12, 40 * time.Millisecond, 0},
		{"reordered pairs", func(i int) time.Duration {
			if i%2 == 0 {
				return 25 * time.Millisecond
			}
			return 2 * time.Millisecond
		}, 12 * time.Millisecond, 0.02, 50 * time.Millisecond, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := simulate(1000, c.delay, c.phase)
			share := float64(r.concealed) / float64(r.frames)
			t.Logf("frames %d real %d concealed %d (%.1f%%) late %d delay mean %v max %v depth max %.0f ms",
				r.frames, r.real, r.concealed, 100*share, r.late, r.meanDelay, r.maxDelay, r.maxDepthMs)
			if share > c.maxConcealed {
				t.Errorf("%.1f%% of frames concealed, want ≤ %.1f%%", 100*share, 100*c.maxConcealed)
			}
			if r.meanDelay > c.maxMeanDelay || r.meanDelay < c.minMeanDelay {
				t.Errorf("mean playout delay %v, want %v..%v", r.meanDelay, c.minMeanDelay, c.maxMeanDelay)
			}
			if r.maxDepthMs > 220 {
				t.Errorf("buffer grew to %.0f ms, beyond the 200 ms ceiling", r.maxDepthMs)
			}
		})
	}
}

// Remote ends that packetise at 10, 30 or 60 ms (ptime is the sender's choice) still play
// without gaps in our 20 ms frames.
func TestJitterBufferOtherPacketSizes(t *testing.T) {
	for _, ptime := range []time.Duration{10 * time.Millisecond, 30 * time.Millisecond, 60 * time.Millisecond} {
		r := simulatePtime(int(20*time.Second/ptime), ptime, func(int) time.Duration { return 2 * time.Millisecond }, 9*time.Millisecond)
		t.Logf("ptime %v: frames %d concealed %d delay mean %v max %v", ptime, r.frames, r.concealed, r.meanDelay, r.maxDelay)
		if r.concealed > 2 || r.real < r.frames-2 {
			t.Errorf("ptime %v: %d of %d frames concealed", ptime, r.concealed, r.frames)
		}
		if r.meanDelay > ptime+40*time.Millisecond {
			t.Errorf("ptime %v: mean delay %v", ptime, r.meanDelay)
		}
	}
}

func TestJitterBufferRestartsOnSSRCChange(t *testing.T) {
	jb := newJitterBuffer(20*time.Millisecond, 200*time.Millisecond)
	now := time.Unix(0, 0)
	pcm := make([]int16, FrameLength)
	out := make([]int16, FrameLength)
	for i := 0; i < 10; i++ {
		pcm[0] = 1
		jb.push(1, 90000+uint32(i*FrameLength), pcm, now)
		jb.read(out)
		now = now.Add(framePeriod)
	}
	// New SSRC with timestamps far behind: must play, not be discarded as late.
	for i := 0; i < 5; i++ {
		pcm[0] = 2
		if restarted := jb.push(2, 100+uint32(i*FrameLength), pcm, now); restarted != (i == 0) {
			t.Fatalf("packet %d: restarted=%v", i, restarted)
		}
		if _, real := jb.read(out); !real || out[0] != 2 {
			t.Fatalf("packet %d of the new stream not played (real=%v, sample %d)", i, real, out[0])
		}
		now = now.Add(framePeriod)
	}
	if jb.stats.late != 0 || jb.stats.resets != 1 {
		t.Fatalf("late %d resets %d", jb.stats.late, jb.stats.resets)
	}
}

func TestConcealmentContinuesTheSignal(t *testing.T) {
	var c concealer
	frame := make([]int16, FrameLength)
	for k := 0; k < 5; k++ {
		for j := range frame {
			frame[j] = int16(8000 * math.Sin(2*math.Pi*1000*float64(k*FrameLength+j)/SampleRate))
		}
		c.good(frame)
	}
	lost := make([]int16, 4*FrameLength)
	for k := 0; k < 4; k++ {
		c.conceal(lost[k*FrameLength : (k+1)*FrameLength])
	}
	if f, share := dominantFrequency(lost[:FrameLength]); f != 1000 || share < 0.8 {
		t.Fatalf("first concealed frame: %v Hz (%.0f%%), want the 1 kHz tone continued", f, share*100)
	}
	rms := func(x []int16) float64 {
		var e float64
		for _, v := range x {
			e += float64(v) * float64(v)
		}
		return math.Sqrt(e / float64(len(x)))
	}
	if r0, r2, r3 := rms(lost[:80]), rms(lost[2*FrameLength:3*FrameLength]), rms(lost[3*FrameLength+160-80:]); !(r0 > 5000 && r2 < r0 && r3 < 100) {
		t.Fatalf("attenuation: first 10 ms %.0f, frame 3 %.0f, end of 80 ms %.0f; want full, fading, silent after 60 ms", r0, r2, r3)
	}
}

// The default ceiling is what the table in docs/media.md ("Choosing jitter_max") justifies: below
// it the cap is never reached, and 0–150 ms of jitter (a busy Wi-Fi hop) still plays with little
// concealment, where a 120 ms ceiling conceals a fifth of the call.
func TestDefaultJitterCeilingCoversWiFiJitter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	r := simulateCap(1500, func(int) time.Duration { return time.Duration(rng.Int64N(int64(150 * time.Millisecond))) }, 7*time.Millisecond, DefaultConfig().JitterMax)
	share := float64(r.concealed) / float64(r.frames)
	t.Logf("ceiling %v, jitter 0-150 ms: %.1f%% concealed, %d late, delay mean %v", DefaultConfig().JitterMax, 100*share, r.late, r.meanDelay)
	if share > 0.05 {
		t.Errorf("%.1f%% of frames concealed at 0-150 ms jitter, want ≤ 5%%", 100*share)
	}
}
