package webrtcbridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/deskphone/deskphone/firmware/rtpport"
	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// Config is what the bridge needs to know about the Pi's side.
type Config struct {
	// IP is the LAN address browsers reach (the only ICE host candidate) and phones send RTP to.
	// It must be a concrete address, not 0.0.0.0.
	IP netip.Addr
	// ICEPort is the UDP port carrying ICE, DTLS and SRTP of every browser call (one port for all,
	// demultiplexed by ICE username); 0 picks a free one.
	ICEPort int
	// RTPPortMin and RTPPortMax bound the plain RTP ports: each call takes an even port for RTP
	// and keeps the next one for RTCP. Defaults: 16384–32767.
	RTPPortMin, RTPPortMax int
	// SetupTimeout ends a call whose offer got no answer in time (default 3 minutes, the INVITE
	// transaction's limit), in case the proxy never calls Close.
	SetupTimeout time.Duration
	// MediaTimeout ends an answered call when one side sent no packet (RTP or RTCP) for this
	// long, unless on hold (default 2 minutes).
	MediaTimeout time.Duration
	// OnMediaDead, if set, hears of each answered call whose media the bridge released: leg is
	// "browser" or "phone", silent how long it sent nothing (0 when cause says the browser's
	// connection failed: ICE or DTLS failure, consent lost). The proxy hangs the call up. Called
	// from Run; it must not block long.
	OnMediaDead func(callID, leg string, silent time.Duration, cause string)
	Log         *slog.Logger
}

// Bridge anchors the media of calls between browsers and plain RTP phones. Its methods are safe
// for concurrent use; Run owns its lifetime.
type Bridge struct {
	cfg  Config
	log  *slog.Logger
	api  *webrtc.API
	conn net.PacketConn
	mux  ice.UDPMux

	ports *rtpport.Range

	mu     sync.Mutex
	calls  map[string]*call
	closed bool

	failed chan deadCall // calls whose browser connection failed, for Run
}

// deadCall is a call whose media died, as Run reports it.
type deadCall struct {
	id, leg, cause string
	silent         time.Duration
}

// New binds the ICE port and returns a bridge; Run must be called to own it.
func New(cfg Config) (*Bridge, error) {
	if !cfg.IP.IsValid() || cfg.IP.IsUnspecified() {
		return nil, fmt.Errorf("webrtc bridge: a concrete LAN address is needed, not %q", cfg.IP)
	}
	if cfg.RTPPortMin == 0 && cfg.RTPPortMax == 0 {
		cfg.RTPPortMin, cfg.RTPPortMax = 16384, 32767
	}
	ports, err := rtpport.NewRange(cfg.RTPPortMin, cfg.RTPPortMax)
	if err != nil || cfg.RTPPortMin < 1024 || cfg.RTPPortMax > 65534 {
		return nil, fmt.Errorf("webrtc bridge: RTP port range %d–%d is not usable", cfg.RTPPortMin, cfg.RTPPortMax)
	}
	if cfg.SetupTimeout <= 0 {
		cfg.SetupTimeout = 3 * time.Minute
	}
	if cfg.MediaTimeout <= 0 {
		cfg.MediaTimeout = 2 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(cfg.IP, uint16(cfg.ICEPort))))
	if err != nil {
		return nil, fmt.Errorf("webrtc bridge: ICE port: %w", err)
	}
	logs := logging.NewDefaultLoggerFactory()
	logs.DefaultLogLevel = logging.LogLevelWarn
	logs.Writer = slogWriter{cfg.Log}
	mux := webrtc.NewICEUDPMux(logs.NewLogger("ice"), conn)

	var se webrtc.SettingEngine
	se.LoggerFactory = logs
	se.SetLite(true)
	se.SetICEUDPMux(mux)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(cfg.IP.IsLoopback())
	se.SetIPFilter(func(ip net.IP) bool {
		a, ok := netip.AddrFromSlice(ip)
		return ok && a.Unmap() == cfg.IP
	})

	api := webrtc.NewAPI(webrtc.WithMediaEngine(newMediaEngine()), webrtc.WithSettingEngine(se))
	return &Bridge{
		cfg:    cfg,
		log:    cfg.Log,
		api:    api,
		conn:   conn,
		mux:    mux,
		calls:  make(map[string]*call),
		ports:  ports,
		failed: make(chan deadCall, 16),
	}, nil
}

