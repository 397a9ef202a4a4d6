package webrtcbridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// side is who made the offer being negotiated.
type side uint8

const (
	nobody side = iota
	browser
	phone
)

// call is one bridged call: a peer connection toward the browser, an RTP port pair toward the
// phone, and the goroutines relaying between them, which close ends and waits for.
type call struct {
	id      string
	log     *slog.Logger
	pc      *webrtc.PeerConnection
	track   *relayTrack
	rtp     *net.UDPConn
	rtcp    *net.UDPConn // bound so RTCP toward us is not refused; never read
	local   netip.AddrPort
	session uint64
	created time.Time

	relay     atomic.Pointer[relayState]
	latched   atomic.Pointer[netip.AddrPort] // where the phone's RTP really comes from
	latchedAt atomic.Int64                   // its last packet (Unix ns)

	// What the bridge watches to end calls whose media died (Unix ns; 0: never).
	answeredAt   atomic.Int64
	heardBrowser atomic.Int64 // its last RTP or RTCP
	heardPhone   atomic.Int64
	held         atomic.Bool        // the last offer was not sendrecv: a held side may send nothing
	dead         func(cause string) // tells the bridge the browser's connection failed

	life   sync.Mutex
	closed bool
	wg     sync.WaitGroup

	mu            sync.Mutex // serialises negotiation; guards what follows
	tags          [2]string  // the caller's tag, then the callee's once answered
	version       uint64
	answered      bool
	offerer       side
	phoneOffer    audioDesc // the phone's pending offer
	codec         uint8     // the G.711 law in use
	browserDTMF   int       // telephone-event payload types on each side, -1 if none
	phoneDTMF     int
	browserAnswer []byte // prepared answer to a browser's re-offer
	lastAnswer    []byte // the answer returned last, repeated to later forks
	lastFrom      side
}

// relayState is how packets are relayed; replaced as a whole on each negotiation.
type relayState struct {
	dst         netip.AddrPort // the phone's RTP address from its SDP
	browserDTMF int
	phoneDTMF   int
}

func (c *call) start() {
	c.wg.Add(2)
	go c.fromPhone()
	go c.phoneRTCP()
	c.pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if !c.own() {
			return
		}
		defer c.wg.Done()
		c.fromBrowser(tr)
	})
	c.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		c.log.Debug("webrtc bridge: browser connection", "state", s.String())
		if s == webrtc.PeerConnectionStateFailed && c.dead != nil && c.answeredAt.Load() != 0 {
			c.dead("the browser's connection failed (ICE or DTLS; consent lost)")
		}
	})
}

// own registers one more goroutine of the call unless it is closing.
func (c *call) own() bool {
	c.life.Lock()
	defer c.life.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	return true
}

func (c *call) close() {
	c.life.Lock()
	c.closed = true
	c.life.Unlock()
	if err := c.pc.Close(); err != nil {
		c.log.Debug("webrtc bridge: closing the peer connection", "err", err)
	}
	c.rtp.Close()
	c.rtcp.Close()
	c.wg.Wait()
}

func (c *call) unanswered(now time.Time, limit time.Duration) bool {
	return !c.isAnswered() && now.Sub(c.created) > limit
}

func (c *call) isAnswered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answered
}

// matches says whether the tags of a message belong to the call's dialog (either order).
func (c *call) matches(fromTag, toTag string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	other := toTag
	switch c.tags[0] {
	case fromTag:
	case toTag:
		other = fromTag
	default:
		return false
	}
	// A later fork's answer (another callee tag) is let through to get the first answer again.
	return c.tags[1] == "" || other == "" || other == c.tags[1] || c.offerer == nobody
}

// offer handles the call's first offer.
func (c *call) offer(ctx context.Context, fromBrowser bool, body []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, err := parseSide(body, fromBrowser)
	if err != nil {
		return nil, err
	}
	c.held.Store(d.dir != "sendrecv")
	if fromBrowser {
		sender, err := c.pc.AddTrack(c.track)
		if err != nil {
			return nil, fmt.Errorf("webrtc bridge: %w", err)
		}
		c.drainRTCP(sender)
		if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(body)}); err != nil {
			return nil, fmt.Errorf("webrtc bridge: the browser's offer: %w", err)
		}
		c.browserDTMF, c.phoneDTMF = d.dtmfPT, d.dtmfPT
		c.offerer = browser
		return plainDesc(c.local, c.session, c.version, d.codecs, d.dtmfPT, d.dir), nil
	}
	tr, err := c.pc.AddTransceiverFromTrack(c.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
	if err != nil {
		return nil, fmt.Errorf("webrtc bridge: %w", err)
	}
	c.drainRTCP(tr.Sender())
	prefs := make([]webrtc.RTPCodecParameters, 0, len(d.codecs)+1)
	for _, pt := range d.codecs {
		prefs = append(prefs, audioCodec(pt))
	}
	if d.dtmfPT >= 0 {
		prefs = append(prefs, dtmfCodec(d.dtmfPT))
	}
	if err := tr.SetCodecPreferences(prefs); err != nil {
		return nil, fmt.Errorf("webrtc bridge: %w", err)
	}
	c.browserDTMF, c.phoneDTMF = d.dtmfPT, d.dtmfPT
	c.codec = d.codecs[0]
	return c.offerToBrowser(ctx, d)
}

