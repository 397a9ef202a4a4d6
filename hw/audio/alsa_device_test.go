package audio

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeALSA stands in for miniaudio: the test runs the audio thread by calling tick.
type fakeALSA struct {
	mu     sync.Mutex
	slow   chan struct{} // non-nil: opens wait until it is closed (a card that takes long to open)
	fail   int           // the next opens fail, as when the USB card is unplugged
	err    error         // what they fail with
	hang   chan struct{} // given to new streams: their close blocks until it is closed
	opened chan *fakeStream
}

type fakeStream struct {
	req    alsaRequest
	closed atomic.Bool
	hang   chan struct{} // non-nil: close blocks until it is closed (a wedged driver)
}

func newFakeALSA() *fakeALSA { return &fakeALSA{opened: make(chan *fakeStream, 16)} }

func (b *fakeALSA) open(req alsaRequest) (alsaStream, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.slow != nil {
		<-b.slow
	}
	if b.fail > 0 {
		b.fail--
		return nil, b.err
	}
	s := &fakeStream{req: req, hang: b.hang}
	b.opened <- s
	return s, nil
}

func (s *fakeStream) names() (string, string) {
	return "fake:" + s.req.playback, "fake:" + s.req.capture
}

func (s *fakeStream) close() {
	if s.hang != nil {
		<-s.hang
	}
	s.closed.Store(true)
}

// tick runs one 20 ms callback: in is the microphone at the device rate, the result is what
// the speaker plays.
func (s *fakeStream) tick(in []int16) []int16 {
	out := make([]int16, len(in))
	s.req.data(out, in)
	return out
}

func (s *fakeStream) ringTick(n int) []int16 {
	out := make([]int16, n)
	s.req.data(out, nil)
	return out
}

func next(t *testing.T, b *fakeALSA) *fakeStream {
	t.Helper()
	select {
	case s := <-b.opened:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no stream opened within 5 s")
	}
	return nil
}

var fastTiming = alsaTiming{
	check:     5 * time.Millisecond,
	stall:     60 * time.Millisecond,
	closeWait: 100 * time.Millisecond,
	retryMin:  5 * time.Millisecond,
	retryMax:  20 * time.Millisecond,
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openFake opens a device whose watchdog only steps in after 10 s without callbacks, for tests
// that tick the streams at their own pace.
func openFake(t *testing.T, cfg ALSAConfig, b *fakeALSA) *ALSADevice {
	t.Helper()
	timing := fastTiming
	timing.stall = 10 * time.Second
	return openFakeTiming(t, cfg, b, timing)
}

func openFakeTiming(t *testing.T, cfg ALSAConfig, b *fakeALSA, timing alsaTiming) *ALSADevice {
	t.Helper()
	d, err := openALSA(cfg, quietLog(), b, timing)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// sine is amp·sin at freq, n samples at rate, starting at sample offset.
func sine(freq float64, rate, offset, n int, amp float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amp * math.Sin(2*math.Pi*freq*float64(offset+i)/float64(rate)))
	}
	return out
}

// goertzel is the amplitude (full scale 1) of freq in x.
func goertzel(x []int16, freq float64, rate int) float64 {
	c := 2 * math.Cos(2*math.Pi*freq/float64(rate))
	var s1, s2 float64
	for _, v := range x {
		s0 := float64(v)/32768 + c*s1 - s2
		s2, s1 = s1, s0
	}
	return 2 * math.Sqrt(math.Max(0, s1*s1+s2*s2-c*s1*s2)) / float64(len(x))
}

// strongest is the frequency (10 Hz steps) with the most energy in x.
func strongest(x []int16, rate int) float64 {
	best, bestA := 0.0, -1.0
	for f := 100.0; f < 4000; f += 10 {
		if a := goertzel(x, f, rate); a > bestA {
			best, bestA = f, a
		}
	}
	return best
}

