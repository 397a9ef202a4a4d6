package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/deskphone/deskphone/firmware/config"
	"github.com/deskphone/deskphone/firmware/phone"
	"github.com/deskphone/deskphone/hw/audio"
	"github.com/deskphone/deskphone/hw/gpio"
	"github.com/deskphone/deskphone/hw/gpio/gpiotest"
)

// fakeHandset records button presses and lets the test publish snapshots.
type fakeHandset struct {
	mu      sync.Mutex
	presses []phone.Button
	pressed chan struct{}
	snaps   chan phone.Snapshot
}

func newFakeHandset() *fakeHandset {
	return &fakeHandset{pressed: make(chan struct{}, 64), snaps: make(chan phone.Snapshot, 16)}
}

func (h *fakeHandset) Press(b phone.Button) {
	h.mu.Lock()
	h.presses = append(h.presses, b)
	h.mu.Unlock()
	h.pressed <- struct{}{}
}

func (h *fakeHandset) Subscribe() (<-chan phone.Snapshot, func()) { return h.snaps, func() {} }

func (h *fakeHandset) waitPresses(t *testing.T, n int) []phone.Button {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-h.pressed:
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d presses reached the phone", i, n)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]phone.Button(nil), h.presses...)
}

func startBridge(t *testing.T, b *gpiotest.Board, h *fakeHandset, pairing func(time.Duration)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- bridgeHardware(ctx, b, h, pairing, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("bridge did not stop")
		}
	})
}

func TestButtonsReachThePhone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, h := gpiotest.New(), newFakeHandset()
		var opened []time.Duration
		var mu sync.Mutex
		startBridge(t, b, h, func(d time.Duration) { mu.Lock(); opened = append(opened, d); mu.Unlock() })

		b.HookOff()
		b.SpeedDial(2)
		b.HookOn()
		b.Press(gpio.Answer)
		b.Press(gpio.Hangup)
		b.Press(gpio.Redial)
		b.Press(gpio.Pair) // held 3 s: not a phone button
		got := h.waitPresses(t, 6)
		want := []phone.Button{phone.HookOff, phone.SpeedDialKey(2), phone.HookOn, phone.AnswerKey, phone.HangupKey, phone.RedialKey}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("press %d = %+v, want %+v", i, got[i], want[i])
			}
		}
		synctest.Wait() // the bridge has handled every event
		mu.Lock()
		defer mu.Unlock()
		if len(opened) != 1 || opened[0] != 5*time.Minute {
			t.Errorf("pairing windows opened: %v, want one of 5m", opened)
		}
	})
}

