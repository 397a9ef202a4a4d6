package audiotest

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestScriptedCaptureAndRecordedPlayback(t *testing.T) {
	tick := make(chan time.Time, 2)
	d := &Device{Source: Sine(1000, 8000), Tick: tick}
	frame := make([]int16, 160)
	tick <- time.Time{}
	if err := d.ReadFrame(context.Background(), frame); err != nil {
		t.Fatal(err)
	}
	if frame[2] != 8000 { // 1 kHz at 8 kHz: sample 2 is the first peak
		t.Errorf("captured sample 2 = %d, want the sine's peak 8000", frame[2])
	}
	if err := d.WriteFrame(frame); err != nil {
		t.Fatal(err)
	}
	if got := d.Played(); len(got) != 160 || got[2] != 8000 {
		t.Errorf("played %d samples, want the 160 written", len(got))
	}
	if d.Captured() != 1 {
		t.Errorf("Captured() = %d, want 1", d.Captured())
	}
}

func TestReadFrameAfterCloseFails(t *testing.T) {
	d := &Device{}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.ReadFrame(context.Background(), make([]int16, 160)); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadFrame after Close = %v, want ErrClosed", err)
	}
}
