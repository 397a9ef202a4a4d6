package audio

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// maxInputBytes bounds the microphone file loaded into memory (about 70 minutes at 8 kHz).
const maxInputBytes = 64 << 20

// wavHeaderSize is the size of the canonical 44-byte PCM WAV header this package writes.
const wavHeaderSize = 44

// ErrWAVFormat is returned for a WAV file this backend cannot use.
var ErrWAVFormat = errors.New("unsupported WAV file")

// FileDevice plays a WAV file as the microphone (looping) and records everything played to a
// WAV file. ReadFrame is paced by a 20 ms ticker, like a sound card. The output header is
// rewritten after every frame, so the file stays a valid WAV even if the process is killed.
type FileDevice struct {
	mu      sync.Mutex
	input   []int16 // nil = silence
	pos     int
	out     *os.File
	written int64 // bytes of sample data in out
	hdr     [8]byte
	buf     []byte // WriteFrame's encoding buffer
	pace    pacer
}

// OpenFile opens the file backend. input is a WAV file (8 kHz, mono, 16-bit PCM) played as the
// microphone in a loop, or "" for silence; output is created (or truncated) and receives
// everything the speaker plays, or "" to discard it.
func OpenFile(input, output string) (*FileDevice, error) {
	d := &FileDevice{}
	if input != "" {
		pcm, err := readWAV(input)
		if err != nil {
			return nil, err
		}
		d.input = pcm
	}
	if output != "" {
		f, err := os.Create(output)
		if err != nil {
			return nil, fmt.Errorf("create speaker recording: %w", err)
		}
		if _, err := f.Write(wavHeader(0)); err != nil {
			f.Close()
			return nil, fmt.Errorf("write speaker recording %s: %w", output, err)
		}
		d.out = f
	}
	return d, nil
}

// ReadFrame waits for the next 20 ms tick and fills frame with the next samples of the input file.
func (d *FileDevice) ReadFrame(ctx context.Context, frame []int16) error {
	if err := d.pace.wait(ctx); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.input) == 0 {
		clear(frame)
		return nil
	}
	for i := range frame {
		frame[i] = d.input[d.pos]
		d.pos++
		if d.pos == len(d.input) {
			d.pos = 0
		}
	}
	return nil
}

// WriteFrame appends frame to the output file and updates the WAV sizes.
func (d *FileDevice) WriteFrame(frame []int16) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.out == nil {
		return nil
	}
	if cap(d.buf) < 2*len(frame) {
		d.buf = make([]byte, 2*len(frame))
	}
	buf := d.buf[:2*len(frame)]
	for i, s := range frame {
		binary.LittleEndian.PutUint16(buf[2*i:], uint16(s))
	}
	if _, err := d.out.WriteAt(buf, wavHeaderSize+d.written); err != nil {
		return fmt.Errorf("write speaker recording: %w", err)
	}
	d.written += int64(len(buf))
	return d.writeSizes()
}

// writeSizes patches the RIFF and data chunk sizes (RIFF header offsets 4 and 40).
func (d *FileDevice) writeSizes() error {
	binary.LittleEndian.PutUint32(d.hdr[0:], uint32(36+d.written))
	binary.LittleEndian.PutUint32(d.hdr[4:], uint32(d.written))
	if _, err := d.out.WriteAt(d.hdr[0:4], 4); err != nil {
		return fmt.Errorf("update speaker recording header: %w", err)
	}
	if _, err := d.out.WriteAt(d.hdr[4:8], 40); err != nil {
		return fmt.Errorf("update speaker recording header: %w", err)
	}
	return nil
}

// Close stops the clock and closes the output file.
func (d *FileDevice) Close() error {
	d.pace.stop()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.out == nil {
		return nil
	}
	err := d.out.Close()
	d.out = nil
	if err != nil {
		return fmt.Errorf("close speaker recording: %w", err)
	}
	return nil
}

// wavHeader returns a canonical PCM WAV header for dataBytes of 8 kHz mono 16-bit samples.
func wavHeader(dataBytes uint32) []byte {
	h := make([]byte, wavHeaderSize)
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], 36+dataBytes)
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1) // PCM
	binary.LittleEndian.PutUint16(h[22:], 1) // mono
	binary.LittleEndian.PutUint32(h[24:], SampleRate)
	binary.LittleEndian.PutUint32(h[28:], SampleRate*2)
	binary.LittleEndian.PutUint16(h[32:], 2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], dataBytes)
	return h
}

// readWAV loads an 8 kHz mono 16-bit PCM WAV file.
func readWAV(path string) ([]int16, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open microphone file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxInputBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read microphone file %s: %w", path, err)
	}
	if len(b) > maxInputBytes {
		return nil, fmt.Errorf("microphone file %s is larger than %d MiB: %w", path, maxInputBytes>>20, ErrWAVFormat)
	}
	pcm, err := ParseWAV(b)
	if err != nil {
		return nil, fmt.Errorf("microphone file %s: %w", path, err)
	}
	return pcm, nil
}

// ParseWAV decodes a RIFF/WAVE file holding 8 kHz mono 16-bit PCM. A data chunk whose size is 0
// or runs past the end (a recording cut short) is read to the end of the file.
func ParseWAV(b []byte) ([]int16, error) {
	hint := "convert it with: sox in.wav -r 8000 -c 1 -b 16 -e signed-integer out.wav"
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, fmt.Errorf("not a RIFF/WAVE file: %w", ErrWAVFormat)
	}
	var gotFmt bool
	for p := 12; p+8 <= len(b); {
		id := string(b[p : p+4])
		size := int64(binary.LittleEndian.Uint32(b[p+4:]))
		body := int64(p + 8)
		end := body + size
		switch id {
		case "fmt ":
			if size < 16 || end > int64(len(b)) {
				return nil, fmt.Errorf("short fmt chunk: %w", ErrWAVFormat)
			}
			f := b[body:end]
			format := binary.LittleEndian.Uint16(f[0:])
			channels := binary.LittleEndian.Uint16(f[2:])
			rate := binary.LittleEndian.Uint32(f[4:])
			bits := binary.LittleEndian.Uint16(f[14:])
			if format == 0xFFFE && size >= 26 { // WAVE_FORMAT_EXTENSIBLE: subformat GUID starts at 24
				format = binary.LittleEndian.Uint16(f[24:])
			}
			if format != 1 || channels != 1 || rate != SampleRate || bits != 16 {
				return nil, fmt.Errorf("format %d, %d channels, %d Hz, %d bits; need PCM, mono, 8000 Hz, 16 bits (%s): %w",
					format, channels, rate, bits, hint, ErrWAVFormat)
			}
			gotFmt = true
		case "data":
			if !gotFmt {
				return nil, fmt.Errorf("data before fmt chunk: %w", ErrWAVFormat)
			}
			if size == 0 || end > int64(len(b)) {
				end = int64(len(b))
			}
			data := b[body:end]
			pcm := make([]int16, len(data)/2)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
			}
			return pcm, nil
		}
		if end > int64(len(b)) {
			break
		}
		p = int(end + end&1) // chunks are word aligned
	}
	return nil, fmt.Errorf("no data chunk: %w", ErrWAVFormat)
}
