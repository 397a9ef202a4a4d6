package webrtcbridge

import (
	"errors"
	"strings"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// relayTrack is the bridge's sending track toward the browser. Unlike pion's
// TrackLocalStaticRTP it keeps each packet's payload type, so RFC 4733 telephone-events travel
// next to the audio on the same SSRC; only the SSRC is set to the one pion negotiated.
type relayTrack struct {
	mu   sync.Mutex
	w    webrtc.TrackLocalWriter
	ssrc uint32
}

var errNoAudioCodec = errors.New("the browser accepted no PCMU or PCMA")

func (t *relayTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, webrtc.MimeTypePCMU) || strings.EqualFold(c.MimeType, webrtc.MimeTypePCMA) {
			t.mu.Lock()
			t.w, t.ssrc = ctx.WriteStream(), uint32(ctx.SSRC())
			t.mu.Unlock()
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, errNoAudioCodec
}

func (t *relayTrack) Unbind(webrtc.TrackLocalContext) error {
	t.mu.Lock()
	t.w = nil
	t.mu.Unlock()
	return nil
}

func (t *relayTrack) ID() string                { return "audio" }
func (t *relayTrack) RID() string               { return "" }
func (t *relayTrack) StreamID() string          { return "deskphone" }
func (t *relayTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }

// write sends one packet toward the browser; packets before the track is bound are dropped.
func (t *relayTrack) write(h *rtp.Header, payload []byte) error {
	t.mu.Lock()
	w, ssrc := t.w, t.ssrc
	t.mu.Unlock()
	if w == nil {
		return nil
	}
	h.SSRC = ssrc
	_, err := w.WriteRTP(h, payload)
	return err
}
