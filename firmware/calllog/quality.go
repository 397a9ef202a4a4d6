package calllog

import "math"

// Quality is how a call sounded, from the receiving side's RTP statistics.
type Quality struct {
	PacketsReceived uint64   `json:"packets_received"`
	Lost            int64    `json:"lost"`
	LossPct         float64  `json:"loss_pct"`
	JitterMs        float64  `json:"jitter_ms"` // mean interarrival jitter (RFC 3550)
	MaxJitterMs     float64  `json:"max_jitter_ms"`
	MOS             float64  `json:"mos"`               // E-model estimate, see MOS
	Samples         []Sample `json:"samples,omitempty"` // one a second, at most MaxSamples
}

// Sample is the jitter and the loss of one interval of the call.
type Sample struct {
	T        float64 `json:"t"` // seconds since the media started
	JitterMs float64 `json:"jitter_ms"`
	LossPct  float64 `json:"loss_pct"`
}

// MaxSamples bounds a call's plot (one sample a second: a 10-minute call keeps every second).
const MaxSamples = 600

// MOS estimates the listening quality of a G.711 call with packet loss concealment from its loss
// and jitter, with the E-model (ITU-T G.107): R = 93.2 − Id − Ie,eff, where the one-way delay is
// taken as 20 ms packets + a jitter buffer of twice the jitter + 40 ms of network and device,
// Ie = 0 and Bpl = 25.1 for G.711 with concealment (G.113 Appendix I). It returns 1 to 4.41.
func MOS(lossPct, jitterMs float64) float64 {
	d := 20 + 2*jitterMs + 40
	id := 0.024 * d
	if d > 177.3 {
		id += 0.11 * (d - 177.3)
	}
	const bpl = 25.1
	ieEff := 95 * lossPct / (lossPct + bpl)
	r := 93.2 - id - ieEff
	switch {
	case r <= 0:
		return 1
	case r >= 100:
		return 4.5
	}
	mos := 1 + 0.035*r + r*(r-60)*(100-r)*7e-6
	return math.Round(mos*100) / 100
}
