package audio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deskphone/deskphone/hw/audio/resample"
)

// ALSAConfig chooses the sound devices of the alsa backend and how loud they are.
type ALSAConfig struct {
	// Playback and Capture name a device as `deskphone audio list` shows it (a name, or part of
	// it, or an ALSA PCM such as "hw:1,0" or "plughw:CARD=Device"). "" picks the first USB sound
	// card, else the system default.
	Playback string
	Capture  string
	// Ringer is a separate device for the ringer (a speaker on the jack while the handset is
	// USB); "" rings through Playback.
	Ringer string
	// DeviceRate is the rate the devices run at, a multiple of 8 kHz; 0 means 48000, the rate
	// USB cards support (many refuse 8 kHz).
	DeviceRate int
	// Volumes, 0–100. Speaker and ringer: 100 is full scale. MicGain: 80 leaves the microphone
	// as it is, 100 adds about 4 dB.
	SpeakerVolume int
	RingerVolume  int
	MicGain       int
	// RingTone returns a fresh ring sound each time the phone starts ringing: the country's bell
	// and cadence (the caller's tone plan). nil: a 1000/1333 Hz trill, 1 s on, 2 s off.
	RingTone func() ToneSource
	// OpenAfter, when not nil, holds the first opening of the devices until it is closed: at
	// boot the sound card's driver is loaded only after the phone's first registration, so an
	// attempt before it would only fail, and starting ALSA (its configuration files, the
	// device search) would take CPU from the registration on a busy core. nil: open at once.
	OpenAfter <-chan struct{}
}

// ToneSource produces a sound as 8 kHz samples, continuing from one frame to the next.
type ToneSource interface {
	Fill(frame []int16)
}

// ALSAStats is what the status API reports about the sound devices.
type ALSAStats struct {
	Running    bool   `json:"running"` // callbacks are arriving
	Playback   string `json:"playback"`
	Capture    string `json:"capture"`
	Ringer     string `json:"ringer,omitempty"`
	DeviceRate int    `json:"device_rate"`
	Callbacks  uint64 `json:"callbacks"`
	// Underruns counts times the speaker ran out of audio in the middle of a stream.
	Underruns uint64 `json:"underruns"`
	// Overruns counts 20 ms microphone frames dropped because the phone did not read them in time.
	Overruns uint64 `json:"overruns"`
	// Dropped counts 20 ms speaker frames dropped to keep the delay bounded.
	Dropped uint64 `json:"dropped"`
	// Reopens counts the times the watchdog reopened a device (stalled callbacks, unplugged card).
	Reopens   uint64 `json:"reopens"`
	LastError string `json:"last_error,omitempty"`
}

// ErrClosed is returned by a device that was closed.
var ErrClosed = errors.New("audio device closed")

// Buffer sizes, in 8 kHz samples.
const (
	alsaCaptureMax = 10 * FrameLength // microphone audio kept for ReadFrame: 200 ms
	alsaPlayMax    = 6 * FrameLength  // speaker audio queued: 120 ms, older is dropped
	alsaPrefill    = 2 * FrameLength  // queued before the speaker starts: 40 ms of jitter room
	alsaCaptureLag = 2 * FramePeriod  // ReadFrame returns silence this late when the microphone is silent
)

// alsaTiming holds the watchdog's periods; tests shorten them.
type alsaTiming struct {
	check     time.Duration // how often the watchdog looks
	stall     time.Duration // no callback for this long while running: reopen
	closeWait time.Duration // a wedged device gets this long to close before it is abandoned
	retryMin  time.Duration // reopen retry backoff
	retryMax  time.Duration
}

var defaultALSATiming = alsaTiming{
	check:     250 * time.Millisecond,
	stall:     2 * time.Second,
	closeWait: 3 * time.Second,
	retryMin:  500 * time.Millisecond,
	retryMax:  5 * time.Second,
}

// alsaBackend opens sound streams; the cgo file implements it with malgo (miniaudio), tests with
// a fake.
type alsaBackend interface {
	open(req alsaRequest) (alsaStream, error)
}

