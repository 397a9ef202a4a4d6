//go:build linux && cgo

package audio

// #include <stdlib.h>
import "C"

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"unsafe"

	"github.com/gen2brain/malgo"
)

// OpenALSA returns the handset's sound card (and the ringer's, if separate) on miniaudio's ALSA
// backend at once; the card is opened in the background, at cfg.DeviceRate (48 kHz by default)
// with 20 ms periods — shorter periods stall miniaudio's callback on the Pi 3 — so that loading
// libasound and opening the card (about a second at a Pi's boot) delay neither the phone's
// registration nor the web pages. Until it is open the microphone gives silence, as when the
// card is unplugged. libasound is loaded at run time, so the binary builds without it.
func OpenALSA(cfg ALSAConfig, log *slog.Logger) (*ALSADevice, error) {
	b := &malgoBackend{log: log}
	d, err := openALSA(cfg, log, b, defaultALSATiming)
	if err != nil {
		return nil, err
	}
	d.onClose = b.free
	return d, nil
}

// List returns the sound devices miniaudio finds through ALSA, for `deskphone audio list`.
func List() ([]DeviceInfo, error) {
	b := &malgoBackend{log: slog.New(slog.DiscardHandler)}
	defer b.free()
	return b.list()
}

// malgoBackend is alsaBackend on a miniaudio context, started on first use.
type malgoBackend struct {
	log   *slog.Logger
	mu    sync.Mutex // miniaudio context calls
	ctx   *malgo.AllocatedContext
	freed bool
}

// context is the miniaudio context, started the first time; b.mu is held.
func (b *malgoBackend) context() (*malgo.AllocatedContext, error) {
	if b.ctx != nil {
		return b.ctx, nil
	}
	if b.freed {
		return nil, ErrClosed
	}
	ctx, err := malgo.InitContext([]malgo.Backend{malgo.BackendAlsa}, malgo.ContextConfig{}, func(msg string) {
		b.log.Debug("miniaudio", "msg", strings.TrimSpace(msg))
	})
	if err != nil {
		return nil, fmt.Errorf("start ALSA (is libasound.so.2 installed?): %w", err)
	}
	b.ctx = ctx
	return ctx, nil
}

func (b *malgoBackend) free() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.freed = true
	if b.ctx != nil {
		_ = b.ctx.Uninit()
		b.ctx.Free()
		b.ctx = nil
	}
}

func (b *malgoBackend) list() ([]DeviceInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	mctx, err := b.context()
	if err != nil {
		return nil, err
	}
	usb := usbCards(procAsoundCards)
	var out []DeviceInfo
	for _, kind := range []malgo.DeviceType{malgo.Playback, malgo.Capture} {
		infos, err := mctx.Devices(kind)
		if err != nil {
			return nil, fmt.Errorf("list sound devices: %w", err)
		}
		for _, in := range infos {
			id := alsaID(in.ID)
			di := DeviceInfo{Name: in.Name(), ID: id, Playback: kind == malgo.Playback, Capture: kind == malgo.Capture,
				USB: usb[cardOf(id)] && cardOf(id) >= 0}
			merged := false
			for i := range out {
				if out[i].ID == di.ID && out[i].Name == di.Name {
					out[i].Playback = out[i].Playback || di.Playback
					out[i].Capture = out[i].Capture || di.Capture
					merged = true
				}
			}
			if !merged {
				out = append(out, di)
			}
		}
	}
	return out, nil
}