func readFrame(t *testing.T, d *ALSADevice) []int16 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f := make([]int16, FrameLength)
	if err := d.ReadFrame(ctx, f); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestALSACarriesTonesBothWays(t *testing.T) {
	b := newFakeALSA()
	d := openFake(t, ALSAConfig{SpeakerVolume: 100, MicGain: 80}, b)
	s := next(t, b)
	const rate, period = 48000, 960

	// microphone: 1 kHz at 48 kHz reaches ReadFrame as 1 kHz at 8 kHz, at the same level
	var mic []int16
	for i := 0; i < 25; i++ {
		s.tick(sine(1000, rate, i*period, period, 8000))
		mic = append(mic, readFrame(t, d)...)
	}
	if f := strongest(mic[800:], SampleRate); f != 1000 {
		t.Errorf("microphone tone arrives at %v Hz, want 1000", f)
	}
	if a := goertzel(mic[800:], 1000, SampleRate) * 32768; math.Abs(a-8000) > 800 {
		t.Errorf("microphone tone amplitude %.0f, want about 8000", a)
	}

	// speaker: 440 Hz frames written at 8 kHz come out at 48 kHz
	var spk []int16
	for i := 0; i < 25; i++ {
		if err := d.WriteFrame(sine(440, SampleRate, i*FrameLength, FrameLength, 8000)); err != nil {
			t.Fatal(err)
		}
		spk = append(spk, s.tick(make([]int16, period))...)
		readFrame(t, d)
	}
	tail := spk[5*period:]
	if f := strongest(tail, rate); f != 440 {
		t.Errorf("speaker tone at %v Hz, want 440", f)
	}
	if a := goertzel(tail, 440, rate) * 32768; math.Abs(a-8000) > 800 {
		t.Errorf("speaker tone amplitude %.0f, want about 8000", a)
	}
	st := d.Stats()
	if !st.Running || st.DeviceRate != rate || st.Underruns != 0 || st.Overruns != 0 {
		t.Errorf("stats %+v: want running at 48 kHz with no underruns or overruns", st)
	}
}

func TestALSAWatchdogReopensStalledDevice(t *testing.T) {
	b := newFakeALSA()
	timing := fastTiming
	timing.stall = 300 * time.Millisecond
	d := openFakeTiming(t, ALSAConfig{Capture: "USB", Playback: "USB", MicGain: 80}, b, timing)
	first := next(t, b)
	for i := 0; i < 3; i++ {
		first.tick(make([]int16, 960))
	}
	// the callbacks stop (Pi 3 miniaudio stall); the phone keeps reading and gets silence
	for i := 0; i < 3; i++ {
		if f := readFrame(t, d); goertzel(f, 1000, SampleRate) != 0 {
			t.Fatal("expected silence while the device is stalled")
		}
	}
	second := next(t, b)
	if !first.closed.Load() {
		t.Error("stalled stream not closed")
	}
	if second.req.playback != "USB" || second.req.capture != "USB" {
		t.Errorf("reopened %q/%q, want the configured devices", second.req.playback, second.req.capture)
	}
	// late callbacks from the old stream are ignored; the new one carries audio
	first.tick(sine(2000, 48000, 0, 960, 8000))
	var mic []int16
	for i := 0; i < 10; i++ {
		second.tick(sine(1000, 48000, i*960, 960, 8000))
		mic = append(mic, readFrame(t, d)...)
	}
	if f := strongest(mic[320:], SampleRate); f != 1000 {
		t.Errorf("after reopening the microphone gives %v Hz, want 1000 (and never the old stream's 2000)", f)
	}
	if st := d.Stats(); st.Reopens != 1 || !st.Running {
		t.Errorf("stats %+v: want one reopen and running", st)
	}
}

func TestALSAReopensUnpluggedDevice(t *testing.T) {
	b := newFakeALSA()
	d := openFakeTiming(t, ALSAConfig{}, b, fastTiming)
	first := next(t, b)
	first.tick(make([]int16, 960))
	b.mu.Lock()
	b.fail, b.err = 3, errors.New("no USB sound card")
	b.mu.Unlock()
	first.req.stopped() // miniaudio reports the device gone
	second := next(t, b)
	second.tick(sine(1000, 48000, 0, 960, 8000))
	// the watchdog counts the reopen once the new stream has started: wait for it
	st := d.Stats()
	for deadline := time.Now().Add(5 * time.Second); st.Reopens == 0 && time.Now().Before(deadline); st = d.Stats() {
		time.Sleep(time.Millisecond)
	}
	if st.Reopens != 1 || !strings.Contains(st.LastError, "no USB sound card") {
		t.Errorf("stats %+v: want one reopen after the failed attempts, and their error", st)
	}
	// WriteFrame never blocks, even with nobody playing
	for i := 0; i < 100; i++ {
		if err := d.WriteFrame(make([]int16, FrameLength)); err != nil {
			t.Fatal(err)
		}
	}
	if st := d.Stats(); st.Dropped == 0 {
		t.Error("speaker queue grew without bound: nothing dropped")
	}
}

