// Package tones generates the call-progress tones a caller expects to hear (dial, ringback, busy,
// congestion, call waiting) and the local ringer sound, with each country's frequencies and cadences.
//
// Frequencies and cadences follow ITU-T Recommendation E.180 (03/1998) and its supplement
// "Various tones used in national networks" (Annex to ITU Operational Bulletin No. 781, 1.II.2003),
// which lists what each national operator declared; the United States values are the Precise
// Tone Plan of Telcordia GR-506-CORE (LSSGR §17).
package tones

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Tone names a sound the phone plays locally.
type Tone int

// The tones. None stops whatever is playing.
const (
	None        Tone = iota
	Dial             // off-hook, waiting for digits
	Ringback         // the far end is ringing
	Busy             // the far end is busy (486)
	Congestion       // the call failed for another reason (reorder / fast busy)
	CallWaiting      // a second call arrives during a call; mixed over the call audio
	Ringer           // an incoming call: the phone's own bell
)

// String is the tone's name in logs ("ringback").
func (t Tone) String() string {
	switch t {
	case None:
		return "none"
	case Dial:
		return "dial"
	case Ringback:
		return "ringback"
	case Busy:
		return "busy"
	case Congestion:
		return "congestion"
	case CallWaiting:
		return "call_waiting"
	case Ringer:
		return "ringer"
	}
	return fmt.Sprintf("tone(%d)", int(t))
}

// Segment is one step of a cadence: up to two frequencies summed for Duration.
// A segment without frequencies is silence; Duration 0 means "forever" (continuous tone).
type Segment struct {
	Freqs    [2]float64 // Hz; 0 = unused
	Duration time.Duration
}

// Plan is one country's set of tones. Each cadence repeats from its first segment.
type Plan struct {
	Country string  // ISO 3166 code as used in the config ("fr", "us", "uk", "de")
	Source  string  // where the values come from
	Level   float64 // dBm0 per frequency component for network tones
	Tones   [Ringer + 1][]Segment
}

// ErrUnknownCountry is returned by ForCountry for a country without a tone plan.
var ErrUnknownCountry = errors.New("no tone plan for this country")

// on/off are shorthands used by the plan tables below.
func on(ms int, f ...float64) Segment {
	s := Segment{Duration: time.Duration(ms) * time.Millisecond}
	copy(s.Freqs[:], f)
	return s
}

func off(ms int) Segment { return Segment{Duration: time.Duration(ms) * time.Millisecond} }

func continuous(f ...float64) []Segment { return []Segment{on(0, f...)} }

// ringer builds the local bell: the country's ringing cadence, each burst a 20 Hz warble between
// two frequencies like an electronic telephone ringer.
func ringer(cadence ...int) []Segment {
	var segs []Segment
	for i, ms := range cadence {
		if i%2 == 1 {
			segs = append(segs, off(ms))
			continue
		}
		for t := 0; t < ms; t += 25 {
			f := 1000.0
			if (t/25)%2 == 1 {
				f = 1250
			}
			segs = append(segs, on(min(25, ms-t), f))
		}
	}
	return segs
}

// Countries lists the country codes ForCountry knows.
func Countries() []string {
	c := []string{"de", "fr", "uk", "us"}
	sort.Strings(c)
	return c
}

// ForCountry returns the tone plan of a country ("fr", "us", "uk" or "gb", "de"; case-insensitive).
func ForCountry(code string) (Plan, error) {
	switch strings.ToLower(strings.TrimSpace(code)) {
	case "fr":
		return Plan{Country: "fr", Level: -13,
			Source: "ITU-T E.180 Suppl. (OB 781) France: 440 Hz; ringing 1.5 s on 3.5 s off; busy 0.5/0.5 s",
			Tones: [...][]Segment{
				Dial:        continuous(440),
				Ringback:    {on(1500, 440), off(3500)},
				Busy:        {on(500, 440), off(500)},
				Congestion:  {on(250, 440), off(250)},
				CallWaiting: {on(300, 440), off(10000)},
				Ringer:      ringer(1500, 3500),
			}}, nil
	case "de":
		return Plan{Country: "de", Level: -13,
			Source: "ITU-T E.180 Suppl. (OB 781) Germany: 425 Hz; ringing 1 s on 4 s off; busy 480/480 ms",
			Tones: [...][]Segment{
				Dial:        continuous(425),
				Ringback:    {on(1000, 425), off(4000)},
				Busy:        {on(480, 425), off(480)},
				Congestion:  {on(240, 425), off(240)},
				CallWaiting: {on(200, 425), off(200), on(200, 425), off(5000)},
				Ringer:      ringer(1000, 4000),
			}}, nil
	case "uk", "gb":
		return Plan{Country: "uk", Level: -13,
			Source: "ITU-T E.180 Suppl. (OB 781) United Kingdom (BT): dial 350+440 Hz; ringing 400+450 Hz 0.4/0.2/0.4/2.0 s; busy 400 Hz 375/375 ms",
			Tones: [...][]Segment{
				Dial:        continuous(350, 440),
				Ringback:    {on(400, 400, 450), off(200), on(400, 400, 450), off(2000)},
				Busy:        {on(375, 400), off(375)},
				Congestion:  {on(400, 400), off(350), on(225, 400), off(525)},
				CallWaiting: {on(100, 400), off(4000)},
				Ringer:      ringer(400, 200, 400, 2000),
			}}, nil
	case "us":
		return Plan{Country: "us", Level: -13,
			Source: "Telcordia GR-506-CORE Precise Tone Plan: dial 350+440 Hz; audible ringing 440+480 Hz 2 s on 4 s off; busy 480+620 Hz 0.5/0.5 s; reorder 0.25/0.25 s; call waiting 440 Hz 300 ms",
			Tones: [...][]Segment{
				Dial:        continuous(350, 440),
				Ringback:    {on(2000, 440, 480), off(4000)},
				Busy:        {on(500, 480, 620), off(500)},
				Congestion:  {on(250, 480, 620), off(250)},
				CallWaiting: {on(300, 440), off(9700)},
				Ringer:      ringer(2000, 4000),
			}}, nil
	}
	return Plan{}, fmt.Errorf("tone country %q (known: %s): %w", code, strings.Join(Countries(), ", "), ErrUnknownCountry)
}

