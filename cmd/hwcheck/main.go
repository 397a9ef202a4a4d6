// Command hwcheck tests a Pi's phone hardware without the phone service: it lists the sound
// devices, plays a tone, records and analyses the microphone, prints hook and button events, and
// cycles the LEDs. Stop the service first: both cannot hold the same device or GPIO lines.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/deskphone/deskphone/firmware/config"
	"github.com/deskphone/deskphone/hw/audio"
	"github.com/deskphone/deskphone/hw/gpio"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: hwcheck COMMAND [flags]

  list                                   list the sound devices
  tone    [-device D] [-freq F] [-seconds N]       play a tone on the speaker
  record  [-device D] [-seconds N]                 record; print level and main frequency
  loop    [-playback D] [-capture D] [-freq F] [-seconds N]
                                         play a tone and analyse what is captured meanwhile
  latency [-playback D] [-capture D]     round trip of a tone burst from WriteFrame, through the
                                         sound card (wired back, or a loopback), to ReadFrame
  buttons [-config FILE] [-seconds N]    print hook and button events
  leds    [-config FILE]                 show every LED pattern in turn
`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	device := fs.String("device", "", "sound device (see hwcheck list); \"\" = first USB card, else default")
	playback := fs.String("playback", "", "loop: playback device")
	capture := fs.String("capture", "", "loop: capture device")
	freq := fs.Float64("freq", 1000, "tone frequency in Hz")
	seconds := fs.Float64("seconds", 0, "how long (0 = the command's default)")
	cfgPath := fs.String("config", "/boot/deskphone.toml", "deskphone.toml with the [gpio] pins")
	volume := fs.Int("volume", 80, "speaker volume 0–100")
	verbose := fs.Bool("v", false, "log what miniaudio and the backend do")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *verbose {
		log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	dur := func(def time.Duration) time.Duration {
		if *seconds > 0 {
			return time.Duration(*seconds * float64(time.Second))
		}
		return def
	}
	var err error
	switch args[0] {
	case "list":
		err = list(stdout)
	case "tone":
		err = loop(ctx, stdout, log, audio.ALSAConfig{Playback: *device, Capture: *device, SpeakerVolume: *volume, MicGain: 80}, *freq, dur(3*time.Second), false)
	case "record":
		err = loop(ctx, stdout, log, audio.ALSAConfig{Playback: *device, Capture: *device, SpeakerVolume: 0, MicGain: 80}, 0, dur(time.Second), true)
	case "loop":
		err = loop(ctx, stdout, log, audio.ALSAConfig{Playback: *playback, Capture: *capture, SpeakerVolume: *volume, MicGain: 80}, *freq, dur(3*time.Second), true)
	case "latency":
		err = latency(ctx, stdout, log, audio.ALSAConfig{Playback: *playback, Capture: *capture, SpeakerVolume: 100, MicGain: 80})
	case "buttons":
		err = buttons(ctx, stdout, log, *cfgPath, dur(30*time.Second))
	case "leds":
		err = leds(ctx, stdout, log, *cfgPath)
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	default:
		usage(stderr)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "hwcheck:", err)
		return 1
	}
	return 0
}

func list(w io.Writer) error {
	devs, err := audio.List()
	if err != nil {
		return err
	}
	for _, d := range devs {
		fmt.Fprintf(w, "%-45s %-18s playback=%v capture=%v usb=%v\n", d.Name, d.ID, d.Playback, d.Capture, d.USB)
	}
	return nil
}

// loop plays a tone (freq 0: silence) for d while recording, then reports what it captured.
func loop(ctx context.Context, w io.Writer, log *slog.Logger, cfg audio.ALSAConfig, freq float64, d time.Duration, report bool) error {
	dev, err := audio.OpenALSA(cfg, log)
	if err != nil {
		return err
	}
	defer dev.Close()
	frames := int(d / audio.FramePeriod)
	var rec []int16
	frame := make([]int16, audio.FrameLength)
	out := make([]int16, audio.FrameLength)
	for i := 0; i < frames; i++ {
		if err := dev.ReadFrame(ctx, frame); err != nil {
			return err
		}
		rec = append(rec, frame...)
		for j := range out {
			out[j] = int16(12000 * math.Sin(2*math.Pi*freq*float64(i*len(out)+j)/audio.SampleRate))
		}
		if err := dev.WriteFrame(out); err != nil {
			return err
		}
	}
	st := dev.Stats()
	if report {
		// skip the first 200 ms: device start and resampler delay
		tail := rec[min(len(rec), audio.SampleRate/5):]
		f, level := analyse(tail)
		fmt.Fprintf(w, "captured %.1f s: main frequency %.0f Hz, level %.1f dBFS\n", float64(len(rec))/audio.SampleRate, f, level)
	}
	fmt.Fprintf(w, "device: playback %q capture %q at %d Hz, callbacks %d, underruns %d, overruns %d, reopens %d\n",
		st.Playback, st.Capture, st.DeviceRate, st.Callbacks, st.Underruns, st.Overruns, st.Reopens)
	return nil
}

// latency plays ten 20 ms bursts of 1 kHz, each after 300 ms of silence, and finds each in the
// capture: the delay, counted in samples, is what the backend adds in both directions (queues,
// periods, resampler) plus the device's own buffering.
func latency(ctx context.Context, w io.Writer, log *slog.Logger, cfg audio.ALSAConfig) error {
	dev, err := audio.OpenALSA(cfg, log)
	if err != nil {
		return err
	}
	defer dev.Close()
	const gap, bursts = 15, 10 // frames of silence before each burst
	in := make([]int16, audio.FrameLength)
	out := make([]int16, audio.FrameLength)
	var lat []float64
	sent := -1 // sample index of the burst in flight
	pos := 0   // sample index of the frame being read
	for i := 0; len(lat) < bursts; i++ {
		if i > (bursts+2)*gap*4 {
			return fmt.Errorf("only %d of %d bursts came back: is the capture device wired to the playback device?", len(lat), bursts)
		}
		if err := dev.ReadFrame(ctx, in); err != nil {
			return err
		}
		if sent >= 0 {
			for j, v := range in {
				if v > 3000 || v < -3000 {
					lat = append(lat, float64(pos+j-sent)*1000/audio.SampleRate)
					sent = -1
					break
				}
			}
		}
		pos += len(in)
		clear(out)
		if sent < 0 && i%gap == gap-1 && i > 3*gap {
			for j := range out {
				out[j] = int16(16000 * math.Sin(2*math.Pi*1000*float64(j)/audio.SampleRate))
			}
			sent = pos - len(in) // written now, at the same position in the stream as the frame just read
		}
		if err := dev.WriteFrame(out); err != nil {
			return err
		}
	}
	lo, hi, sum := lat[0], lat[0], 0.0
	for _, v := range lat {
		lo, hi, sum = math.Min(lo, v), math.Max(hi, v), sum+v
	}
	fmt.Fprintf(w, "round trip WriteFrame -> device -> ReadFrame: mean %.1f ms, min %.1f ms, max %.1f ms (%d bursts)\n",
		sum/float64(len(lat)), lo, hi, len(lat))
	return nil
}

// analyse returns the strongest frequency (10 Hz steps, 100–3900 Hz) and the RMS level in dBFS.
func analyse(x []int16) (freq, dbfs float64) {
	if len(x) == 0 {
		return 0, math.Inf(-1)
	}
	var sum float64
	for _, v := range x {
		f := float64(v) / 32768
		sum += f * f
	}
	dbfs = 10 * math.Log10(sum/float64(len(x))+1e-12)
	best := -1.0
	for f := 100.0; f < 3900; f += 10 {
		c := 2 * math.Cos(2*math.Pi*f/audio.SampleRate)
		var s1, s2 float64
		for _, v := range x {
			s0 := float64(v)/32768 + c*s1 - s2
			s2, s1 = s1, s0
		}
		if p := s1*s1 + s2*s2 - c*s1*s2; p > best {
			best, freq = p, f
		}
	}
	return freq, dbfs
}

// gpioFromFile reads the [gpio] pins of a deskphone.toml; a missing file means the default map.
func gpioFromFile(path string) (gpio.Config, error) {
	c := gpio.DefaultConfig()
	f, err := config.Load(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	g := f.GPIO
	if g.Debounce.Duration > 0 {
		c.Debounce = g.Debounce.Duration
	}
	in := func(i config.Input) gpio.InputConfig {
		p, _ := gpio.ParsePull(i.Pull) // `deskphone check` reports a bad pull
		return gpio.InputConfig{Pin: i.Pin, Pull: p, ActiveLow: i.ActiveLow}
	}
	out := func(o config.Output) gpio.OutputConfig { return gpio.OutputConfig{Pin: o.Pin, ActiveLow: o.ActiveLow} }
	c.Hook, c.Answer, c.Hangup = in(g.Hook), in(g.Answer), in(g.Hangup)
	c.Pair, c.Redial, c.SpeedDial = in(g.Pair), in(g.Redial), in(g.SpeedDial)
	c.RingLED, c.StatusLED, c.MessageLED, c.Ringer = out(g.RingLED), out(g.StatusLED), out(g.MessageLED), out(g.Ringer)
	return c, nil
}

func openBoard(ctx context.Context, log *slog.Logger, path string) (*gpio.Board, func(), error) {
	cfg, err := gpioFromFile(path)
	if err != nil {
		return nil, nil, err
	}
	b, err := gpio.Open(cfg, log)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Run(ctx)
	}()
	return b, func() { cancel(); <-done }, nil
}

func buttons(ctx context.Context, w io.Writer, log *slog.Logger, path string, d time.Duration) error {
	b, stop, err := openBoard(ctx, log, path)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(w, "press buttons and lift the handset (%v)\n", d)
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case ev, ok := <-b.Events():
			if !ok {
				return nil
			}
			if ev.Slot > 0 {
				fmt.Fprintf(w, "%s %s %d\n", ev.At.Format("15:04:05.000"), ev.Kind, ev.Slot)
			} else {
				fmt.Fprintf(w, "%s %s\n", ev.At.Format("15:04:05.000"), ev.Kind)
			}
		case <-t.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

func leds(ctx context.Context, w io.Writer, log *slog.Logger, path string) error {
	b, stop, err := openBoard(ctx, log, path)
	if err != nil {
		return err
	}
	defer stop()
	steps := []struct {
		o gpio.Output
		p gpio.Pattern
	}{
		{gpio.StatusLED, gpio.On}, {gpio.StatusLED, gpio.SlowBlink}, {gpio.StatusLED, gpio.FastBlink}, {gpio.StatusLED, gpio.Off},
		{gpio.RingLED, gpio.RingBlink}, {gpio.RingLED, gpio.Off},
		{gpio.MessageLED, gpio.On}, {gpio.MessageLED, gpio.Off},
		{gpio.Ringer, gpio.RingCadence}, {gpio.Ringer, gpio.Off},
	}
	for _, s := range steps {
		fmt.Fprintf(w, "%s: %s\n", s.o, s.p)
		b.Set(s.o, s.p)
		if s.p == gpio.Off {
			continue
		}
		select {
		case <-time.After(3 * time.Second):
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}
