package media

import (
	"math"
	"time"
)

// The jitter buffer turns packets arriving with variable delay into a steady 20 ms frame stream.
//
// It is sized in time, not packets: the target depth is the playout frame plus the peak delay
// variation recently seen (fast rise, slow decay, after RFC 3550 A.8's transit-time idea),
// clamped to [JitterMin, JitterMax]. When the next frame is missing and nothing later has arrived
// it plays a concealed frame without advancing ("stretch"), which adds 20 ms of delay exactly when
// packets come late; when it has held more than a frame above the target for a second it drops a
// frame, and when it holds more than JitterMax it jumps straight back to the target. Lost frames (a gap with later packets present) are concealed. A new SSRC, or a timestamp
// jump of more than a second, starts over (the baresip #817 lesson).

const (
	jbSlots      = 32               // 640 ms of 20 ms packets
	jbMaxSamples = 480              // largest packet accepted: 60 ms
	jbResync     = SampleRate       // a jump of more than 1 s restarts the buffer
	jbStallLimit = 5                // 100 ms with nothing to play: stream paused, prebuffer again
	jbWindow     = 50               // reads (1 s) per shrink decision
	jbHysteresis = FrameLength + 40 // excess depth (25 ms) before dropping a frame
	jbTransitWin = 100              // packets per minimum-transit window
)

type jbSlot struct {
	used    bool
	ts      uint32
	n       int
	pcm     [jbMaxSamples]int16
	arrival time.Time
}

type jitterStats struct {
	concealed  uint64 // frames synthesised (loss, late, underrun)
	late       uint64 // packets that arrived after their playout time
	dropped    uint64 // packets dropped: overflow, duplicates, latency reduction
	resets     uint64 // restarts on SSRC change or timestamp jump
	targetMs   float64
	depthMs    float64
	realFrames uint64
}

type jitterBuffer struct {
	minDepth, maxDepth int // samples
	slots              [jbSlots]jbSlot

	started, playing bool
	cursor           uint32 // RTP timestamp of the next sample to play
	stall            int
	ssrc             uint32

	// delay estimation
	epoch          time.Time
	haveTS         bool
	lastTS         uint32
	extTS          int64
	prevWinMin     int64
	curWinMin      int64
	transitN       int
	peak           float64 // samples of delay above the fastest packet
	winDepthMin    int
	winReads       int
	lastDepth      int
	plc            concealer
	stats          jitterStats
	scratch        [FrameLength]int16
	coveredScratch [FrameLength]bool
}

func newJitterBuffer(minDelay, maxDelay time.Duration) *jitterBuffer {
	toSamples := func(d time.Duration) int { return int(d * SampleRate / time.Second) }
	jb := &jitterBuffer{minDepth: max(toSamples(minDelay), FrameLength), maxDepth: toSamples(maxDelay)}
	if jb.maxDepth < jb.minDepth {
		jb.maxDepth = jb.minDepth
	}
	jb.restart()
	return jb
}

// restart empties the buffer and forgets the stream's timing.
func (jb *jitterBuffer) restart() {
	for i := range jb.slots {
		jb.slots[i].used = false
	}
	jb.started, jb.playing, jb.stall, jb.haveTS = false, false, 0, false
	jb.peak, jb.transitN = 0, 0
	jb.prevWinMin, jb.curWinMin = math.MaxInt64, math.MaxInt64
	jb.winDepthMin, jb.winReads = math.MaxInt, 0
	jb.plc.reset()
}

// target is the depth (samples, measured at a read, including the frame about to play) aimed for.
func (jb *jitterBuffer) target() int {
	return min(max(FrameLength+int(jb.peak), jb.minDepth), jb.maxDepth)
}

// push stores one packet's decoded audio. It reports whether the buffer restarted.
func (jb *jitterBuffer) push(ssrc, ts uint32, pcm []int16, now time.Time) (restarted bool) {
	if len(pcm) == 0 || len(pcm) > jbMaxSamples {
		jb.stats.dropped++
		return false
	}
	if jb.started && ssrc != jb.ssrc {
		jb.restart()
		jb.stats.resets++
		restarted = true
	}
	jb.ssrc = ssrc
	if jb.started {
		diff := int32(ts - jb.cursor)
		if diff > jbResync || diff < -jbResync {
			jb.restart()
			jb.stats.resets++
			restarted = true
		} else if int(diff)+len(pcm) <= 0 {
			jb.stats.late++
			jb.observe(ts, now)
			return restarted
		}
	}
	if !jb.started {
		jb.started, jb.playing, jb.cursor = true, false, ts
		jb.epoch = now
	}
	jb.observe(ts, now)
	free := -1
	for i := range jb.slots {
		s := &jb.slots[i]
		if !s.used {
			if free < 0 {
				free = i
			}
			continue
		}
		if s.ts == ts {
			jb.stats.dropped++ // duplicate
			return restarted
		}
	}
	if free < 0 { // full: drop the oldest packet
		free = 0
		for i := range jb.slots {
			if int32(jb.slots[i].ts-jb.slots[free].ts) < 0 {
				free = i
			}
		}
		jb.stats.dropped++
	}
	s := &jb.slots[free]
	s.used, s.ts, s.n, s.arrival = true, ts, len(pcm), now
	copy(s.pcm[:], pcm)
	return restarted
}