func TestALSAWedgedDeviceDoesNotHang(t *testing.T) {
	b := newFakeALSA()
	b.hang = make(chan struct{}) // every stream's close blocks: a wedged driver
	defer close(b.hang)
	d, err := openALSA(ALSAConfig{}, quietLog(), b, fastTiming)
	if err != nil {
		t.Fatal(err)
	}
	next(t, b)
	// stall: the watchdog gives up on closing the first stream and opens another
	second := next(t, b)
	second.tick(make([]int16, 960))
	start := time.Now()
	if err := d.Close(); err == nil {
		t.Error("Close of a wedged device reported no error")
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Close took %v", el)
	}
	if err := d.ReadFrame(context.Background(), make([]int16, FrameLength)); !errors.Is(err, ErrClosed) {
		t.Errorf("ReadFrame after Close: %v, want ErrClosed", err)
	}
}

func TestALSACountsUnderrunsAndOverruns(t *testing.T) {
	b := newFakeALSA()
	d := openFake(t, ALSAConfig{}, b)
	s := next(t, b)
	// speaker: two frames queued, then the far end is late for two periods, then resumes
	d.WriteFrame(make([]int16, FrameLength))
	d.WriteFrame(make([]int16, FrameLength))
	for i := 0; i < 4; i++ {
		s.tick(make([]int16, 960))
	}
	if st := d.Stats(); st.Underruns != 0 {
		t.Fatalf("underrun counted before audio resumed: %+v", st)
	}
	d.WriteFrame(make([]int16, FrameLength))
	if st := d.Stats(); st.Underruns != 1 {
		t.Errorf("underruns = %d, want 1", st.Underruns)
	}
	// microphone: the phone reads once, then stops reading for 15 periods
	s.tick(make([]int16, 960))
	readFrame(t, d)
	for i := 0; i < 15; i++ {
		s.tick(make([]int16, 960))
	}
	if st := d.Stats(); st.Overruns == 0 {
		t.Error("no overrun counted after 15 unread microphone frames")
	}
}

func TestALSAVolumeAndRing(t *testing.T) {
	b := newFakeALSA()
	d := openFake(t, ALSAConfig{SpeakerVolume: 50, RingerVolume: 100, Ringer: "jack"}, b)
	handset, ringer := next(t, b), next(t, b)
	if ringer.req.playback != "jack" || ringer.req.withCapture {
		t.Fatalf("ringer stream %+v, want playback-only on jack", ringer.req)
	}
	var spk []int16
	for i := 0; i < 20; i++ {
		d.WriteFrame(sine(1000, SampleRate, i*FrameLength, FrameLength, 16000))
		spk = append(spk, handset.tick(make([]int16, 960))...)
	}
	// volume 50 is a quarter of full scale (-12 dB)
	if a := goertzel(spk[4*960:], 1000, 48000) * 32768; math.Abs(a-4000) > 400 {
		t.Errorf("speaker at volume 50: amplitude %.0f, want about 4000", a)
	}
	if a := goertzel(ringer.ringTick(48000), 1000, 48000); a != 0 {
		t.Errorf("ringer plays %.4f before Ring(true)", a)
	}
	d.Ring(true)
	ring := ringer.ringTick(48000) // the first second: the trill
	if goertzel(ring, 1000, 48000) < 0.05 || goertzel(ring, 1333, 48000) < 0.05 {
		t.Error("ringer does not play the 1000/1333 Hz trill after Ring(true)")
	}
	d.Ring(false)
	if a := goertzel(ringer.ringTick(9600), 1000, 48000); a > 0.01 {
		t.Errorf("ringer still plays (%.3f) after Ring(false)", a)
	}
}

// With no sound card at start (no USB handset plugged in yet) the device still opens: the
// microphone gives silence, the error is reported, and the card is used once it appears.
func TestALSAStartsWithoutACardAndOpensItLater(t *testing.T) {
	b := newFakeALSA()
	b.fail, b.err = 3, errors.New("no USB sound card")
	d := openFakeTiming(t, ALSAConfig{MicGain: 80}, b, fastTiming)
	s := next(t, b) // the watchdog's retries reach the card
	if st := d.Stats(); !strings.Contains(st.LastError, "no USB sound card") {
		t.Errorf("stats %+v: want the open error reported", st)
	}
	var mic []int16
	for i := 0; i < 20; i++ {
		s.tick(sine(1000, 48000, i*960, 960, 8000))
		mic = append(mic, readFrame(t, d)...)
	}
	if f := strongest(mic[len(mic)-800:], SampleRate); f != 1000 {
		t.Errorf("microphone gives %v Hz once the card appears, want 1000", f)
	}
}

