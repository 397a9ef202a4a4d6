//go:build linux && cgo

package audio

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestMalgoNullDevice runs the real miniaudio backend on ALSA's "null" device, which every
// alsa-lib has: the stream opens at 48 kHz, callbacks arrive and feed ReadFrame, and it closes.
func TestMalgoNullDevice(t *testing.T) {
	devs, err := List()
	if err != nil {
		t.Skipf("no ALSA on this machine: %v", err)
	}
	found := false
	for _, d := range devs {
		found = found || d.ID == "null"
	}
	if !found {
		t.Skip("alsa-lib has no null device here")
	}
	d, err := OpenALSA(ALSAConfig{Playback: "null", Capture: "null", SpeakerVolume: 80, MicGain: 80}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	frame := make([]int16, FrameLength)
	for i := 0; i < 10; i++ {
		if err := d.ReadFrame(ctx, frame); err != nil {
			t.Fatal(err)
		}
		if err := d.WriteFrame(frame); err != nil {
			t.Fatal(err)
		}
	}
	st := d.Stats()
	if st.Callbacks == 0 || st.DeviceRate != 48000 || !strings.Contains(st.Playback, "null") && !strings.Contains(st.Playback, "Discard") {
		t.Errorf("stats %+v: want callbacks from the null device at 48 kHz", st)
	}
	done := make(chan error, 1)
	go func() { done <- d.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs")
	}
}
