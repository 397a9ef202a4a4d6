// Package media is the phone's media plane: SDP offer/answer, G.711 audio over RTP with RTCP
// reports, an adaptive jitter buffer with packet-loss concealment, RFC 4733 DTMF, and the audio
// loop between the handset and the call.
//
// Implemented: RFC 3550 (RTP/RTCP, sender and receiver reports, interarrival jitter A.8, loss
// A.3), RFC 3551 (static payload types 0 PCMU and 8 PCMA), RFC 3264 (offer/answer, hold by
// direction attributes §8.4), RFC 4566 (SDP, via pion/sdp), RFC 3605 (a=rtcp), RFC 4733 (telephone
// events), RFC 6337 §5 (hold and resume offers). Packet-loss concealment follows the idea of
// ITU-T G.711 Appendix I (pitch-period repetition with attenuation).
package media

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Audio format of the media path: 8 kHz mono signed 16-bit, 20 ms frames.
const (
	SampleRate  = 8000
	FrameLength = 160 // samples per 20 ms frame
	framePeriod = 20 * time.Millisecond
)

// AudioDevice is the handset as the media path sees it: 8 kHz mono signed 16-bit, 20 ms frames
// (160 samples).
type AudioDevice interface {
	ReadFrame(ctx context.Context, frame []int16) error // blocks until the next 20 ms of microphone audio; paces the audio loop
	WriteFrame(frame []int16) error                     // 20 ms for the speaker; must not block long
}

// Config is what a Session needs to know about the local side. DefaultConfig is the one place
// its defaults are written; [phone] in deskphone.toml starts from it, and Check is the one place
// its settings are validated (by NewSession and by `deskphone check`).
type Config struct {
	LocalIP          string        // address bound for RTP/RTCP and written into SDP (must be concrete, not 0.0.0.0)
	PortMin, PortMax int           // RTP port range; RTP takes an even port, RTCP the next one
	Codecs           []string      // "PCMA", "PCMU" in preference order
	DTMFPayloadType  int           // telephone-event payload type we offer (default 96)
	JitterMin        time.Duration // jitter buffer floor (default 20 ms)
	JitterMax        time.Duration // jitter buffer ceiling (default 200 ms)
	PTime            time.Duration // packetisation time; only 20 ms is supported
	// Latch allows RTP from an address other than the one in the remote SDP, but only if it is
	// among the first 5 packets and nothing came from the advertised address yet (a remote
	// behind NAT). Off by default: RTP is accepted only from the negotiated address.
	Latch bool
	// CNAME for RTCP SDES (RFC 3550 §6.5.1); default "deskphone@<LocalIP>".
	CNAME string
	// SRTP is the media encryption policy: SRTPOff (default), SRTPOptional or SRTPMandatory.
	// The keys go in the SDP (RFC 4568): set it only for calls signalled over TLS.
	SRTP string
	// RTPTimeout is how long the far end of an established call may send nothing (no RTP, no
	// RTCP) before Silence says the call is dead, as Asterisk's rtptimeout (default 60 s; 0:
	// never). It does not run while the call is on hold in either direction.
	RTPTimeout time.Duration
}

// DefaultConfig returns the defaults: loopback address, ports 16384–16482, PCMA then PCMU,
// telephone-event on 96, a 20–200 ms jitter buffer, 20 ms packets, a 60 s RTP timeout.
//
// Payload type 96 is the Alcatel IP Touch's own telephone-event type, so both ends agree whoever
// offers; answers always use the type the offerer chose. The 200 ms ceiling is what the
// measurements in docs/media.md justify: the adaptive target only reaches it when the network's
// delay varies that much, and a lower ceiling conceals a large share of such calls.
func DefaultConfig() Config {
	return Config{
		LocalIP:         "127.0.0.1",
		PortMin:         16384,
		PortMax:         16482,
		Codecs:          []string{"PCMA", "PCMU"},
		DTMFPayloadType: 96,
		JitterMin:       20 * time.Millisecond,
		JitterMax:       200 * time.Millisecond,
		PTime:           20 * time.Millisecond,
		SRTP:            SRTPOff,
		RTPTimeout:      60 * time.Second,
	}
}

// Problem is a setting of Config that a session cannot work with. Setting names it as the [phone]
// section of deskphone.toml spells it ("jitter_max", "codecs.1"), so a config checker can point at
// the line that sets it.
type Problem struct {
	Setting string
	Msg     string
}

// Error is the problem as NewSession reports it.
func (p Problem) Error() string { return "media: " + p.Setting + ": " + p.Msg }

// Check lists every setting of c that NewSession refuses, except the per-call LocalIP and CNAME.
// Zero values are checked as they are: NewSession fills them from DefaultConfig first.
func (c Config) Check() []Problem {
	var ps []Problem
	bad := func(setting, format string, a ...any) {
		ps = append(ps, Problem{Setting: setting, Msg: fmt.Sprintf(format, a...)})
	}
	for i, name := range c.Codecs {
		if _, ok := codecByName(name); !ok {
			bad(fmt.Sprintf("codecs.%d", i), "unsupported codec %q (PCMA and PCMU are supported)", name)
		}
	}
	if c.DTMFPayloadType < 96 || c.DTMFPayloadType > 127 {
		bad("dtmf_payload_type", "must be a dynamic payload type, 96-127 (got %d)", c.DTMFPayloadType)
	}
	if c.PortMin < 1024 || c.PortMax > 65534 || c.PortMax-c.PortMin < 4 {
		bad("rtp_port_min", "RTP ports must lie within 1024-65534 with room for at least two calls")
	}
	if c.RTPTimeout < 0 || (c.RTPTimeout > 0 && c.RTPTimeout < time.Second) {
		bad("rtp_timeout", "must be at least 1s, or 0 to never hang up a silent call (got %s)", c.RTPTimeout)
	}
	if c.JitterMin < 0 || c.JitterMax < c.JitterMin || c.JitterMax > time.Second {
		bad("jitter_max", "jitter_min must be ≥ 0 and ≤ jitter_max, jitter_max ≤ 1s")
	}
	switch c.SRTP {
	case "", SRTPOff, SRTPOptional, SRTPMandatory:
	default:
		bad("srtp", "must be \"off\", \"optional\" or \"mandatory\" (got %q)", c.SRTP)
	}
	if c.PTime != framePeriod {
		bad("ptime", "%v is not supported (only 20ms)", c.PTime)
	}
	return ps
}

// Errors a caller may want to tell apart.
var (
	// ErrNoCommonCodec: the remote offered no codec we support; answer the INVITE with 488.
	ErrNoCommonCodec = errors.New("no common audio codec (RFC 3264 §6: answer 488 Not Acceptable Here)")
	// ErrBadSDP: the session description is malformed or absurd.
	ErrBadSDP = errors.New("invalid session description")
	// ErrNoTelephoneEvent: the remote did not negotiate RFC 4733 events; use SIP INFO instead.
	ErrNoTelephoneEvent = errors.New("remote did not negotiate telephone-event (RFC 4733)")
	// ErrNotNegotiated: the call has no agreed media yet.
	ErrNotNegotiated = errors.New("media not negotiated yet")
	// ErrNoPendingOffer: AcceptAnswer without an outstanding Offer or Hold.
	ErrNoPendingOffer = errors.New("no offer outstanding")
	// ErrClosed: the session was closed.
	ErrClosed = errors.New("media session closed")
)
