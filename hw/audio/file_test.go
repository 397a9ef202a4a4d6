package audio

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writeTestWAV(t *testing.T, path string, pcm []int16, rate uint32, channels uint16) {
	t.Helper()
	h := wavHeader(uint32(2 * len(pcm)))
	binary.LittleEndian.PutUint16(h[22:], channels)
	binary.LittleEndian.PutUint32(h[24:], rate)
	for _, s := range pcm {
		h = binary.LittleEndian.AppendUint16(h, uint16(s))
	}
	if err := os.WriteFile(path, h, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFileDeviceLoopsInputAndRecordsOutput(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "mic.wav"), filepath.Join(dir, "speaker.wav")
	pcm := make([]int16, 250) // not a multiple of 160: the loop must wrap mid-frame
	for i := range pcm {
		pcm[i] = int16(i)
	}
	writeTestWAV(t, in, pcm, 8000, 1)
	d, err := OpenFile(in, out)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	frame := make([]int16, FrameLength)
	ctx := context.Background()
	start := time.Now()
	for n := 0; n < 5; n++ {
		if err := d.ReadFrame(ctx, frame); err != nil {
			t.Fatal(err)
		}
		for i, s := range frame {
			if want := int16((n*FrameLength + i) % 250); s != want {
				t.Fatalf("frame %d sample %d = %d, want %d", n, i, s, want)
			}
		}
		if err := d.WriteFrame(frame); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el < 80*time.Millisecond {
		t.Errorf("5 frames took %v: reads are not paced to real time", el)
	}
	// Not closed, as if the process had been killed: the file must already be a complete WAV.
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint32(b[40:]); got != 5*FrameLength*2 {
		t.Fatalf("data size in header %d, want %d", got, 5*FrameLength*2)
	}
	if got := binary.LittleEndian.Uint32(b[4:]); int(got) != len(b)-8 {
		t.Fatalf("RIFF size %d, file %d", got, len(b))
	}
	rec, err := ParseWAV(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec) != 5*FrameLength || rec[FrameLength] != 160 || rec[2*FrameLength] != 70 {
		t.Fatalf("recording %d samples, rec[160]=%d rec[320]=%d", len(rec), rec[FrameLength], rec[2*FrameLength])
	}
}

func TestFileDeviceRejectsOtherFormats(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name     string
		rate     uint32
		channels uint16
	}{{"cd.wav", 44100, 2}, {"stereo.wav", 8000, 2}, {"wideband.wav", 16000, 1}} {
		p := filepath.Join(dir, c.name)
		writeTestWAV(t, p, make([]int16, 100), c.rate, c.channels)
		if _, err := OpenFile(p, ""); !errors.Is(err, ErrWAVFormat) {
			t.Errorf("%s: err = %v, want ErrWAVFormat", c.name, err)
		}
	}
	if _, err := OpenFile(filepath.Join(dir, "missing.wav"), ""); err == nil {
		t.Error("missing input file accepted")
	}
	if _, err := ParseWAV([]byte("RIFF\x00\x00\x00\x00WAVEdata\xff\xff\xff\xff")); !errors.Is(err, ErrWAVFormat) {
		t.Errorf("data before fmt: err = %v", err)
	}
}

func TestNullDevicePacesSilence(t *testing.T) {
	d := NewNull()
	defer d.Close()
	frame := []int16{1, 2, 3}
	ctx, cancel := context.WithCancel(context.Background())
	if err := d.ReadFrame(ctx, frame); err != nil || frame[0] != 0 {
		t.Fatalf("err %v frame %v", err, frame)
	}
	cancel()
	if err := d.ReadFrame(ctx, frame); !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v", err)
	}
}

func FuzzParseWAV(f *testing.F) {
	f.Add(wavHeader(4))
	f.Add([]byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\xff\xff\xff\xff\x01\x02"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pcm, err := ParseWAV(b)
		if err == nil && len(pcm) > len(b)/2 {
			t.Fatalf("%d samples from %d bytes", len(pcm), len(b))
		}
	})
}

func TestReadFrameAfterCloseFails(t *testing.T) {
	for name, d := range map[string]interface {
		ReadFrame(context.Context, []int16) error
		Close() error
	}{"null": NewNull(), "file": &FileDevice{}} {
		if err := d.Close(); err != nil {
			t.Fatalf("%s: Close: %v", name, err)
		}
		if err := d.ReadFrame(context.Background(), make([]int16, FrameLength)); !errors.Is(err, ErrClosed) {
			t.Errorf("%s: ReadFrame after Close = %v, want ErrClosed", name, err)
		}
	}
}