func TestLEDsFollowThePhone(t *testing.T) {
	b, h := gpiotest.New(), newFakeHandset()
	startBridge(t, b, h, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	steps := []struct {
		snap         phone.Snapshot
		status, ring gpio.Pattern
		ringerRelay  gpio.Pattern
	}{
		{phone.Snapshot{Registration: "registering", Call: "idle"}, gpio.SlowBlink, gpio.Off, gpio.Off},
		{phone.Snapshot{Registration: "registered", Call: "idle"}, gpio.On, gpio.Off, gpio.Off},
		{phone.Snapshot{Registration: "registered", Call: "ringing"}, gpio.On, gpio.RingBlink, gpio.RingCadence},
		{phone.Snapshot{Registration: "registered", Call: "in_call"}, gpio.On, gpio.Off, gpio.Off},
		{phone.Snapshot{Registration: "failed", Call: "idle"}, gpio.FastBlink, gpio.Off, gpio.Off},
		{phone.Snapshot{Registration: "disabled", Call: "idle"}, gpio.Off, gpio.Off, gpio.Off},
	}
	for _, s := range steps {
		h.snaps <- s.snap
		if !b.WaitPattern(ctx, gpio.StatusLED, s.status) || !b.WaitPattern(ctx, gpio.RingLED, s.ring) ||
			!b.WaitPattern(ctx, gpio.Ringer, s.ringerRelay) {
			t.Fatalf("%s/%s: status %v ring %v ringer %v, want %v %v %v", s.snap.Registration, s.snap.Call,
				b.Pattern(gpio.StatusLED), b.Pattern(gpio.RingLED), b.Pattern(gpio.Ringer), s.status, s.ring, s.ringerRelay)
		}
	}
}

func TestGPIOConfig(t *testing.T) {
	g := config.GPIO{Debounce: config.Duration{Duration: 20 * time.Millisecond},
		Hook:    config.Input{Pin: "GPIO17", Pull: "up", ActiveLow: true},
		RingLED: config.Output{Pin: "GPIO5"},
		Answer:  config.Input{Pin: "GPIO27", Pull: "sideways"},
	}
	c, err := gpioConfig(g)
	if err == nil || !strings.Contains(err.Error(), "gpio.answer.pull") {
		t.Errorf("bad pull: err = %v, want it to name gpio.answer.pull", err)
	}
	if c.Debounce != 20*time.Millisecond || c.Hook != (gpio.InputConfig{Pin: "GPIO17", Pull: gpio.PullUp, ActiveLow: true}) ||
		c.RingLED.Pin != "GPIO5" || c.StatusLED.Pin != "" || c.Pair.Pin != "" {
		t.Errorf("config %+v: want exactly the pins of the file, unset ones disabled", c)
	}
}

// hw/ cannot be imported by firmware/config, so the [gpio] defaults written there are checked
// against hw/gpio's own here.
func TestGPIODefaultsAgree(t *testing.T) {
	if got, want := config.Default().GPIO.Debounce.Duration, gpio.DefaultConfig().Debounce; got != want {
		t.Errorf("[gpio] debounce defaults to %v, hw/gpio to %v", got, want)
	}
}

func TestOpenAudioBackends(t *testing.T) {
	f := config.Default()
	f.Audio.Backend = "null"
	card, err := openAudio(f, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer card.Close()
	if _, ok := card.(*audio.NullDevice); !ok {
		t.Errorf("null backend gave %T", card)
	}
	f.Audio.Backend = "tape"
	if _, err := openAudio(f, nil, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "tape") {
		t.Errorf("unknown backend: err = %v", err)
	}
}

func TestRingerOf(t *testing.T) {
	ringerOf(audio.NewNull()).Ring(true) // a null device has no ring: silent, no crash
	if _, ok := ringerOf(&audio.ALSADevice{}).(*audio.ALSADevice); !ok {
		t.Error("the ALSA device is not used as the ringer")
	}
}

func TestPrintDevices(t *testing.T) {
	var buf bytes.Buffer
	printDevices(&buf, []audio.DeviceInfo{{Name: "USB Audio Device, USB Audio", ID: ":1,0", Playback: true, Capture: true, USB: true}})
	if !strings.Contains(buf.String(), "USB Audio Device, USB Audio  :1,0") {
		t.Errorf("listing:\n%s", buf.String())
	}
}

func TestAudioStatus(t *testing.T) {
	if audioStatus(audio.NewNull()) != nil {
		t.Error("null device reports ALSA stats")
	}
	if audioStatus(&audio.ALSADevice{}) == nil {
		t.Fatal("ALSA device has no status")
	}
}

// The handset's ring follows [phone] tone_country: the first burst lasts as long as that
// country's ringing (France 1.5 s, United States 2 s, United Kingdom 0.4 s).
func TestRingCadenceFollowsToneCountry(t *testing.T) {
	for country, want := range map[string]time.Duration{
		"fr": 1500 * time.Millisecond, "us": 2 * time.Second, "uk": 400 * time.Millisecond,
	} {
		f := &config.File{Phone: config.Phone{ToneCountry: country}}
		ring := alsaConfig(config.Audio{}, tonePlan(f)).RingTone()
		frame := make([]int16, audio.FrameLength)
		burst := time.Duration(0)
		for frames := 0; frames < 500; frames++ {
			ring.Fill(frame)
			loud := false
			for _, v := range frame {
				loud = loud || v > 1000 || v < -1000
			}
			if !loud {
				break
			}
			burst += audio.FramePeriod
		}
		if burst != want {
			t.Errorf("tone_country %q: the ring's first burst lasts %v, want %v", country, burst, want)
		}
	}
}
