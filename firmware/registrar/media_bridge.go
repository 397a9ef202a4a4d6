package registrar

import (
	"context"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// MediaBridge anchors the media of calls between a WebRTC leg (a browser on the SIP WebSocket)
// and a plain RTP leg: for each SDP body the proxy forwards from one kind of leg to the other, it
// returns the body to forward instead. deskphone's webrtcbridge.Bridge satisfies it.
type MediaBridge interface {
	// Offer takes an SDP offer coming from one side (fromBrowser says which) and returns the
	// offer to forward to the other side. toTag is "" for an initial INVITE.
	Offer(ctx context.Context, callID, fromTag, toTag string, fromBrowser bool, sdp []byte) ([]byte, error)
	// Answer takes the SDP answer coming back and returns the answer to forward.
	Answer(ctx context.Context, callID, fromTag, toTag string, fromBrowser bool, sdp []byte) ([]byte, error)
	// Close ends the call's media and frees its ports; unknown Call-IDs are ignored.
	Close(callID string)
}

// WithMediaBridge lets browsers (SIP over WebSocket, WebRTC media) call plain phones and be
// called by them. Without it such calls are forwarded as they are, and fail for lack of a
// common media transport; calls between two browsers or two plain phones never use it.
func WithMediaBridge(b MediaBridge) Option { return func(r *Registrar) { r.bridge = b } }

// crossesBridge reports whether a message arriving over transport in and leaving over out goes
// between a WebRTC and a plain leg: exactly one of the two is a WebSocket.
func (r *Registrar) crossesBridge(in, out string) bool {
	return r.bridge != nil && isWS(in) != isWS(out)
}

// sdpMessage is a request or a response.
type sdpMessage interface {
	CallID() *sip.CallIDHeader
	From() *sip.FromHeader
	To() *sip.ToHeader
	Body() []byte
	SetBody([]byte)
	ContentType() *sip.ContentTypeHeader
}

// sdpBody is msg's body if it is an SDP one (no Content-Type counts as SDP).
func sdpBody(msg sdpMessage) ([]byte, bool) {
	body := msg.Body()
	if len(body) == 0 {
		return nil, false
	}
	if ct := msg.ContentType(); ct != nil && !strings.Contains(strings.ToLower(ct.Value()), "application/sdp") {
		return nil, false
	}
	return body, true
}

// bridgeSDP replaces msg's SDP body (if it has one) by what the bridge makes of it, as an offer
// or an answer; fromBrowser says which side it comes from.
func (r *Registrar) bridgeSDP(msg sdpMessage, offer, fromBrowser bool) error {
	body, ok := sdpBody(msg)
	if !ok {
		return nil
	}
	callID := msg.CallID().Value()
	var fromTag, toTag string
	if f := msg.From(); f != nil {
		fromTag, _ = f.Params.Get("tag")
	}
	if t := msg.To(); t != nil {
		toTag, _ = t.Params.Get("tag")
	}
	step, out, err := "answer", []byte(nil), error(nil)
	if offer {
		step = "offer"
		out, err = r.bridge.Offer(r.context(), callID, fromTag, toTag, fromBrowser, body)
	} else {
		out, err = r.bridge.Answer(r.context(), callID, fromTag, toTag, fromBrowser, body)
	}
	if err != nil {
		r.log.Warn("browser call: the media bridge refused the SDP", "step", step, "from_browser", fromBrowser, "call_id", callID, "err", err)
		return fmt.Errorf("media bridge %s: %w", step, err)
	}
	msg.SetBody(out)
	return nil
}

// bridgeResponse passes the SDP of a response to a bridged INVITE through the bridge: an answer
// to the INVITE's offer, or the offer of a late-offer INVITE (one without SDP).
func (r *Registrar) bridgeResponse(inviteHadSDP bool, res *sip.Response, from string) error {
	if res.StatusCode < 101 || res.StatusCode >= 300 {
		return nil
	}
	return r.bridgeSDP(res, !inviteHadSDP, isWS(from))
}

// closeMedia ends a bridged call's media (BYE, a failed or cancelled INVITE).
func (r *Registrar) closeMedia(callID string) {
	if r.bridge != nil {
		r.bridge.Close(callID)
	}
	r.closeSRTP(callID)
}

// bridgedOffer is the SDP offer of a forked INVITE for its bridged branches. From a browser, one
// bridged offer serves every plain phone (the bridge gives the first answer's phone the media);
// to browsers, only the first browser gets a bridged offer: a call has one bridge.
type bridgedOffer struct {
	r       *Registrar
	req     *sip.Request
	body    []byte // the bridged offer from a browser, once made
	used    bool   // some branch goes through the bridge
	browser bool   // a browser branch has its offer
	fatal   bool   // the caller's offer cannot be bridged: refuse the call
}

func newBridgedOffer(r *Registrar, req *sip.Request) *bridgedOffer {
	return &bridgedOffer{r: r, req: req}
}

// apply gives fwd, a branch toward a browser (toBrowser) or a plain phone, its bridged offer.
func (o *bridgedOffer) apply(fwd *sip.Request, toBrowser bool) error {
	if len(o.req.Body()) == 0 {
		o.used = true // a late offer: the branch's 2xx brings it
		return nil
	}
	if toBrowser {
		if o.browser {
			o.r.log.Info("browser call: only one browser of the extension rings (one media bridge per call)", "call_id", o.req.CallID().Value())
			return fmt.Errorf("one browser per call")
		}
		if err := o.r.bridgeSDP(fwd, true, false); err != nil {
			return err
		}
		o.browser, o.used = true, true
		return nil
	}
	if o.body == nil {
		if err := o.r.bridgeSDP(fwd, true, true); err != nil {
			o.fatal = true
			return err
		}
		o.body = fwd.Body()
		o.used = true
		return nil
	}
	fwd.SetBody(o.body)
	return nil
}

// dialogMedia passes the SDP of a bridged call's in-dialog requests, and of their answers,
// through the bridge that carries the call's media; nil for calls no bridge carries.
type dialogMedia interface {
	// request rewrites the forwarded request's SDP; an error refuses it (488).
	request(fwd *sip.Request) error
	// response rewrites the SDP of an answer to a forwarded INVITE or UPDATE.
	response(fwd *sip.Request, up *sip.Response)
}

// dialogMedia is the bridge of the call req belongs to, forwarded as fwd: the WebRTC bridge
// when exactly one side is a browser, else the SRTP bridge if it carries the call.
func (r *Registrar) dialogMedia(req, fwd *sip.Request) dialogMedia {
	switch {
	case r.crossesBridge(req.Transport(), fwd.Transport()):
		return webrtcMedia{r}
	case r.srtpBridged(req.CallID().Value()):
		return srtpMedia{r}
	}
	return nil
}

// webrtcMedia is the WebRTC bridge's side of in-dialog requests: offers in re-INVITEs and
// UPDATEs, and the answer in the ACK of a late offer.
type webrtcMedia struct{ r *Registrar }

func (m webrtcMedia) request(fwd *sip.Request) error {
	switch fwd.Method {
	case sip.ACK: // exactly one side is a browser: the request comes from it if fwd goes elsewhere
		return m.r.bridgeSDP(fwd, false, !isWS(fwd.Transport()))
	case sip.INVITE, sip.UPDATE:
		return m.r.bridgeSDP(fwd, true, !isWS(fwd.Transport()))
	}
	return nil
}

func (m webrtcMedia) response(fwd *sip.Request, up *sip.Response) {
	_ = m.r.bridgeResponse(len(fwd.Body()) > 0, up, fwd.Transport())
}

// srtpMedia is the SRTP bridge's side of in-dialog requests: offers in re-INVITEs and UPDATEs.
type srtpMedia struct{ r *Registrar }

func (m srtpMedia) request(fwd *sip.Request) error {
	if fwd.Method == sip.INVITE || fwd.Method == sip.UPDATE {
		return m.r.srtpSDP(fwd, true, false)
	}
	return nil
}

func (m srtpMedia) response(_ *sip.Request, up *sip.Response) {
	if up.StatusCode < 300 && m.r.srtpBridged(up.CallID().Value()) { // the call may have ended meanwhile
		_ = m.r.srtpSDP(up, false, true)
	}
}