// offerToBrowser turns the phone's offer d into one for the browser, with the phone's direction.
func (c *call) offerToBrowser(ctx context.Context, d audioDesc) ([]byte, error) {
	c.phoneOffer = d
	c.setRelay(d.addr)
	var sdpText string
	if pending := c.pc.PendingLocalDescription(); pending != nil && c.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
		// The last offer to the browser went unanswered and pion cannot roll it back: offer
		// it again (same ICE and DTLS parameters), with the new direction.
		sdpText = pending.SDP
	} else {
		var err error
		if sdpText, err = c.localOffer(ctx); err != nil {
			return nil, err
		}
	}
	c.offerer = phone
	return withDirection(sdpText, d.dir), nil
}

// phoneDTMFFor is the telephone-event type to offer or answer the phone when the browser's
// description d has (or lacks) one.
func (c *call) phoneDTMFFor(d audioDesc) int {
	if d.dtmfPT < 0 {
		return -1
	}
	return c.phoneDTMF
}

// reoffer handles an offer inside the dialog (hold, resume, a new address).
func (c *call) reoffer(ctx context.Context, fromBrowser bool, body []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	from := phone
	if fromBrowser {
		from = browser
	}
	switch c.offerer {
	case nobody:
	case from:
		// A side sends a new offer only once its last one's transaction has ended, so that
		// one failed (a 488 or 491 the bridge never sees): this one takes its place.
		c.offerer = nobody
	default:
		return nil, errors.New("webrtc bridge: offers from both sides crossed (glare); the later one fails with 491")
	}
	d, err := parseSide(body, fromBrowser)
	if err != nil {
		return nil, err
	}
	c.held.Store(d.dir != "sendrecv")
	c.version++
	if fromBrowser {
		if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(body)}); err != nil {
			return nil, fmt.Errorf("webrtc bridge: the browser's offer: %w", err)
		}
		answer, err := c.localAnswer(ctx)
		if err != nil {
			return nil, err
		}
		// pion answers a renegotiation with its transceiver's sendrecv; the browser must
		// hear the answer to its own direction (RFC 3264 §6.1), or it refuses a hold.
		c.browserAnswer = withDirection(answer, answerDirection(d.dir))
		c.browserDTMF = d.dtmfPT
		c.offerer = browser
		return plainDesc(c.local, c.session, c.version, []uint8{c.codec}, c.phoneDTMFFor(d), d.dir), nil
	}
	if d.dtmfPT >= 0 {
		c.phoneDTMF = d.dtmfPT
	}
	return c.offerToBrowser(ctx, d)
}

// answer handles the answer to the pending offer.
func (c *call) answer(ctx context.Context, fromTag, toTag string, fromBrowser bool, body []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	from := phone
	if fromBrowser {
		from = browser
	}
	if c.offerer == nobody && c.lastAnswer != nil && c.lastFrom == from {
		return c.lastAnswer, nil // a retransmitted 2xx, or another fork's
	}
	if c.offerer == nobody || c.offerer == from {
		return nil, fmt.Errorf("webrtc bridge: call %s: answer without an offer from the other side", c.id)
	}
	d, err := parseSide(body, fromBrowser)
	if err != nil {
		return nil, err
	}
	var out []byte
	if fromBrowser {
		if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
			return nil, fmt.Errorf("webrtc bridge: the browser's answer: %w", err)
		}
		c.codec = d.codecs[0]
		c.browserDTMF = d.dtmfPT
		out = plainDesc(c.local, c.session, c.version, []uint8{c.codec}, c.phoneDTMFFor(d), answerDirection(c.phoneOffer.dir))
	} else {
		c.codec = d.codecs[0]
		c.phoneDTMF = d.dtmfPT
		c.setRelay(d.addr)
		if c.answered {
			out = c.browserAnswer
		} else {
			tr := c.audioTransceiver()
			if tr == nil {
				return nil, errors.New("webrtc bridge: the browser's offer has no audio stream")
			}
			prefs := []webrtc.RTPCodecParameters{audioCodec(c.codec)}
			if c.browserDTMF >= 0 && c.phoneDTMF >= 0 {
				prefs = append(prefs, dtmfCodec(c.browserDTMF))
			}
			if err := tr.SetCodecPreferences(prefs); err != nil {
				return nil, fmt.Errorf("webrtc bridge: %w", err)
			}
			answer, err := c.localAnswer(ctx)
			if err != nil {
				return nil, err
			}
			out = []byte(answer)
		}
	}
	c.setRelay(netip.AddrPort{})
	if !c.answered && c.tags[1] == "" {
		c.tags[1] = toTag
		if toTag == c.tags[0] {
			c.tags[1] = fromTag
		}
	}
	if !c.answered {
		c.answeredAt.Store(time.Now().UnixNano())
	}
	c.answered = true
	c.offerer = nobody
	c.lastAnswer, c.lastFrom = out, from
	c.log.Info("webrtc bridge: call negotiated", "codec", codecName(c.codec), "browser_dtmf_pt", c.browserDTMF, "phone_dtmf_pt", c.phoneDTMF)
	return out, nil
}