// A card that takes long to open delays nothing: the device is returned at once (the phone
// registers and the pages answer meanwhile), the microphone gives silence until the card is open,
// and then its sound.
func TestALSAOpensTheCardInTheBackground(t *testing.T) {
	b := newFakeALSA()
	b.slow = make(chan struct{})
	returned := make(chan *ALSADevice, 1)
	go func() {
		d, err := openALSA(ALSAConfig{MicGain: 80}, quietLog(), b, fastTiming)
		if err != nil {
			t.Error(err)
		}
		returned <- d
	}()
	var d *ALSADevice
	select {
	case d = <-returned:
	case <-time.After(5 * time.Second):
		close(b.slow)
		t.Fatal("openALSA waits for the card to open")
	}
	t.Cleanup(func() { d.Close() })
	for _, v := range readFrame(t, d) {
		if v != 0 {
			t.Fatalf("microphone gives %d before the card is open, want silence", v)
		}
	}
	close(b.slow)
	s := next(t, b)
	var mic []int16
	for i := 0; i < 20; i++ {
		s.tick(sine(1000, 48000, i*960, 960, 8000))
		mic = append(mic, readFrame(t, d)...)
	}
	if f := strongest(mic[len(mic)-800:], SampleRate); f != 1000 {
		t.Errorf("microphone gives %v Hz once the card is open, want 1000", f)
	}
}

// bell is a ring sound that plays 700 Hz and counts how often a ring started.
type bell struct {
	starts *int
	pos    int
}

func (b *bell) Fill(frame []int16) {
	copy(frame, sine(700, SampleRate, b.pos, len(frame), 8000))
	b.pos += len(frame)
}

// The ring is the sound the caller's tone plan gives (the country's bell), restarted at each
// ring, at the ringer volume, mixed into the speaker when there is no separate ringer device.
func TestALSARingsTheGivenToneAtTheRingerVolume(t *testing.T) {
	starts := 0
	b := newFakeALSA()
	d := openFake(t, ALSAConfig{RingerVolume: 50, RingTone: func() ToneSource {
		starts++
		return &bell{starts: &starts}
	}}, b)
	handset := next(t, b)
	if a := goertzel(handset.tick(make([]int16, 960)), 700, 48000); a != 0 {
		t.Errorf("speaker plays %.4f of the bell before Ring(true)", a)
	}
	d.Ring(true)
	var spk []int16
	for i := 0; i < 10; i++ {
		spk = append(spk, handset.tick(make([]int16, 960))...)
	}
	// volume 50: a quarter of the bell's 8000 (-12 dB); the built-in trill is not there
	if a := goertzel(spk[960:], 700, 48000) * 32768; math.Abs(a-2000) > 300 {
		t.Errorf("bell at ringer volume 50: amplitude %.0f, want about 2000", a)
	}
	if a := goertzel(spk[960:], 1000, 48000); a > 0.01 {
		t.Errorf("the built-in trill (%.3f) plays although a ring tone was given", a)
	}
	d.Ring(false)
	d.Ring(true)
	if starts != 2 {
		t.Errorf("ring tone started %d times for two rings, want 2 (each ring from the top of its cadence)", starts)
	}
}

// At boot the card is opened only once the caller says so (after the phone's first
// registration), and a device closed before then never opens one.
func TestALSAOpensOnlyAfterOpenAfter(t *testing.T) {
	b := newFakeALSA()
	after := make(chan struct{})
	openFake(t, ALSAConfig{OpenAfter: after}, b)
	select {
	case <-b.opened:
		t.Fatal("the sound card was opened before OpenAfter was closed")
	case <-time.After(100 * time.Millisecond):
	}
	close(after)
	next(t, b)

	b2 := newFakeALSA()
	d, err := openALSA(ALSAConfig{OpenAfter: make(chan struct{})}, quietLog(), b2, fastTiming)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close before the first open: %v", err)
	}
	select {
	case <-b2.opened:
		t.Error("a device closed before OpenAfter opened the card")
	default:
	}
}
