package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/deskphone/deskphone/firmware/config"
	"github.com/deskphone/deskphone/firmware/phone"
	"github.com/deskphone/deskphone/firmware/tones"
	"github.com/deskphone/deskphone/hw/audio"
	"github.com/deskphone/deskphone/hw/gpio"
)

// soundCard is what the phone's media path needs from an audio backend: 20 ms frames of 8 kHz
// mono audio. *audio.ALSADevice also has Stats, SetVolume and Ring.
type soundCard interface {
	ReadFrame(ctx context.Context, frame []int16) error
	WriteFrame(frame []int16) error
	Close() error
}

// pairingWindow is how long the pair button opens the Alcatel pairing window.
const pairingWindow = 5 * time.Minute

// openAudio opens the backend [audio] backend names: alsa (the handset's sound card), file (WAV
// files, for a computer without a handset) or null. The ALSA card is first opened once openAfter
// is closed (nil: at once).
func openAudio(f *config.File, openAfter <-chan struct{}, log *slog.Logger) (soundCard, error) {
	a := f.Audio
	switch a.Backend {
	case "alsa":
		cfg := alsaConfig(a, tonePlan(f))
		cfg.OpenAfter = openAfter
		d, err := audio.OpenALSA(cfg, log.With("component", "alsa"))
		if err != nil {
			return nil, fmt.Errorf("[audio] alsa backend: %w", err)
		}
		return d, nil
	case "file":
		d, err := audio.OpenFile(a.Input, a.Output)
		if err != nil {
			return nil, fmt.Errorf("[audio] file backend: %w", err)
		}
		return d, nil
	case "null", "":
		return audio.NewNull(), nil
	}
	return nil, fmt.Errorf("[audio] backend %q: use alsa, file or null", a.Backend)
}

func alsaConfig(a config.Audio, ring tones.Plan) audio.ALSAConfig {
	return audio.ALSAConfig{
		Playback: a.Playback, Capture: a.Capture, Ringer: a.Ringer,
		SpeakerVolume: a.SpeakerVolume, RingerVolume: a.RingerVolume, MicGain: a.MicGain,
		RingTone: func() audio.ToneSource { return tones.NewGenerator(ring, tones.Ringer, audio.SampleRate) },
	}
}

// tonePlan is the dial, ringback, busy and ring tones of [phone] tone_country.
func tonePlan(f *config.File) tones.Plan {
	plan, err := tones.ForCountry(f.Phone.ToneCountry)
	if err != nil {
		return tones.Default() // config's check refuses an unknown country; this is for defaults
	}
	return plan
}

// ringerOf is the phone's ringer on the sound card (the device openAudio returned): the ring
// tone on the ringer device, or mixed into the speaker. Backends without one (file, null) ring
// silently; the ring LED and the ringer
// output of [gpio] follow the call state on their own (runHardware).
func ringerOf(card any) phone.Ringer {
	if r, ok := card.(phone.Ringer); ok {
		return r
	}
	return silentRinger{}
}

type silentRinger struct{}

func (silentRinger) Ring(bool) {}

// runAudioList prints the sound devices for `deskphone audio list`.
func runAudioList() int {
	devs, err := audio.List()
	if err != nil {
		fmt.Fprintln(os.Stderr, "deskphone audio list:", err)
		return 1
	}
	printDevices(os.Stdout, devs)
	return 0
}

func printDevices(w io.Writer, devs []audio.DeviceInfo) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tALSA\tPLAYBACK\tCAPTURE\tUSB")
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "-"
	}
	for _, d := range devs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Name, d.ID, yes(d.Playback), yes(d.Capture), yes(d.USB))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nUse a NAME (or part of it) or an ALSA name as [audio] playback / capture / ringer in deskphone.toml.")
	fmt.Fprintln(w, "Left empty, the phone uses the first USB card, else the default device.")
}

// runHardware connects the buttons, hook switch and LEDs of [gpio] to the phone until ctx ends.
// A GPIO problem (a line that does not exist, no GPIO chip) is logged and the phone runs on
// without buttons: it still answers through the API.
// waiting (nil without voicemail) lights the message LED while the phone's mailbox has new messages.
func runHardware(ctx context.Context, f *config.File, p *phone.Phone, pairing func(time.Duration), waiting <-chan bool, log *slog.Logger) error {
	if !f.GPIO.Enabled {
		return nil
	}
	log = log.With("component", "gpio")
	cfg, err := gpioConfig(f.GPIO)
	if err != nil {
		log.Error("GPIO disabled: bad configuration", "err", err)
		return nil
	}
	b, err := gpio.Open(cfg, log)
	if err != nil {
		log.Error("GPIO disabled: "+err.Error(), "hint", "check the [gpio] pins in deskphone.toml against hw/README.md")
		return nil
	}
	if f.Provisioning.Pairing != "button" {
		pairing = nil
	}
	return bridgeHardware(ctx, b, p, pairing, waiting, log)
}