func parseSide(body []byte, fromBrowser bool) (audioDesc, error) {
	d, err := parseAudio(body)
	if err != nil {
		return d, fmt.Errorf("webrtc bridge: %w", err)
	}
	if fromBrowser && !d.secure {
		return d, errors.New("webrtc bridge: the browser's SDP is not WebRTC (no UDP/TLS/RTP/SAVPF with a fingerprint)")
	}
	if !fromBrowser && d.secure {
		return d, errors.New("webrtc bridge: the phone's SDP is WebRTC; calls between two browsers need no bridge")
	}
	return d, nil
}

func (c *call) audioTransceiver() *webrtc.RTPTransceiver {
	for _, tr := range c.pc.GetTransceivers() {
		if tr.Kind() == webrtc.RTPCodecTypeAudio {
			return tr
		}
	}
	return nil
}

// localOffer makes, sets and returns an offer toward the browser with every candidate in it
// (SIP does not trickle).
func (c *call) localOffer(ctx context.Context) (string, error) {
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("webrtc bridge: offer: %w", err)
	}
	return c.setLocal(ctx, offer)
}

func (c *call) localAnswer(ctx context.Context) (string, error) {
	answer, err := c.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("webrtc bridge: answer: %w", err)
	}
	return c.setLocal(ctx, answer)
}