// alsaRequest asks for one stream: full duplex when capture is wanted, else playback only.
type alsaRequest struct {
	playback, capture string // configured names ("" = default choice)
	withCapture       bool
	rate              int
	period            time.Duration
	// data runs on the audio thread with mono samples at rate: fill out, consume in. Either
	// may be nil. It must not block.
	data func(out, in []int16)
	// stopped runs when the stream stops by itself (device lost).
	stopped func()
}

// alsaStream is an open, started stream.
type alsaStream interface {
	names() (playback, capture string) // the devices actually opened, for the status API
	close()                            // stop and release; may block on a wedged device
}

// alsaSlot is one stream the watchdog keeps alive.
type alsaSlot struct {
	role    string // "handset" or "ringer"
	req     alsaRequest
	stream  alsaStream // nil while reopening; only the watchdog (and Open/Close) touch it
	gen     atomic.Uint64
	open    atomic.Bool     // stream is set
	last    atomic.Int64    // unix nanoseconds of the last callback
	lost    atomic.Bool     // the stream stopped by itself
	closing []chan struct{} // closed when an abandoned stream finally closes
}

// ALSADevice is the handset's sound card: a full-duplex stream at the device rate, resampled to
// and from 8 kHz, kept alive by a watchdog that reopens the device when its callbacks stop or it
// disappears. ReadFrame keeps returning (silence) while the device is away, so a call goes on.
type ALSADevice struct {
	log     *slog.Logger
	backend alsaBackend
	timing  alsaTiming
	factor  int
	now     func() time.Time
	onClose func() // releases the backend after the streams

	handset *alsaSlot
	ringer  *alsaSlot // nil: the ring is mixed into the handset stream

	mu          sync.Mutex // held briefly, also by the audio thread
	closed      bool
	capBuf      []int16   // 8 kHz microphone audio waiting for ReadFrame
	playBuf     []int16   // 8 kHz speaker audio waiting for the device
	primed      bool      // the speaker is playing from playBuf (not waiting for prefill)
	starvedAt   time.Time // playBuf ran dry while primed; zero if not
	lastRead    time.Time
	down        *resample.Down
	up          *resample.Up
	upLeft      []int16 // device-rate samples interpolated but not yet played
	ringUp      *resample.Up
	ringLeft    []int16
	tmp8, tmpHi []int16
	speakerGain float32
	ringerGain  float32
	micGain     float32
	ringing     bool
	ringPos     int
	ringTone    func() ToneSource
	openAfter   <-chan struct{} // the first open waits for it (nil: at once)
	ringSrc     ToneSource      // the current ring sound; nil: the built-in trill
	ringBuf     []int16
	stats       ALSAStats

	captured chan struct{} // signalled when microphone audio arrives
	stop     chan struct{}
	done     chan struct{}
}