// dtmfDefaultPT is the telephone-event payload type the bridge offers to a browser when the
// phone's offer has none of its own.
const dtmfDefaultPT = 101

func newMediaEngine() *webrtc.MediaEngine {
	m := &webrtc.MediaEngine{}
	for _, c := range []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, PayloadType: ptPCMU},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000}, PayloadType: ptPCMA},
		dtmfCodec(dtmfDefaultPT),
	} {
		// Registering constant, valid codecs cannot fail.
		_ = m.RegisterCodec(c, webrtc.RTPCodecTypeAudio)
	}
	return m
}

func dtmfCodec(pt int) webrtc.RTPCodecParameters {
	return webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 8000, SDPFmtpLine: "0-16"},
		PayloadType:        webrtc.PayloadType(pt),
	}
}

func audioCodec(pt uint8) webrtc.RTPCodecParameters {
	mime := webrtc.MimeTypePCMU
	if pt == ptPCMA {
		mime = webrtc.MimeTypePCMA
	}
	return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 8000}, PayloadType: webrtc.PayloadType(pt)}
}

// ICEAddr is the address browsers send ICE, DTLS and SRTP to.
func (b *Bridge) ICEAddr() netip.AddrPort {
	return b.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Calls is the number of calls being bridged.
func (b *Bridge) Calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.calls)
}

// Run ends calls left unanswered past the setup timeout, and answered calls whose media died
// (the browser's connection failed, or a side silent past the media timeout, reported through
// OnMediaDead); when ctx ends, every call and the ICE port. Offer and Answer fail once Run has
// returned.
func (b *Bridge) Run(ctx context.Context) error {
	tick := time.NewTicker(min(b.cfg.SetupTimeout/6, b.cfg.MediaTimeout/4))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			b.shutdown()
			return nil
		case d := <-b.failed:
			b.release([]deadCall{d})
		case now := <-tick.C:
			b.mu.Lock()
			var stale []*call
			var dead []deadCall
			for id, c := range b.calls {
				if c.unanswered(now, b.cfg.SetupTimeout) {
					stale = append(stale, c)
					delete(b.calls, id)
				} else if leg, quiet := c.silence(now, b.cfg.MediaTimeout); leg != "" {
					dead = append(dead, deadCall{id: id, leg: leg, silent: quiet})
				}
			}
			b.mu.Unlock()
			for _, c := range stale {
				b.log.Warn("webrtc bridge: call never answered, media released", "call_id", c.id)
				c.close()
			}
			b.release(dead)
		}
	}
}

// release closes calls whose media died and tells OnMediaDead.
func (b *Bridge) release(dead []deadCall) {
	for _, d := range dead {
		b.mu.Lock()
		c, ok := b.calls[d.id]
		delete(b.calls, d.id)
		b.mu.Unlock()
		if !ok {
			continue
		}
		b.log.Warn("webrtc bridge: media died, released", "call_id", d.id, "leg", d.leg, "silent", d.silent.Round(time.Second).String(), "cause", d.cause)
		c.close()
		if b.cfg.OnMediaDead != nil {
			b.cfg.OnMediaDead(d.id, d.leg, d.silent, d.cause)
		}
	}
}

func (b *Bridge) shutdown() {
	b.mu.Lock()
	b.closed = true
	calls := b.calls
	b.calls = map[string]*call{}
	b.mu.Unlock()
	for _, c := range calls {
		c.close()
	}
	b.mux.Close()
	b.conn.Close()
}

var errClosed = errors.New("webrtc bridge: stopped")

