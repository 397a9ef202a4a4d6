// Command mediacall measures one deskphone media endpoint during a G.711 call on loopback: the
// CPU time it uses per second of call, its resident memory, and the receive-path latency (RTP
// arrival to the frame handed to the audio device). It starts a second copy of itself as the far
// end, exchanges SDP with it over a pipe, and prints one JSON line. test/bench/media.sh runs it
// next to baresip.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/deskphone/deskphone/firmware/media"
	"github.com/deskphone/deskphone/hw/audio"
)

// Result is the JSON line printed by the measuring side.
type Result struct {
	CallSeconds     float64 `json:"call_seconds"`
	CPUMsPerSecond  float64 `json:"cpu_ms_per_s"`
	RSSKiB          int     `json:"rss_kib"`
	PeakRSSKiB      int     `json:"peak_rss_kib"`
	PlayoutDelayMs  float64 `json:"playout_delay_ms"`
	PlayoutDelayMax float64 `json:"playout_delay_max_ms"`
	media.Stats
}

func main() {
	role := flag.String("role", "measure", "measure (answerer, measured) or peer (offerer, started by measure)")
	input := flag.String("input", "", "8 kHz mono 16-bit WAV played as the microphone (default: silence)")
	duration := flag.Duration("duration", 20*time.Second, "measured call time")
	warmup := flag.Duration("warmup", 3*time.Second, "call time before measuring")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the measured side to this file")
	flag.Parse()
	if *cpuProfile != "" && *role != "peer" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var err error
	if *role == "peer" {
		err = peer(*input, log)
	} else {
		err = measure(*input, *duration, *warmup, log)
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "mediacall:", err)
		os.Exit(1)
	}
}

func openDevice(input string) (media.AudioDevice, func() error, error) {
	if input == "" {
		d := audio.NewNull()
		return d, d.Close, nil
	}
	d, err := audio.OpenFile(input, "")
	if err != nil {
		return nil, nil, err
	}
	return d, d.Close, nil
}

// peer offers, reads the answer from stdin and runs until stdin closes.
func peer(input string, log *slog.Logger) error {
	s, err := media.NewSession(media.DefaultConfig(), log)
	if err != nil {
		return err
	}
	defer s.Close()
	offer, err := s.Offer()
	if err != nil {
		return err
	}
	if err := json.NewEncoder(os.Stdout).Encode(string(offer)); err != nil {
		return err
	}
	in := bufio.NewReader(os.Stdin)
	var answer string
	if err := json.NewDecoder(in).Decode(&answer); err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if err := s.AcceptAnswer([]byte(answer)); err != nil {
		return err
	}
	stop, err := startAudio(s, input, log)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, in) // until the measuring side closes the pipe
	return stop()
}

// startAudio runs the audio loop of session s on the input's device until stop is called.
func startAudio(s *media.Session, input string, log *slog.Logger) (stop func() error, err error) {
	dev, closeDev, err := openDevice(input)
	if err != nil {
		return nil, err
	}
	a := media.NewAudio(dev, log)
	a.Connect(s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	return func() error {
		cancel()
		err := <-done
		closeDev()
		return err
	}, nil
}

func measure(input string, duration, warmup time.Duration, log *slog.Logger) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	child := exec.Command(self, "-role", "peer", "-input", input)
	child.Stderr = os.Stderr
	toChild, err := child.StdinPipe()
	if err != nil {
		return err
	}
	fromChild, err := child.StdoutPipe()
	if err != nil {
		return err
	}
	if err := child.Start(); err != nil {
		return err
	}
	defer func() {
		toChild.Close()
		child.Wait()
	}()
	var offer string
	if err := json.NewDecoder(fromChild).Decode(&offer); err != nil {
		return fmt.Errorf("read offer: %w", err)
	}
	s, err := media.NewSession(media.DefaultConfig(), log)
	if err != nil {
		return err
	}
	defer s.Close()
	answer, err := s.AcceptOffer([]byte(offer))
	if err != nil {
		return err
	}
	if err := json.NewEncoder(toChild).Encode(string(answer)); err != nil {
		return err
	}
	stop, err := startAudio(s, input, log)
	if err != nil {
		return err
	}

	time.Sleep(warmup)
	cpu0, t0 := cpuTime(), time.Now()
	time.Sleep(duration)
	cpu1, t1 := cpuTime(), time.Now()
	rss, hwm := memory()
	st := s.Stats()
	if err := stop(); err != nil {
		return err
	}
	if st.PacketsReceived == 0 {
		return errors.New("no RTP received from the peer")
	}
	secs := t1.Sub(t0).Seconds()
	return json.NewEncoder(os.Stdout).Encode(Result{
		CallSeconds: secs, CPUMsPerSecond: float64(cpu1-cpu0) / float64(time.Millisecond) / secs,
		RSSKiB: rss, PeakRSSKiB: hwm, PlayoutDelayMs: st.PlayoutDelayMs, PlayoutDelayMax: st.PlayoutDelayMaxMs,
		Stats: st,
	})
}

// cpuTime is user+system time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// memory returns VmRSS and VmHWM in KiB from /proc/self/status.
func memory() (rss, hwm int) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			hwm = v
		}
	}
	return rss, hwm
}