// openALSA returns the device at once and opens its streams with backend in the watchdog's
// goroutine.
func openALSA(cfg ALSAConfig, log *slog.Logger, backend alsaBackend, timing alsaTiming) (*ALSADevice, error) {
	rate := cfg.DeviceRate
	if rate == 0 {
		rate = 48000
	}
	factor, err := resample.Factor(rate)
	if err != nil {
		return nil, fmt.Errorf("audio device rate: %w", err)
	}
	d := &ALSADevice{
		log: log, backend: backend, timing: timing, factor: factor, now: time.Now, ringTone: cfg.RingTone,
		down: resample.NewDown(factor), up: resample.NewUp(factor), ringUp: resample.NewUp(factor),
		openAfter: cfg.OpenAfter,
		captured:  make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	d.SetVolume(cfg.SpeakerVolume, cfg.RingerVolume, cfg.MicGain)
	d.stats.DeviceRate = rate
	d.handset = &alsaSlot{role: "handset", req: alsaRequest{
		playback: cfg.Playback, capture: cfg.Capture, withCapture: true, rate: rate, period: FramePeriod,
	}}
	d.handset.req.data = d.handsetData
	if cfg.Ringer != "" && cfg.Ringer != cfg.Playback {
		d.ringer = &alsaSlot{role: "ringer", req: alsaRequest{playback: cfg.Ringer, rate: rate, period: FramePeriod}}
		d.ringer.req.data = d.ringerData
	}
	go d.watch()
	return d, nil
}

// openFirst opens each stream for the first time. A card that is missing now (no USB handset
// plugged in yet) is not fatal: the phone system keeps running, the microphone gives silence,
// and the watchdog opens the card when it appears. The status API shows the error meanwhile.
func (d *ALSADevice) openFirst() {
	for _, s := range []*alsaSlot{d.handset, d.ringer} {
		if s == nil {
			continue
		}
		if err := d.start(s); err != nil {
			d.mu.Lock()
			d.stats.LastError = err.Error()
			d.mu.Unlock()
			d.log.Warn("no sound device yet: plug in a USB handset or headset (deskphone audio list shows the cards); the phone keeps trying",
				"role", s.role, "err", err)
		}
	}
}

// SetVolume sets the speaker and ringer volume and the microphone gain, each 0–100.
func (d *ALSADevice) SetVolume(speaker, ringer, mic int) {
	level := func(v int) float32 {
		v = max(0, min(100, v))
		return float32(v*v) / 10000
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.speakerGain = level(speaker)
	d.ringerGain = level(ringer)
	d.micGain = level(mic) * (100.0 * 100.0 / (80.0 * 80.0))
}

// Stats reports the devices in use and the error counters.
func (d *ALSADevice) Stats() ALSAStats {
	d.mu.Lock()
	s := d.stats
	d.mu.Unlock()
	s.Running = d.healthy(d.handset, d.now())
	return s
}

// Ring starts or stops the ring tone (ALSAConfig.RingTone) at the ringer volume, on the ringer
// device or mixed into the speaker. It never blocks.
func (d *ALSADevice) Ring(on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if on && !d.ringing {
		d.ringPos = 0
		if d.ringTone != nil {
			d.ringSrc = d.ringTone() // each ring starts at the beginning of its cadence
		}
	}
	d.ringing = on
}

// ReadFrame fills frame with the next microphone samples at 8 kHz. It blocks until they have
// been captured; while the device is away it returns silence every 20 ms instead.
func (d *ALSADevice) ReadFrame(ctx context.Context, frame []int16) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return ErrClosed
		}
		now := d.now()
		if d.lastRead.IsZero() || now.Sub(d.lastRead) > 5*FramePeriod {
			// the reader was away (no call): start from fresh audio, not 200 ms of old
			d.lastRead = now
			if n := len(d.capBuf) - FrameLength; n > 0 {
				d.capBuf = d.capBuf[:copy(d.capBuf, d.capBuf[n:])]
			}
		}
		if len(d.capBuf) >= len(frame) {
			n := copy(frame, d.capBuf)
			d.capBuf = d.capBuf[:copy(d.capBuf, d.capBuf[n:])]
			d.lastRead = now
			d.mu.Unlock()
			return nil
		}
		due := d.lastRead.Add(FramePeriod + alsaCaptureLag)
		if !now.Before(due) {
			clear(frame)
			d.lastRead = d.lastRead.Add(FramePeriod)
			d.mu.Unlock()
			return nil
		}
		d.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(due.Sub(now))
		} else {
			timer.Reset(due.Sub(now))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-d.captured:
		case <-timer.C:
		case <-d.stop:
		}
	}
}

// WriteFrame queues frame (8 kHz) for the speaker. It never blocks: beyond 120 ms of queued
// audio the oldest is dropped.
func (d *ALSADevice) WriteFrame(frame []int16) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	if !d.starvedAt.IsZero() {
		if d.now().Sub(d.starvedAt) < 10*FramePeriod {
			d.stats.Underruns++
		}
		d.starvedAt = time.Time{}
	}
	d.playBuf = append(d.playBuf, frame...)
	if over := len(d.playBuf) - alsaPlayMax; over > 0 {
		d.playBuf = d.playBuf[:copy(d.playBuf, d.playBuf[over:])]
		d.stats.Dropped += uint64((over + FrameLength - 1) / FrameLength)
	}
	return nil
}

