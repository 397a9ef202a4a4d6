package voicemail

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/deskphone/deskphone/firmware/media/g711"
)

// Messages are stored as canonical WAV: 44-byte header, 8 kHz, mono, signed 16-bit PCM.
const (
	sampleRate  = 8000
	bytesPerSec = sampleRate * 2
	headerLen   = 44
)

// wavHeader returns the header of a canonical WAV file holding dataLen bytes of samples.
func wavHeader(dataLen uint32) []byte {
	h := make([]byte, headerLen)
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], 36+dataLen)
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1) // PCM
	binary.LittleEndian.PutUint16(h[22:], 1) // mono
	binary.LittleEndian.PutUint32(h[24:], sampleRate)
	binary.LittleEndian.PutUint32(h[28:], bytesPerSec)
	binary.LittleEndian.PutUint16(h[32:], 2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], dataLen)
	return h
}

// wavWriter records 16-bit samples into a WAV file that stays playable if the process or the
// power dies: the header is rewritten and the file synced every syncEvery bytes of audio, and
// fixWAV repairs whatever a cut left behind on the next start.
type wavWriter struct {
	f         *os.File
	n         uint32 // data bytes written
	unsynced  uint32
	syncEvery uint32
	buf       []byte
}

func createWAV(path string) (*wavWriter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, fmt.Errorf("create message file: %w", err)
	}
	if _, err := f.Write(wavHeader(0)); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("write message file: %w", err)
	}
	return &wavWriter{f: f, syncEvery: bytesPerSec}, nil
}

// write appends samples.
func (w *wavWriter) write(pcm []int16) error {
	w.buf = w.buf[:0]
	for _, s := range pcm {
		w.buf = binary.LittleEndian.AppendUint16(w.buf, uint16(s))
	}
	if _, err := w.f.WriteAt(w.buf, int64(headerLen)+int64(w.n)); err != nil {
		return fmt.Errorf("write message file: %w", err)
	}
	w.n += uint32(len(w.buf))
	w.unsynced += uint32(len(w.buf))
	if w.unsynced >= w.syncEvery {
		w.unsynced = 0
		return w.sync()
	}
	return nil
}

// sync rewrites the header for what is on disk and flushes it.
func (w *wavWriter) sync() error {
	if _, err := w.f.WriteAt(wavHeader(w.n), 0); err != nil {
		return fmt.Errorf("write message file: %w", err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("sync message file: %w", err)
	}
	return nil
}

// seconds is the length recorded so far.
func (w *wavWriter) seconds() float64 { return float64(w.n) / bytesPerSec }

// truncate drops the last d bytes of audio (the silence that ended a message).
func (w *wavWriter) truncate(bytes uint32) {
	if bytes > w.n {
		bytes = w.n
	}
	w.n -= bytes
	w.n &^= 1
	_ = w.f.Truncate(int64(headerLen) + int64(w.n))
}

func (w *wavWriter) close() error {
	err := w.sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// fixWAV makes the header of a message file agree with its size (a recording cut by a crash or
// power loss keeps everything that reached the disk). It returns the audio length in bytes.
func fixWAV(path string) (uint32, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if st.Size() < headerLen {
		return 0, errors.New("shorter than a WAV header")
	}
	n := uint32(min(st.Size()-headerLen, 1<<31)) &^ 1
	h := make([]byte, headerLen)
	if _, err := io.ReadFull(f, h); err != nil {
		return 0, err
	}
	if string(h[0:4]) != "RIFF" || string(h[8:16]) != "WAVEfmt " || string(h[36:40]) != "data" {
		return 0, errors.New("not a message recorded by this phone")
	}
	if binary.LittleEndian.Uint32(h[40:]) == n {
		return n, nil
	}
	if err := f.Truncate(int64(headerLen) + int64(n)); err != nil {
		return 0, err
	}
	if _, err := f.WriteAt(wavHeader(n), 0); err != nil {
		return 0, err
	}
	return n, f.Sync()
}

// readWAV returns the samples of an 8 kHz mono 16-bit WAV file (a message or a greeting).
func readWAV(path string) ([]int16, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return decodeWAV(b)
}

// decodeWAV walks the RIFF chunks, so files written by sox (with extra chunks) read too.
func decodeWAV(b []byte) ([]int16, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, errors.New("not a WAV file")
	}
	var fmtOK, alaw bool
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:]))
		body := b[p+8:]
		if size < 0 || size > len(body) {
			size = len(body) // a cut recording: take what is there
		}
		body = body[:size]
		switch id {
		case "fmt ":
			if len(body) < 16 {
				return nil, errors.New("WAV format chunk too short")
			}
			format, ch := binary.LittleEndian.Uint16(body[0:]), binary.LittleEndian.Uint16(body[2:])
			rate, bits := binary.LittleEndian.Uint32(body[4:]), binary.LittleEndian.Uint16(body[14:])
			alaw = format == 6 && bits == 8
			if !(format == 1 && bits == 16 || alaw) || ch != 1 || rate != sampleRate {
				return nil, fmt.Errorf("WAV must be 8 kHz mono 16-bit PCM or A-law (got format %d, %d channels, %d Hz, %d bits): convert with sox in.wav -r 8000 -c 1 -b 16 out.wav", format, ch, rate, bits)
			}
			fmtOK = true
		case "data":
			if !fmtOK {
				return nil, errors.New("WAV data before its format chunk")
			}
			if alaw {
				return g711.DecodeALawFrame(make([]int16, 0, size), body), nil
			}
			pcm := make([]int16, size/2)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(body[2*i:]))
			}
			return pcm, nil
		}
		p += 8 + size + size&1
	}
	return nil, errors.New("WAV file without audio")
}