// resolve turns a configured name into a miniaudio device ID; nil means the system default.
func (b *malgoBackend) resolve(kind malgo.DeviceType, name string) (*malgo.DeviceID, string, error) {
	b.mu.Lock()
	mctx, err := b.context()
	var infos []malgo.DeviceInfo
	if err == nil {
		infos, err = mctx.Devices(kind)
	}
	b.mu.Unlock()
	if err != nil {
		return nil, "", fmt.Errorf("list sound devices: %w", err)
	}
	cands := make([]DeviceInfo, len(infos))
	for i, in := range infos {
		cands[i] = DeviceInfo{Name: in.Name(), ID: alsaID(in.ID)}
	}
	id, shown, err := chooseDevice(cands, name, usbCards(procAsoundCards))
	if err != nil || id == "" {
		return nil, shown, err
	}
	var mid malgo.DeviceID
	copy(mid[:len(mid)-1], id)
	return &mid, shown, nil
}

func (b *malgoBackend) open(req alsaRequest) (alsaStream, error) {
	kind := malgo.Playback
	if req.withCapture {
		kind = malgo.Duplex
	}
	cfg := malgo.DefaultDeviceConfig(kind)
	cfg.SampleRate = uint32(req.rate)
	cfg.PeriodSizeInMilliseconds = uint32(req.period.Milliseconds())
	cfg.Periods = 3
	cfg.Playback.Format, cfg.Playback.Channels = malgo.FormatS16, 1
	cfg.Capture.Format, cfg.Capture.Channels = malgo.FormatS16, 1

	s := &malgoStream{}
	pid, pname, err := b.resolve(malgo.Playback, req.playback)
	if err != nil {
		return nil, err
	}
	s.playback = pname
	if pid != nil {
		p := C.CBytes(pid[:])
		s.ids = append(s.ids, p)
		cfg.Playback.DeviceID = p
	}
	if req.withCapture {
		cid, cname, err := b.resolve(malgo.Capture, req.capture)
		if err != nil {
			s.freeIDs()
			return nil, err
		}
		s.capture = cname
		if cid != nil {
			p := C.CBytes(cid[:])
			s.ids = append(s.ids, p)
			cfg.Capture.DeviceID = p
		}
	}
	data := req.data
	callbacks := malgo.DeviceCallbacks{
		Data: func(out, in []byte, frames uint32) {
			data(samples16(out), samples16(in))
		},
		Stop: req.stopped,
	}
	b.mu.Lock()
	mctx, err := b.context()
	var dev *malgo.Device
	if err == nil {
		dev, err = malgo.InitDevice(mctx.Context, cfg, callbacks)
	}
	b.mu.Unlock()
	if err != nil {
		s.freeIDs()
		return nil, fmt.Errorf("open %s: %w", s.describe(), err)
	}
	if err := dev.Start(); err != nil {
		dev.Uninit()
		s.freeIDs()
		return nil, fmt.Errorf("start %s: %w", s.describe(), err)
	}
	if got := int(dev.SampleRate()); got != req.rate {
		b.log.Info("sound device runs at another rate; miniaudio converts", "asked", req.rate, "got", got)
	}
	s.dev = dev
	return s, nil
}

type malgoStream struct {
	dev               *malgo.Device
	ids               []unsafe.Pointer // C copies of the device IDs, freed after Uninit
	playback, capture string
}

func (s *malgoStream) names() (string, string) { return s.playback, s.capture }

func (s *malgoStream) describe() string {
	if s.capture == "" {
		return "playback device " + s.playback
	}
	return "playback device " + s.playback + " with capture device " + s.capture
}

func (s *malgoStream) close() {
	s.dev.Uninit()
	s.freeIDs()
}

func (s *malgoStream) freeIDs() {
	for _, p := range s.ids {
		C.free(p)
	}
	s.ids = nil
}

// samples16 views a buffer of S16 samples as []int16; nil stays nil.
func samples16(b []byte) []int16 {
	if len(b) < 2 {
		return nil
	}
	return unsafe.Slice((*int16)(unsafe.Pointer(&b[0])), len(b)/2)
}

// alsaID is the ALSA name inside a miniaudio device ID (a NUL-terminated string).
func alsaID(id malgo.DeviceID) string {
	n := 0
	for n < len(id) && id[n] != 0 {
		n++
	}
	return string(id[:n])
}