// observe updates the delay estimate with one packet's transit time (arrival minus timestamp,
// relative to the fastest packet of the last one to two windows).
func (jb *jitterBuffer) observe(ts uint32, now time.Time) {
	if !jb.haveTS {
		jb.haveTS, jb.lastTS, jb.extTS = true, ts, int64(ts)
	} else {
		jb.extTS += int64(int32(ts - jb.lastTS))
		jb.lastTS = ts
	}
	arrival := int64(now.Sub(jb.epoch)) * SampleRate / int64(time.Second)
	transit := arrival - jb.extTS
	jb.curWinMin = min(jb.curWinMin, transit)
	jb.transitN++
	if jb.transitN == jbTransitWin {
		jb.prevWinMin, jb.curWinMin, jb.transitN = jb.curWinMin, math.MaxInt64, 0
	}
	d := float64(transit - min(jb.prevWinMin, jb.curWinMin))
	if d > jb.peak {
		jb.peak = d
	} else {
		jb.peak -= jb.peak / 500
	}
}

// depth returns how many samples from the cursor to the end of the newest packet are buffered,
// and whether any packet reaches beyond the frame about to play.
func (jb *jitterBuffer) depth() (depth int, later bool) {
	for i := range jb.slots {
		s := &jb.slots[i]
		if !s.used {
			continue
		}
		off := int(int32(s.ts - jb.cursor))
		depth = max(depth, off+s.n)
		if off+s.n > FrameLength {
			later = true
		}
	}
	return depth, later
}

// read produces the next 20 ms frame. real is true when the frame came from received audio;
// arrival is then the arrival time of the packet holding its first sample.
func (jb *jitterBuffer) read(out []int16) (arrival time.Time, real bool) {
	out = out[:FrameLength]
	for i := range jb.slots { // forget what has been played
		s := &jb.slots[i]
		if s.used && int(int32(s.ts-jb.cursor))+s.n <= 0 {
			s.used = false
		}
	}
	if !jb.started {
		clear(out)
		return time.Time{}, false
	}
	if !jb.playing {
		first, any := uint32(0), false
		for i := range jb.slots {
			if s := &jb.slots[i]; s.used && (!any || int32(s.ts-first) < 0) {
				first, any = s.ts, true
			}
		}
		if any {
			jb.cursor = first
		}
		if d, _ := jb.depth(); !any || d < jb.target() {
			jb.plc.conceal(out) // fades out what was playing, silence otherwise
			return time.Time{}, false
		}
		jb.playing = true
		jb.winDepthMin, jb.winReads = math.MaxInt, 0
	}
	depth, later := jb.depth()
	if depth > jb.maxDepth+FrameLength {
		// Far behind (a burst after the network or this process stalled): jump to the target
		// at once instead of playing old audio late for many seconds.
		skip := (depth - jb.target()) / FrameLength * FrameLength
		jb.cursor += uint32(skip)
		jb.stats.dropped += uint64(skip / FrameLength)
		depth, later = jb.depth()
	}
	jb.lastDepth = depth
	arrival, covered := jb.fill(out)
	switch {
	case covered == FrameLength:
		jb.plc.good(out)
		jb.cursor += FrameLength
		jb.stall = 0
		jb.stats.realFrames++
		real = true
	case covered > 0 && later: // a hole (loss) inside the frame: conceal only the hole
		jb.plc.conceal(jb.scratch[:])
		for i := range out {
			if !jb.coveredScratch[i] {
				out[i] = jb.scratch[i]
			}
		}
		jb.cursor += FrameLength
		jb.stall = 0
		jb.stats.concealed++
		real = true
	case covered == 0 && later && jb.stall > 0:
		// The frame we stretched for is lost, not late: the concealed frame already stood in
		// for it, so skip it and play what follows.
		jb.cursor += FrameLength
		jb.stall = 0
		return jb.read(out)
	case covered == 0 && later:
		jb.plc.conceal(out)
		jb.cursor += FrameLength
		jb.stats.concealed++
	default: // nothing (or only the start of the frame) buffered yet: stretch
		jb.plc.conceal(out)
		jb.stats.concealed++
		jb.stall++
		if jb.stall >= jbStallLimit {
			jb.playing, jb.stall = false, 0
		}
		return time.Time{}, false
	}
	jb.winDepthMin = min(jb.winDepthMin, depth)
	jb.winReads++
	if jb.winReads >= jbWindow {
		if jb.winDepthMin-jb.target() >= jbHysteresis {
			jb.cursor += FrameLength // latency reduction: skip one frame
			jb.stats.dropped++
		}
		jb.winDepthMin, jb.winReads = math.MaxInt, 0
	}
	return arrival, real
}

// fill copies buffered samples for [cursor, cursor+FrameLength) into out and returns how many
// samples were covered and the arrival time of the packet that held the first covered sample.
func (jb *jitterBuffer) fill(out []int16) (arrival time.Time, covered int) {
	clear(jb.coveredScratch[:])
	first := FrameLength
	for i := range jb.slots {
		s := &jb.slots[i]
		if !s.used {
			continue
		}
		off := int(int32(s.ts - jb.cursor)) // packet start relative to the frame
		lo, hi := max(off, 0), min(off+s.n, FrameLength)
		for j := lo; j < hi; j++ {
			if !jb.coveredScratch[j] {
				out[j] = s.pcm[j-off]
				jb.coveredScratch[j] = true
				covered++
			}
		}
		if lo < hi && lo < first {
			first, arrival = lo, s.arrival
		}
	}
	if covered < FrameLength {
		for j := range out {
			if !jb.coveredScratch[j] {
				out[j] = 0
			}
		}
	}
	return arrival, covered
}

func (jb *jitterBuffer) snapshot() jitterStats {
	st := jb.stats
	st.targetMs = float64(jb.target()) * 1000 / SampleRate
	st.depthMs = float64(jb.lastDepth) * 1000 / SampleRate
	return st
}
