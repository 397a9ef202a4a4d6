package media

import "math"

// Packet-loss concealment in the manner of ITU-T G.711 Appendix I: on a lost frame, find the
// pitch period of the recent signal and repeat it, attenuating after the first 10 ms and reaching
// silence after 60 ms; on the first good frame after a loss, cross-fade from the synthetic signal.

const (
	plcHistory   = 3 * FrameLength // 60 ms of played audio kept for pitch search
	plcMinPitch  = 40              // 200 Hz
	plcMaxPitch  = 120             // 66 Hz
	plcCorrLen   = 160             // correlation window
	plcFade      = 32              // cross-fade length after a loss (4 ms)
	plcHoldSamps = 80              // full level for the first 10 ms
	plcMuteSamps = 480             // silence after 60 ms
)

type concealer struct {
	hist   [plcHistory]int16
	period [plcMaxPitch]int16 // the last pitch period before the loss
	lost   int                // samples concealed in the current loss run
	pitch  int
	pos    int // position within the repeated pitch period
}

// good records a real frame (after cross-fading it with the synthetic continuation, if the
// previous frame was concealed).
func (c *concealer) good(frame []int16) {
	if c.lost > 0 && c.pitch > 0 {
		n := min(plcFade, len(frame))
		gain := c.gain()
		for i := 0; i < n; i++ {
			syn := float64(c.synth()) * gain
			w := float64(i+1) / float64(n+1)
			frame[i] = int16(w*float64(frame[i]) + (1-w)*syn)
		}
	}
	c.lost = 0
	c.push(frame)
}

// conceal fills frame with a continuation of the recent signal.
func (c *concealer) conceal(frame []int16) {
	if c.lost == 0 {
		c.pitch = c.findPitch()
		c.pos = 0
		copy(c.period[:c.pitch], c.hist[plcHistory-c.pitch:])
	}
	for i := range frame {
		if c.pitch == 0 || c.lost >= plcMuteSamps {
			frame[i] = 0
		} else {
			frame[i] = int16(float64(c.synth()) * c.gain())
		}
		c.lost++
	}
	c.push(frame)
}

// reset forgets the history (new stream).
func (c *concealer) reset() { *c = concealer{} }

// gain is 1 for the first 10 ms of a loss, then falls linearly (20 % per 10 ms) to 0 at 60 ms.
func (c *concealer) gain() float64 {
	if c.lost < plcHoldSamps {
		return 1
	}
	g := 1 - float64(c.lost-plcHoldSamps)/float64(plcMuteSamps-plcHoldSamps)
	return max(g, 0)
}

// synth returns the next sample of the repeated pitch period taken from before the loss.
func (c *concealer) synth() int16 {
	v := c.period[c.pos]
	c.pos++
	if c.pos == c.pitch {
		c.pos = 0
	}
	return v
}

func (c *concealer) push(frame []int16) {
	if len(frame) >= plcHistory {
		copy(c.hist[:], frame[len(frame)-plcHistory:])
		return
	}
	copy(c.hist[:], c.hist[len(frame):])
	copy(c.hist[plcHistory-len(frame):], frame)
}

// findPitch returns the lag in [plcMinPitch, plcMaxPitch] that best predicts the last plcCorrLen
// samples (normalised cross-correlation), or 0 if the history is silent.
func (c *concealer) findPitch() int {
	end := plcHistory
	start := end - plcCorrLen
	var energy float64
	for i := start; i < end; i++ {
		energy += float64(c.hist[i]) * float64(c.hist[i])
	}
	if energy < float64(plcCorrLen) { // silence: nothing to repeat
		return 0
	}
	best, bestScore := plcMinPitch, -2.0
	for lag := plcMinPitch; lag <= plcMaxPitch && start-lag >= 0; lag++ {
		var xy, yy float64
		for i := start; i < end; i++ {
			x, y := float64(c.hist[i]), float64(c.hist[i-lag])
			xy += x * y
			yy += y * y
		}
		if yy == 0 {
			continue
		}
		score := xy / math.Sqrt(energy*yy)
		if score > bestScore {
			best, bestScore = lag, score
		}
	}
	return best
}