// Close stops the watchdog and releases the devices.
func (d *ALSADevice) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	close(d.stop)
	<-d.done
	deadline := time.NewTimer(d.timing.closeWait)
	defer deadline.Stop()
	for _, s := range []*alsaSlot{d.handset, d.ringer} {
		if s == nil {
			continue
		}
		d.release(s)
		for _, c := range s.closing {
			select {
			case <-c:
			case <-deadline.C:
				return fmt.Errorf("sound device %s did not close", s.role)
			}
		}
	}
	if d.onClose != nil {
		d.onClose()
	}
	return nil
}

// handsetData is the handset stream's callback: microphone in, speaker (and ring) out.
func (d *ALSADevice) handsetData(out, in []int16) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stats.Callbacks++
	if in != nil {
		d.tmp8 = d.down.Process(d.tmp8[:0], in)
		gain(d.tmp8, d.micGain)
		d.capBuf = append(d.capBuf, d.tmp8...)
		if over := len(d.capBuf) - alsaCaptureMax; over > 0 {
			over = (over + FrameLength - 1) / FrameLength * FrameLength
			over = min(over, len(d.capBuf))
			d.capBuf = d.capBuf[:copy(d.capBuf, d.capBuf[over:])]
			if d.now().Sub(d.lastRead) < 5*FramePeriod { // only while someone reads
				d.stats.Overruns += uint64(over / FrameLength)
			}
		}
		select {
		case d.captured <- struct{}{}:
		default:
		}
	}
	if out != nil {
		d.fill(out, &d.upLeft, d.up, func(s []int16) {
			d.speaker(s)
			if d.ringer == nil {
				d.ring(s, true)
			}
		})
	}
}

// ringerData is the separate ringer stream's callback.
func (d *ALSADevice) ringerData(out, _ []int16) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if out != nil {
		d.fill(out, &d.ringLeft, d.ringUp, func(s []int16) {
			clear(s)
			d.ring(s, false)
		})
	}
}

// fill writes len(out) device-rate samples, producing 8 kHz audio with gen and interpolating it.
func (d *ALSADevice) fill(out []int16, left *[]int16, up *resample.Up, gen func([]int16)) {
	n := copy(out, *left)
	*left = (*left)[:copy(*left, (*left)[n:])]
	for n < len(out) {
		want := (len(out) - n + d.factor - 1) / d.factor
		if cap(d.tmp8) < want {
			d.tmp8 = make([]int16, want)
		}
		s := d.tmp8[:want]
		gen(s)
		d.tmpHi = up.Process(d.tmpHi[:0], s)
		k := copy(out[n:], d.tmpHi)
		*left = append(*left, d.tmpHi[k:]...)
		n += k
	}
}

// speaker takes len(s) samples of queued speaker audio, or silence while the queue fills.
func (d *ALSADevice) speaker(s []int16) {
	if !d.primed && len(d.playBuf) >= alsaPrefill {
		d.primed = true
	}
	if !d.primed {
		clear(s)
		return
	}
	n := copy(s, d.playBuf)
	d.playBuf = d.playBuf[:copy(d.playBuf, d.playBuf[n:])]
	if n < len(s) {
		clear(s[n:])
		d.primed = false
		d.starvedAt = d.now() // an underrun if more audio follows soon, the end of a stream if not
	}
	gain(s[:n], d.speakerGain)
}

// ring puts the ring tone into s (8 kHz), mixed with what is there when mix is set.
func (d *ALSADevice) ring(s []int16, mix bool) {
	if !d.ringing {
		return
	}
	if cap(d.ringBuf) < len(s) {
		d.ringBuf = make([]int16, len(s))
	}
	r := d.ringBuf[:len(s)]
	if d.ringSrc != nil {
		d.ringSrc.Fill(r)
		gain(r, d.ringerGain)
	} else {
		d.trill(r)
	}
	if !mix {
		copy(s, r)
		return
	}
	for i, v := range r {
		s[i] = int16(max(math.MinInt16, min(math.MaxInt16, int32(s[i])+int32(v))))
	}
}