func (c *call) setLocal(ctx context.Context, desc webrtc.SessionDescription) (string, error) {
	gathered := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(desc); err != nil {
		return "", fmt.Errorf("webrtc bridge: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", fmt.Errorf("webrtc bridge: gathering candidates: %w", ctx.Err())
	}
	return c.pc.LocalDescription().SDP, nil
}

// setRelay publishes the relay state; an invalid dst keeps the current one (held calls carry an
// unspecified address, which stops sending).
func (c *call) setRelay(dst netip.AddrPort) {
	st := relayState{browserDTMF: c.browserDTMF, phoneDTMF: c.phoneDTMF}
	if old := c.relay.Load(); old != nil {
		st.dst = old.dst
	}
	if dst.IsValid() {
		if st.dst != dst {
			c.latched.Store(nil)
		}
		st.dst = dst
	}
	c.relay.Store(&st)
}

// withDirection sets the audio direction of a browser-bound SDP to the phone's.
func withDirection(sdpText, dir string) []byte {
	lines := strings.SplitAfter(sdpText, "\n")
	for i, l := range lines {
		switch strings.TrimRight(l, "\r\n") {
		case "a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive":
			lines[i] = "a=" + dir + "\r\n"
		}
	}
	return []byte(strings.Join(lines, ""))
}

func (c *call) drainRTCP(s *webrtc.RTPSender) {
	if s == nil {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		buf := make([]byte, 1500)
		for {
			if _, _, err := s.Read(buf); err != nil {
				return
			}
			c.heardBrowser.Store(time.Now().UnixNano()) // the browser's receiver reports
		}
	}()
}

// relearnAfter is how long the phone's locked RTP source must be silent before another socket
// of its host may replace it.
const relearnAfter = 2 * time.Second

// fromPhone relays the phone's RTP to the browser, keeping payload types except the
// telephone-event one, which is mapped to the browser's, and keeping the browser's stream one
// continuous sequence (see renumber).
func (c *call) fromPhone() {
	defer c.wg.Done()
	var seq renumber
	buf := make([]byte, 1500)
	for {
		n, src, err := c.rtp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		st := c.relay.Load()
		if st == nil || !st.dst.IsValid() || src.Addr().Unmap() != st.dst.Addr() {
			continue // not from the phone the SDP names
		}
		now := time.Now().UnixNano()
		if l := c.latched.Load(); l == nil || *l != src {
			// The first packet locks the phone's source; the address its SDP names takes over
			// at once, another socket of its host only once the locked one has been silent (a
			// phone that reopened its socket).
			if l != nil && src != st.dst && time.Duration(now-c.latchedAt.Load()) < relearnAfter {
				continue
			}
			c.latched.Store(&src)
		}
		c.latchedAt.Store(now)
		c.heardPhone.Store(now)
		var p rtp.Packet
		if p.Unmarshal(buf[:n]) != nil {
			continue
		}
		if int(p.PayloadType) == st.phoneDTMF && st.browserDTMF >= 0 {
			p.PayloadType = uint8(st.browserDTMF)
		} else if p.PayloadType != ptPCMU && p.PayloadType != ptPCMA {
			continue
		}
		seq.apply(&p.Header)
		if err := c.track.write(&p.Header, p.Payload); err != nil && errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// phoneRTCP notes the phone's RTCP (it goes no further: the browser has its own from the
// bridge's peer connection), which a phone keeps sending on hold.
func (c *call) phoneRTCP() {
	defer c.wg.Done()
	buf := make([]byte, 1500)
	for {
		_, src, err := c.rtcp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if st := c.relay.Load(); st != nil && st.dst.IsValid() && src.Addr().Unmap() == st.dst.Addr() {
			c.heardPhone.Store(time.Now().UnixNano())
		}
	}
}

// silence says which side of an answered call sent nothing for longer than limit, and for how
// long: "browser" or "phone", "" when both are heard (or the call is on hold or not answered).
func (c *call) silence(now time.Time, limit time.Duration) (string, time.Duration) {
	answered := c.answeredAt.Load()
	if answered == 0 || c.held.Load() {
		return "", 0
	}
	for _, side := range []struct {
		name  string
		heard *atomic.Int64
	}{{"browser", &c.heardBrowser}, {"phone", &c.heardPhone}} {
		since := time.Unix(0, max(answered, side.heard.Load()))
		if quiet := now.Sub(since); quiet > limit {
			return side.name, quiet
		}
	}
	return "", 0
}

// fromBrowser relays the browser's RTP, already decrypted, to the phone.
func (c *call) fromBrowser(tr *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		c.heardBrowser.Store(time.Now().UnixNano())
		st := c.relay.Load()
		if st == nil {
			continue
		}
		dst := st.dst
		if l := c.latched.Load(); l != nil {
			dst = *l
		}
		if !dst.IsValid() || dst.Addr().IsUnspecified() || dst.Port() == 0 {
			continue
		}
		if int(p.PayloadType) == st.browserDTMF && st.phoneDTMF >= 0 {
			p.PayloadType = uint8(st.phoneDTMF)
		} else if p.PayloadType != ptPCMU && p.PayloadType != ptPCMA {
			continue
		}
		n, err := p.MarshalTo(buf)
		if err != nil {
			continue
		}
		c.rtp.WriteToUDPAddrPort(buf[:n], dst)
	}
}

// renumber keeps the sequence numbers and timestamps sent to the browser continuous when the
// phone's stream restarts (a new SSRC after a re-INVITE, a jump in its numbering): SRTP's replay
// protection would otherwise drop every packet numbered behind the last one it saw (RFC 3711
// §3.3.2), and the browser would go silent. Within one stream, numbers keep their gaps, so the
// browser still sees loss and jitter as they are.
type renumber struct {
	started  bool
	ssrc     uint32
	lastIn   uint16
	seqShift uint16
	tsShift  uint32
	lastSeq  uint16 // last sequence number and timestamp sent
	lastTS   uint32
}

// maxJump is how far a stream's sequence number may move before it counts as restarted.
const maxJump = 500

func (r *renumber) apply(h *rtp.Header) {
	d := int16(h.SequenceNumber - r.lastIn)
	switch {
	case !r.started:
		r.started = true
	case h.SSRC != r.ssrc || d > maxJump || d < -maxJump:
		r.seqShift = r.lastSeq + 1 - h.SequenceNumber
		r.tsShift = r.lastTS + 160 - h.Timestamp
		h.Marker = true
	case d <= 0:
		h.SequenceNumber += r.seqShift // late or repeated: pass it, behind the last
		h.Timestamp += r.tsShift
		return
	}
	r.ssrc, r.lastIn = h.SSRC, h.SequenceNumber
	h.SequenceNumber += r.seqShift
	h.Timestamp += r.tsShift
	r.lastSeq, r.lastTS = h.SequenceNumber, h.Timestamp
}
