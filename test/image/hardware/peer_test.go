package hardware

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"github.com/deskphone/deskphone/test/baresip"
)

// startPeer starts a baresip softphone at addr on the host side of the test LAN, driven over
// ctrl_tcp, and waits until it is registered to the phone's registrar as extension 5003. Its
// microphone is a sine at toneHz; what it hears is dumped to a WAV file (sndfile module).
func startPeer(t *testing.T, addr, registrar string, toneHz int) *baresip.Phone {
	t.Helper()
	p := baresip.Start(t, baresip.Config{ListenIP: addr, SIPPort: 5070, CtrlPort: 4444, RTPMin: 20000, RTPMax: 20010, ToneHz: toneHz,
		Account: fmt.Sprintf("<sip:5003@%s>;auth_user=peer;auth_pass=peer-test-password-2718;regint=600;answermode=manual;audio_codecs=PCMU,PCMA", registrar)})
	p.WaitLog(t, "200 OK", 20*time.Second) // registered
	return p
}

// peerHeard is what the peer received in the call (its decoded audio), mono, with its rate.
func peerHeard(t *testing.T, p *baresip.Phone) ([]float64, int) {
	t.Helper()
	x, rate, err := readWAV(p.Received(t))
	if err != nil {
		t.Fatal(err)
	}
	return x, rate
}

// readWAV reads the first channel of a 16-bit PCM WAV file.
func readWAV(path string) ([]float64, int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, fmt.Errorf("%s: not a WAV file", path)
	}
	var channels, bits, rate int
	for off := 12; off+8 <= len(b); {
		id, size := string(b[off:off+4]), int(binary.LittleEndian.Uint32(b[off+4:]))
		body := b[off+8 : min(len(b), off+8+size)]
		switch id {
		case "fmt ":
			channels = int(binary.LittleEndian.Uint16(body[2:]))
			rate = int(binary.LittleEndian.Uint32(body[4:]))
			bits = int(binary.LittleEndian.Uint16(body[14:]))
		case "data":
			if bits != 16 || channels == 0 {
				return nil, 0, fmt.Errorf("%s: %d-bit %d-channel audio, want 16-bit PCM", path, bits, channels)
			}
			step := 2 * channels
			x := make([]float64, 0, len(body)/step)
			for i := 0; i+1 < len(body); i += step {
				x = append(x, float64(int16(binary.LittleEndian.Uint16(body[i:])))/32768)
			}
			return x, rate, nil
		}
		off += 8 + size + size%2
	}
	return nil, 0, errors.New(path + ": no data chunk")
}

// dominant returns the strongest frequency (10 Hz steps, 100–3900 Hz) and the RMS of x.
func dominant(x []float64, rate int) (float64, float64) {
	var sum float64
	for _, v := range x {
		sum += v * v
	}
	rms := math.Sqrt(sum / float64(max(1, len(x))))
	best, bestP := 0.0, -1.0
	for f := 100.0; f < 3900; f += 10 {
		c := 2 * math.Cos(2*math.Pi*f/float64(rate))
		var s1, s2 float64
		for _, v := range x {
			s0 := v + c*s1 - s2
			s2, s1 = s1, s0
		}
		if pw := s1*s1 + s2*s2 - c*s1*s2; pw > bestP {
			best, bestP = f, pw
		}
	}
	return best, rms
}

// windows splits x into pieces of d and returns each piece's dominant frequency, or 0 when the
// piece is nearly silent.
func windows(x []float64, rate int, d time.Duration) []float64 {
	n := int(float64(rate) * d.Seconds())
	var out []float64
	for i := 0; i+n <= len(x); i += n {
		f, rms := dominant(x[i:i+n], rate)
		if rms < 0.01 {
			f = 0
		}
		out = append(out, f)
	}
	return out
}