// trill is the ring sound when no tone plan gives one: a 1000/1333 Hz trill switching every
// 25 ms, 1 s on, 2 s off, at the ringer volume.
func (d *ALSADevice) trill(s []int16) {
	amp := 12000 * float64(d.ringerGain)
	for i := range s {
		t := d.ringPos % (3 * SampleRate)
		d.ringPos++
		if t >= SampleRate {
			s[i] = 0
			continue
		}
		f := 1000.0
		if (t/200)%2 == 1 {
			f = 1333.0
		}
		s[i] = int16(amp * math.Sin(2*math.Pi*f*float64(d.ringPos)/SampleRate))
	}
}

func gain(s []int16, g float32) {
	if g == 1 {
		return
	}
	for i, v := range s {
		x := float32(v) * g
		s[i] = int16(max(math.MinInt16, min(math.MaxInt16, x)))
	}
}

// start opens a slot's stream.
func (d *ALSADevice) start(s *alsaSlot) error {
	gen := s.gen.Add(1)
	req := s.req
	data := req.data
	// callbacks from a stream the watchdog replaced do nothing
	req.data = func(out, in []int16) {
		if s.gen.Load() != gen {
			clear(out)
			return
		}
		data(out, in)
		s.last.Store(d.now().UnixNano())
	}
	req.stopped = func() {
		if s.gen.Load() == gen {
			s.lost.Store(true)
		}
	}
	st, err := d.backend.open(req)
	if err != nil {
		return err
	}
	s.lost.Store(false)
	s.last.Store(d.now().UnixNano())
	s.stream = st
	s.open.Store(true)
	p, c := st.names()
	d.mu.Lock()
	if s.role == "ringer" {
		d.stats.Ringer = p
	} else {
		d.stats.Playback, d.stats.Capture = p, c
	}
	d.mu.Unlock()
	d.log.Info("sound device open", "role", s.role, "playback", p, "capture", c, "rate", req.rate)
	return nil
}

// release closes a slot's stream, giving up on it after closeWait: a wedged driver must not
// hang the phone. Callbacks from the old stream are ignored from here on.
func (d *ALSADevice) release(s *alsaSlot) {
	s.gen.Add(1)
	s.open.Store(false)
	st := s.stream
	s.stream = nil
	if st == nil {
		return
	}
	closed := make(chan struct{})
	go func() { // waited for here, or by Close if it is slow
		st.close()
		close(closed)
	}()
	t := time.NewTimer(d.timing.closeWait)
	defer t.Stop()
	select {
	case <-closed:
	case <-t.C:
		d.log.Error("sound device does not close; carrying on without it", "role", s.role)
		s.closing = append(s.closing, closed)
	}
}

// healthy says whether a slot's stream is open and its callbacks are arriving.
func (d *ALSADevice) healthy(s *alsaSlot, now time.Time) bool {
	if !s.open.Load() || s.lost.Load() {
		return false
	}
	return now.Sub(time.Unix(0, s.last.Load())) < d.timing.stall
}

// watch opens the streams, then is the watchdog: it reopens a stream whose callbacks stopped or
// whose device went away.
func (d *ALSADevice) watch() {
	defer close(d.done)
	if d.openAfter != nil {
		select {
		case <-d.openAfter:
		case <-d.stop:
			return
		}
	}
	d.openFirst()
	t := time.NewTicker(d.timing.check)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		for _, s := range []*alsaSlot{d.handset, d.ringer} {
			if s == nil || d.healthy(s, d.now()) {
				continue
			}
			reason := "callbacks stopped"
			if s.lost.Load() {
				reason = "device stopped or was unplugged"
			}
			d.log.Warn("sound device failed; reopening it", "role", s.role, "reason", reason)
			d.release(s)
			d.reopen(s)
		}
	}
}

// reopen retries opening a slot's stream with backoff until it works or the device is closed.
func (d *ALSADevice) reopen(s *alsaSlot) {
	wait := d.timing.retryMin
	for {
		err := d.start(s)
		if err == nil {
			d.mu.Lock()
			d.stats.Reopens++
			d.mu.Unlock()
			return
		}
		d.mu.Lock()
		d.stats.LastError = err.Error()
		d.mu.Unlock()
		d.log.Warn("sound device still unavailable", "role", s.role, "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-d.stop:
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, d.timing.retryMax)
	}
}