// Default is the plan used before a country is chosen: the values ITU-T E.180 §2 recommends
// (425 Hz; ringing 1 s on 4 s off; busy 0.5 s on 0.5 s off).
func Default() Plan {
	return Plan{Country: "itu", Level: -13,
		Source: "ITU-T E.180 §2 recommended values",
		Tones: [...][]Segment{
			Dial:        continuous(425),
			Ringback:    {on(1000, 425), off(4000)},
			Busy:        {on(500, 425), off(500)},
			Congestion:  {on(250, 425), off(250)},
			CallWaiting: {on(200, 425), off(200), on(200, 425), off(5000)},
			Ringer:      ringer(1000, 4000),
		}}
}

// Cadence returns the segments of a tone (nil for None or an unknown tone).
func (p Plan) Cadence(t Tone) []Segment {
	if t <= None || int(t) >= len(p.Tones) {
		return nil
	}
	return p.Tones[t]
}

// fullScale0dBm0 is the peak amplitude of a 0 dBm0 sine in 16-bit linear PCM: the G.711 overload
// point (+3.14 dBm0 for A-law, 32256) less 3.14 dB.
const fullScale0dBm0 = 22540.0

// Generator renders one tone of a plan as 8 kHz samples, continuing its cadence across frames.
type Generator struct {
	segs    []Segment
	amp     float64
	rate    float64
	seg     int // current segment
	left    int // samples left in the current segment; <0 = forever
	phase   [2]float64
	started bool
}

// NewGenerator returns a generator for tone t of plan p at sampleRate Hz. A None generator
// produces silence.
func NewGenerator(p Plan, t Tone, sampleRate int) *Generator {
	level := p.Level
	if t == Ringer {
		level = -6
	}
	return &Generator{
		segs: p.Cadence(t),
		amp:  fullScale0dBm0 * math.Pow(10, level/20),
		rate: float64(sampleRate),
	}
}

// Silent reports whether the generator produces nothing (tone None).
func (g *Generator) Silent() bool { return len(g.segs) == 0 }

// Fill overwrites frame with the next samples of the tone.
func (g *Generator) Fill(frame []int16) {
	for i := range frame {
		frame[i] = clamp(g.next())
	}
}

// Mix adds the next samples of the tone to frame, saturating at the int16 limits.
func (g *Generator) Mix(frame []int16) {
	for i := range frame {
		frame[i] = clamp(float64(frame[i]) + g.next())
	}
}

func (g *Generator) next() float64 {
	if len(g.segs) == 0 {
		return 0
	}
	if !g.started {
		g.started = true
		g.enter(0)
	}
	for g.left == 0 {
		g.enter((g.seg + 1) % len(g.segs))
	}
	if g.left > 0 {
		g.left--
	}
	s := g.segs[g.seg]
	v := 0.0
	for k, f := range s.Freqs {
		if f == 0 {
			continue
		}
		v += math.Sin(g.phase[k])
		g.phase[k] += 2 * math.Pi * f / g.rate
		if g.phase[k] > 2*math.Pi {
			g.phase[k] -= 2 * math.Pi
		}
	}
	return v * g.amp
}

func (g *Generator) enter(i int) {
	g.seg = i
	d := g.segs[i].Duration
	if d == 0 {
		g.left = -1
		return
	}
	g.left = int(d.Seconds()*g.rate + 0.5)
	if g.left == 0 {
		g.left = 1
	}
}

func clamp(v float64) int16 {
	switch {
	case v > math.MaxInt16:
		return math.MaxInt16
	case v < math.MinInt16:
		return math.MinInt16
	}
	return int16(v)
}