// Offer takes an SDP offer from one side of the call (the browser's if fromBrowser) and returns
// the offer to forward to the other side. The first offer of a Call-ID creates the call; later
// ones (re-INVITEs) renegotiate it and must carry its tags.
func (b *Bridge) Offer(ctx context.Context, callID, fromTag, toTag string, fromBrowser bool, body []byte) ([]byte, error) {
	if callID == "" {
		return nil, errors.New("webrtc bridge: offer without Call-ID")
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, errClosed
	}
	c, ok := b.calls[callID]
	if ok && toTag == "" && !c.isAnswered() {
		// A new initial INVITE of the same call (sent again with credentials after a
		// challenge, say) replaces the offer the proxy never saw answered.
		delete(b.calls, callID)
		defer c.close()
		ok = false
	}
	b.mu.Unlock()
	if ok {
		if !c.matches(fromTag, toTag) {
			return nil, fmt.Errorf("webrtc bridge: call %s has no dialog with tags %q/%q", callID, fromTag, toTag)
		}
		return c.reoffer(ctx, fromBrowser, body)
	}
	// A first offer with both tags is a late offer (in a 2xx to an INVITE without SDP).
	c, err := b.newCall(callID, fromTag, toTag)
	if err != nil {
		return nil, err
	}
	out, err := c.offer(ctx, fromBrowser, body)
	if err != nil {
		c.close()
		return nil, err
	}
	b.mu.Lock()
	_, taken := b.calls[callID]
	if !b.closed && !taken {
		b.calls[callID] = c
	}
	b.mu.Unlock()
	if taken {
		c.close()
		return nil, fmt.Errorf("webrtc bridge: call %s offered twice at once", callID)
	}
	if b.closed {
		c.close()
		return nil, errClosed
	}
	b.log.Info("webrtc bridge: call offered", "call_id", callID, "from_browser", fromBrowser, "rtp", c.local)
	return out, nil
}

// Answer takes the SDP answer coming back from the side an offer was forwarded to and returns
// the answer to forward to the offerer.
func (b *Bridge) Answer(ctx context.Context, callID, fromTag, toTag string, fromBrowser bool, body []byte) ([]byte, error) {
	b.mu.Lock()
	c, ok := b.calls[callID]
	b.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("webrtc bridge: answer for unknown call %s", callID)
	}
	if !c.matches(fromTag, toTag) {
		return nil, fmt.Errorf("webrtc bridge: call %s has no dialog with tags %q/%q", callID, fromTag, toTag)
	}
	return c.answer(ctx, fromTag, toTag, fromBrowser, body)
}

// Close ends the call's media and frees its ports. Unknown Call-IDs are ignored, so the proxy
// may call it for every BYE, CANCEL and failed INVITE.
func (b *Bridge) Close(callID string) {
	b.mu.Lock()
	c, ok := b.calls[callID]
	delete(b.calls, callID)
	b.mu.Unlock()
	if ok {
		c.close()
		b.log.Info("webrtc bridge: call closed", "call_id", callID)
	}
}

// newCall creates the call's peer connection and binds its RTP port pair.
func (b *Bridge) newCall(callID, fromTag, toTag string) (*call, error) {
	rtpConn, rtcpConn, err := b.bindPair()
	if err != nil {
		return nil, err
	}
	pc, err := b.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		rtpConn.Close()
		rtcpConn.Close()
		return nil, fmt.Errorf("webrtc bridge: %w", err)
	}
	c := &call{
		id:      callID,
		tags:    [2]string{fromTag, toTag},
		log:     b.log.With("call_id", callID),
		pc:      pc,
		track:   &relayTrack{},
		rtp:     rtpConn,
		rtcp:    rtcpConn,
		local:   rtpConn.LocalAddr().(*net.UDPAddr).AddrPort(),
		session: sessionID(time.Now()),
		created: time.Now(),
	}
	c.dead = func(cause string) {
		select {
		case b.failed <- deadCall{id: callID, leg: "browser", cause: cause}:
		default: // Run has a backlog: the silence rule ends the call later
		}
	}
	c.start()
	return c, nil
}

// bindPair binds an even RTP port and the RTCP port after it, going round the range.
func (b *Bridge) bindPair() (*net.UDPConn, *net.UDPConn, error) {
	rtp, rtcp, err := b.ports.UDP("udp", b.cfg.IP)
	if err != nil {
		return nil, nil, fmt.Errorf("webrtc bridge: %w", err)
	}
	return rtp, rtcp, nil
}

// slogWriter turns pion's log lines into slog records.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Warn("webrtc bridge: pion", "msg", string(trimNewline(p)))
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