// gpioConfig turns [gpio] into the gpio package's configuration.
func gpioConfig(g config.GPIO) (gpio.Config, error) {
	c := gpio.DefaultConfig()
	c.Debounce = g.Debounce.Duration
	var errs []error
	in := func(key string, i config.Input) gpio.InputConfig {
		pull, err := gpio.ParsePull(i.Pull)
		if err != nil {
			errs = append(errs, fmt.Errorf("gpio.%s.pull: %w", key, err))
		}
		return gpio.InputConfig{Pin: i.Pin, Pull: pull, ActiveLow: i.ActiveLow}
	}
	out := func(o config.Output) gpio.OutputConfig { return gpio.OutputConfig{Pin: o.Pin, ActiveLow: o.ActiveLow} }
	c.Hook = in("hook", g.Hook)
	c.Answer = in("answer", g.Answer)
	c.Hangup = in("hangup", g.Hangup)
	c.Pair = in("pair", g.Pair)
	c.Redial = in("redial", g.Redial)
	c.SpeedDial = in("speed_dial", g.SpeedDial)
	c.RingLED = out(g.RingLED)
	c.StatusLED = out(g.StatusLED)
	c.MessageLED = out(g.MessageLED)
	c.Ringer = out(g.Ringer)
	return c, errors.Join(errs...)
}

// board is the buttons and LEDs as the bridge uses them (*gpio.Board, gpiotest.Board).
type board interface {
	Events() <-chan gpio.Event
	Set(o gpio.Output, p gpio.Pattern)
	Run(ctx context.Context) error
}

// handset is the phone as the bridge drives it (*phone.Phone).
type handset interface {
	Press(b phone.Button)
	Subscribe() (<-chan phone.Snapshot, func())
}

// bridgeHardware runs b, turns its events into button presses on the phone and shows the phone's
// state on the LEDs, until ctx ends.
func bridgeHardware(ctx context.Context, b board, p handset, pairing func(time.Duration), waiting <-chan bool, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	snaps, unsubscribe := p.Subscribe()
	defer unsubscribe()
	events := b.Events()
	for events != nil {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			press(ev, p, pairing, log)
		case s := <-snaps:
			showState(b, s)
		case on := <-waiting:
			led := gpio.Off
			if on {
				led = gpio.On
			}
			b.Set(gpio.MessageLED, led)
		case <-ctx.Done():
			events = nil
		}
	}
	cancel()
	return <-done
}

// press feeds one input event to the phone.
func press(ev gpio.Event, p handset, pairing func(time.Duration), log *slog.Logger) {
	log.Info("button", "event", ev.Kind.String())
	switch ev.Kind {
	case gpio.HookOff:
		p.Press(phone.HookOff)
	case gpio.HookOn:
		p.Press(phone.HookOn)
	case gpio.Answer:
		p.Press(phone.AnswerKey)
	case gpio.Hangup:
		p.Press(phone.HangupKey)
	case gpio.Redial:
		p.Press(phone.RedialKey)
	case gpio.SpeedDial:
		p.Press(phone.SpeedDialKey(max(ev.Slot, 1)))
	case gpio.Pair:
		if pairing == nil {
			log.Warn("pair button held, but [provisioning] pairing is not \"button\"")
			return
		}
		pairing(pairingWindow)
		log.Info("Alcatel pairing window opened by the pair button", "for", pairingWindow)
	}
}

// showState shows a phone snapshot on the LEDs: the ring LED and ringer output while a call
// rings, the status LED steady when registered, slow blink while registering, fast blink when
// registration failed, dark when the phone is disabled.
func showState(b board, s phone.Snapshot) {
	ring, ringer := gpio.Off, gpio.Off
	if s.Call == "ringing" {
		ring, ringer = gpio.RingBlink, gpio.RingCadence
	}
	b.Set(gpio.RingLED, ring)
	b.Set(gpio.Ringer, ringer)
	status := gpio.Off
	switch phone.Registration(s.Registration) {
	case phone.RegRegistered:
		status = gpio.On
	case phone.RegRegistering:
		status = gpio.SlowBlink
	case phone.RegFailed:
		status = gpio.FastBlink
	}
	b.Set(gpio.StatusLED, status)
}

// audioStatus reports the sound card's devices and counters (underruns, overruns, reopens) for
// the status API, or nil when the backend keeps none (file, null).
func audioStatus(card any) func() any {
	if s, ok := card.(interface{ Stats() audio.ALSAStats }); ok {
		return func() any { return s.Stats() }
	}
	return nil
}
