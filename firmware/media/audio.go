package media

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/deskphone/deskphone/firmware/tones"
)

// Audio owns the single loop around the handset device: each 20 ms it reads the microphone,
// sends it through the connected session, takes the session's jitter-buffered audio (or a local
// tone) and writes it to the speaker.
type Audio struct {
	dev AudioDevice
	log *slog.Logger

	mu      sync.Mutex
	running bool
	session *Session
	ringer  AudioDevice
	plan    tones.Plan
	tone    tones.Tone
	gen     *tones.Generator
}

// NewAudio returns the audio loop for dev. Tones follow tones.Default() until SetTonePlan.
func NewAudio(dev AudioDevice, log *slog.Logger) *Audio {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Audio{dev: dev, log: log, plan: tones.Default()}
}

// Connect routes call audio through s; nil disconnects (no call audio).
func (a *Audio) Connect(s *Session) {
	a.mu.Lock()
	old, running := a.session, a.running
	a.session = s
	a.mu.Unlock()
	if running && old != s {
		if old != nil {
			old.attach(false)
		}
		if s != nil {
			s.attach(true)
		}
	}
}

// SetTonePlan selects the country whose tones PlayTone plays (tones.ForCountry).
func (a *Audio) SetTonePlan(p tones.Plan) {
	a.mu.Lock()
	a.plan = p
	if a.tone != tones.None {
		a.gen = tones.NewGenerator(p, a.tone, SampleRate)
	}
	a.mu.Unlock()
}

// SetRinger gives the ringer its own device (a loudspeaker apart from the handset); tones.Ringer
// then plays there and the handset stays silent. nil plays the ringer on the handset device.
// The loop writes one frame to the ringer device per 20 ms tick (silence when not ringing).
func (a *Audio) SetRinger(dev AudioDevice) {
	a.mu.Lock()
	a.ringer = dev
	a.mu.Unlock()
}

// PlayTone starts a local tone, from the start of its cadence; tones.None stops it. Call
// waiting is mixed over the call audio; the other tones replace it on the speaker (the call
// still sends the microphone).
func (a *Audio) PlayTone(t tones.Tone) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tone = t
	if t == tones.None {
		a.gen = nil
		return
	}
	a.gen = tones.NewGenerator(a.plan, t, SampleRate)
}

// Run drives the loop until ctx ends (then it returns nil) or the device fails to capture.
func (a *Audio) Run(ctx context.Context) error {
	mic := make([]int16, FrameLength)
	out := make([]int16, FrameLength)
	ring := make([]int16, FrameLength)
	var writeErrors uint64
	a.mu.Lock()
	a.running = true
	if a.session != nil {
		a.session.attach(true)
	}
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.running = false
		if a.session != nil {
			a.session.attach(false)
		}
		a.mu.Unlock()
	}()
	for {
		if err := a.dev.ReadFrame(ctx, mic); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read microphone: %w", err)
		}
		a.mu.Lock()
		s, gen, tone, ringer := a.session, a.gen, a.tone, a.ringer
		a.mu.Unlock()

		var arrival time.Time
		real := false
		if s != nil {
			s.sendFrame(mic)
			s.drainRTP()
			arrival, real = s.readFrame(out)
		} else {
			clear(out)
		}
		ringing := false
		switch {
		case gen == nil:
		case tone == tones.CallWaiting:
			gen.Mix(out)
		case tone == tones.Ringer && ringer != nil:
			gen.Fill(ring)
			ringing = true
		default:
			gen.Fill(out)
			real = false
		}
		if ringer != nil {
			if !ringing {
				clear(ring)
			}
			if err := ringer.WriteFrame(ring); err != nil {
				a.log.Debug("ringer write failed", "err", err)
			}
		}
		if real {
			s.notePlayout(time.Since(arrival))
		}
		if err := a.dev.WriteFrame(out); err != nil {
			writeErrors++
			if writeErrors == 1 || writeErrors%250 == 0 {
				a.log.Warn("speaker write failed", "err", err, "failures", writeErrors)
			}
		}
	}
}
