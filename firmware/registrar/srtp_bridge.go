package registrar

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/firmware/accounts"
)

// SRTPBridge anchors the media of calls between an SRTP leg (a phone on SIP over TLS with SDES
// keys) and a plain RTP leg (the Alcatel, any UDP or TCP phone). deskphone's srtpbridge.Bridge
// satisfies it.
type SRTPBridge interface {
	// Start creates the call's two legs: which is SRTP, and the Pi's address each phone reaches.
	Start(callID string, callerSRTP, calleeSRTP bool, callerIP, calleeIP netip.Addr) error
	// Expect names the address a phone's signalling comes from (the caller's if fromCaller):
	// besides the address its SDP names, the only one its media is taken from.
	Expect(callID string, fromCaller bool, src netip.Addr)
	// Offer takes the SDP offer one phone sent (the caller's if fromCaller) and returns the
	// offer for the other.
	Offer(ctx context.Context, callID string, fromCaller bool, sdp []byte) ([]byte, error)
	// Answer takes the SDP answer one phone sent and returns the answer for the offerer.
	Answer(ctx context.Context, callID string, fromCaller bool, sdp []byte) ([]byte, error)
	// Close ends the call's media and frees its ports; unknown Call-IDs are ignored.
	Close(callID string)
}

// WithSRTPBridge lets a phone with SRTP (on TLS) and a phone with plain RTP call each other,
// the Pi decrypting on one side and encrypting on the other. Without it such calls are refused
// with 488 and a Warning saying why (the policy `[registrar] srtp_bridge = false`).
func WithSRTPBridge(b SRTPBridge) Option { return func(r *Registrar) { r.srtp = b } }

// Values of an account's SRTP policy (accounts.Account.SRTP).
const (
	srtpFollow    = ""          // SRTP on its leg when the caller offers it and the phone is on TLS
	srtpOff       = "off"       // never offered SRTP
	srtpOptional  = "optional"  // SRTP whenever its phone is on TLS
	srtpMandatory = "mandatory" // its calls must be encrypted on its leg
)

// srtpPlan is what the proxy does with one branch of a call: pass the SDP as it is, or bridge
// (which leg is SRTP), or refuse with a reason for the caller.
type srtpPlan struct {
	bridge                 bool
	callerSRTP, calleeSRTP bool
	refuse                 string // non-empty: 488 with this Warning
}

// planSRTP decides a branch's media protection from the offer (hasCrypto: RTP/SAVP or an
// a=crypto line), the transport of each leg and each account's policy. Keys only ever travel
// over TLS: a leg on UDP or TCP never gets an a=crypto from the Pi.
func planSRTP(hasCrypto bool, callerTP, calleeTP string, caller, callee accounts.Account, bridgeOn bool) srtpPlan {
	callerTLS, calleeTLS := strings.EqualFold(callerTP, "TLS"), strings.EqualFold(calleeTP, "TLS")
	if caller.SRTP == srtpMandatory && !callerTLS {
		return srtpPlan{refuse: fmt.Sprintf("extension %s must have encrypted media (srtp = mandatory), but its phone calls over %s, not TLS", caller.Extension, strings.ToUpper(callerTP))}
	}
	if caller.SRTP == srtpMandatory && !hasCrypto {
		return srtpPlan{refuse: fmt.Sprintf("extension %s must have encrypted media (srtp = mandatory), but its offer has no SRTP key (a=crypto)", caller.Extension)}
	}
	if callee.SRTP == srtpMandatory && !calleeTLS {
		return srtpPlan{refuse: fmt.Sprintf("extension %s must have encrypted media (srtp = mandatory), but its phone registered over %s, not TLS", callee.Extension, strings.ToUpper(calleeTP))}
	}
	if hasCrypto && !callerTLS {
		return srtpPlan{} // keys already sent in the clear: the phones' own business, passed as before
	}
	var calleeSRTP bool
	switch callee.SRTP {
	case srtpMandatory:
		calleeSRTP = true
	case srtpOptional:
		calleeSRTP = calleeTLS
	case srtpOff:
	default:
		calleeSRTP = calleeTLS && hasCrypto
	}
	callerSRTP := hasCrypto
	if callerSRTP == calleeSRTP {
		return srtpPlan{callerSRTP: callerSRTP, calleeSRTP: calleeSRTP}
	}
	if bridgeOn {
		return srtpPlan{bridge: true, callerSRTP: callerSRTP, calleeSRTP: calleeSRTP}
	}
	if callerSRTP {
		why := "its phone is not on TLS"
		if callee.SRTP == srtpOff {
			why = "its account has srtp = off"
		}
		return srtpPlan{refuse: fmt.Sprintf("the offer requires SRTP but extension %s takes plain RTP only (%s) and bridging SRTP to RTP is off (srtp_bridge = false)", callee.Extension, why)}
	}
	if callee.SRTP == srtpMandatory {
		return srtpPlan{refuse: fmt.Sprintf("extension %s must have encrypted media (srtp = mandatory), the caller offers plain RTP, and bridging RTP to SRTP is off (srtp_bridge = false)", callee.Extension)}
	}
	return srtpPlan{} // optional: plain end to end
}

// srtpOffer is the SRTP side of a forked INVITE: one plan per branch, one bridged call at most.
type srtpOffer struct {
	r              *Registrar
	req            *sip.Request
	caller, callee accounts.Account
	hasCrypto      bool
	body           []byte   // the bridged offer, once made
	plan           srtpPlan // the bridged branches' plan
	used           bool     // some branch goes through the bridge
	refused        string   // why the last branch was refused
}

func (r *Registrar) newSRTPOffer(req *sip.Request, caller, callee accounts.Account) *srtpOffer {
	o := &srtpOffer{r: r, req: req, caller: caller, callee: callee}
	o.hasCrypto = sdpHasCrypto(req.Body())
	return o
}

// check refuses, before any branch, a call whose caller breaks its own policy.
func (o *srtpOffer) check() string {
	if !o.req.IsInvite() || len(o.req.Body()) == 0 || isWS(o.req.Transport()) {
		return ""
	}
	p := planSRTP(o.hasCrypto, o.req.Transport(), "TLS", o.caller, accounts.Account{}, true)
	return p.refuse
}

// apply gives fwd, a branch to binding b, the SDP its plan calls for. bridged is true when the
// branch's media goes through the SRTP bridge; an error skips the branch (refused says why).
func (o *srtpOffer) apply(fwd *sip.Request, b Binding) (bridged bool, err error) {
	if len(o.req.Body()) == 0 || isWS(o.req.Transport()) || isWS(b.Transport) {
		return false, nil // a late offer passes as it is; browsers have their own bridge
	}
	p := planSRTP(o.hasCrypto, o.req.Transport(), b.Transport, o.caller, o.callee, o.r.srtp != nil)
	if p.refuse != "" {
		o.refused = p.refuse
		o.r.log.Info("call branch refused: media encryption", "caller", o.caller.Extension, "callee", o.callee.Extension,
			"contact", b.Contact, "why", p.refuse, "call_id", o.req.CallID().Value())
		return false, fmt.Errorf("%s", p.refuse)
	}
	if !p.bridge {
		return false, nil
	}
	if o.body != nil {
		if p != o.plan {
			return false, fmt.Errorf("one SRTP bridge per call")
		}
		fwd.SetBody(o.body)
		return true, nil
	}
	callID := o.req.CallID().Value()
	if tag, ok := o.r.srtpCalls.caller(callID); ok && tag != fromTag(o.req) {
		// Another caller's call has this Call-ID: bridging this INVITE would hand it that
		// call's media.
		o.refused = "the Pi already bridges another call with this Call-ID"
		o.r.log.Warn("SRTP bridge: INVITE reuses the Call-ID of another bridged call", "caller", o.caller.Extension, "src", o.req.Source(), "call_id", callID)
		return false, errors.New(o.refused)
	}
	if n := o.r.srtpCalls.byCaller(o.caller.Extension); n >= maxSRTPCallsPerCaller {
		o.refused = fmt.Sprintf("extension %s already has %d calls through the Pi's SRTP bridge, the most one extension may have", o.caller.Extension, n)
		o.r.log.Warn("call branch refused: too many bridged calls", "caller", o.caller.Extension, "calls", n, "call_id", callID)
		return false, errors.New(o.refused)
	}
	callerIP := o.r.localAddr(o.req.Source())
	calleeIP := o.r.localAddr(b.Source)
	if err := o.r.srtp.Start(callID, p.callerSRTP, p.calleeSRTP, callerIP, calleeIP); err != nil {
		o.refused = "the Pi cannot bridge the media: " + err.Error()
		o.r.log.Warn("call branch refused: the SRTP bridge cannot take the call", "caller", o.caller.Extension, "callee", o.callee.Extension, "err", err, "call_id", callID)
		return false, err
	}
	for i, src := range []string{o.req.Source(), b.Source} {
		if ap, err := netip.ParseAddrPort(src); err == nil {
			o.r.srtp.Expect(callID, i == 0, ap.Addr())
		}
	}
	out, err := o.r.srtp.Offer(o.r.context(), callID, true, o.req.Body())
	if err != nil {
		o.r.srtp.Close(callID)
		o.refused = "the offer cannot be bridged: " + err.Error()
		o.r.log.Warn("SRTP bridge refused the offer", "call_id", callID, "err", err)
		return false, err
	}
	o.r.srtpCalls.add(callID, fromTag(o.req), o.caller.Extension)
	o.body, o.plan, o.used = out, p, true
	fwd.SetBody(out)
	o.r.log.Info("call media bridged by the Pi", "caller", o.caller.Extension, "callee", o.callee.Extension,
		"caller_srtp", p.callerSRTP, "callee_srtp", p.calleeSRTP, "call_id", callID)
	return true, nil
}

// localAddr is the Pi's address a phone at src reaches for media.
func (r *Registrar) localAddr(src string) netip.Addr {
	a, err := netip.ParseAddr(r.localHost(src))
	if err != nil {
		return netip.MustParseAddr("127.0.0.1")
	}
	return a
}

// refuseMedia answers 488 Not Acceptable Here with a Warning saying why (RFC 3261 §20.43).
func (r *Registrar) refuseMedia(tx sip.ServerTransaction, req *sip.Request, why string) {
	r.log.Info("call refused: media encryption", "why", why, "call_id", req.CallID().Value())
	r.calls.failed(req.CallID().Value(), 488, why)
	w := "399 " + r.cfg.ServerName + ` "` + quotedText(why) + `"`
	r.reply(tx, req, 488, "Not Acceptable Here", sip.NewHeader("Warning", w))
}

func fromTag(m sdpMessage) string {
	if f := m.From(); f != nil {
		t, _ := f.Params.Get("tag")
		return t
	}
	return ""
}

// srtpBridged reports whether callID's media goes through the SRTP bridge.
func (r *Registrar) srtpBridged(callID string) bool {
	return r.srtp != nil && r.srtpCalls.has(callID)
}

// srtpSDP passes a bridged call's SDP body through the SRTP bridge, as an offer or an answer.
// response says msg is a response: its sender is the other side of its From.
func (r *Registrar) srtpSDP(msg sdpMessage, offer, response bool) error {
	body, ok := sdpBody(msg)
	if !ok {
		return nil
	}
	callID := msg.CallID().Value()
	fromCaller := r.srtpCalls.callerTag(callID) == fromTag(msg)
	if response {
		fromCaller = !fromCaller
	}
	var out []byte
	var err error
	if offer {
		out, err = r.srtp.Offer(r.context(), callID, fromCaller, body)
	} else {
		out, err = r.srtp.Answer(r.context(), callID, fromCaller, body)
	}
	if err != nil {
		r.log.Warn("SRTP bridge refused the SDP", "offer", offer, "from_caller", fromCaller, "call_id", callID, "err", err)
		if response {
			// A response goes on regardless (a 2xx must reach the caller), but not with the
			// phone's own address and keys: the other leg may be plain UDP.
			msg.SetBody(nil)
			if h, ok := msg.(interface{ RemoveHeader(string) bool }); ok {
				h.RemoveHeader("Content-Type")
			}
		}
		return fmt.Errorf("SRTP bridge: %w", err)
	}
	msg.SetBody(out)
	return nil
}

// srtpBranchAnswer passes the SDP of a bridged branch's response through the bridge; late says
// another branch answered first. The bridge has the first answer's phone: a later 2xx (the
// caller hangs that dialog up, RFC 3261 §16.7) must not move the media to its phone, nor carry
// that phone's address and key to the caller. It goes without its SDP.
func (r *Registrar) srtpBranchAnswer(up *sip.Response, late bool) {
	if !late {
		_ = r.srtpSDP(up, false, true)
		return
	}
	if len(up.Body()) > 0 {
		r.log.Info("SRTP bridge: a second phone answered the call; its answer goes on without SDP", "call_id", up.CallID().Value())
		up.SetBody(nil)
		up.RemoveHeader("Content-Type")
	}
}

// closeSRTP ends a call's bridged media.
func (r *Registrar) closeSRTP(callID string) {
	if r.srtp != nil && r.srtpCalls.remove(callID) {
		r.srtp.Close(callID)
	}
}

// sdpHasCrypto reports whether an SDP body offers SRTP with SDES: RTP/SAVP or an a=crypto line.
func sdpHasCrypto(body []byte) bool {
	return bytes.Contains(body, []byte("RTP/SAVP ")) || bytes.Contains(body, []byte("a=crypto:"))
}

// srtpCallSet is the calls going through the SRTP bridge, with their caller's From tag (which
// tells in-dialog requests from the caller from those of the callee) and extension. A call whose
// BYE never came is forgotten when the set is full (the bridge itself releases its media after a
// silence).
type srtpCallSet struct {
	mu    sync.Mutex
	calls map[string]srtpCall
}

type srtpCall struct{ callerTag, callerExt string }

const maxSRTPCalls = 1024

// maxSRTPCallsPerCaller bounds one extension's calls through the bridge at once: a phone, or
// someone with its password, cannot take all of the bridge's calls (srtpbridge.Config.MaxCalls).
const maxSRTPCallsPerCaller = 8

func newSRTPCallSet() *srtpCallSet { return &srtpCallSet{calls: map[string]srtpCall{}} }

func (s *srtpCallSet) add(callID, callerTag, callerExt string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.calls[callID]; !ok && len(s.calls) >= maxSRTPCalls {
		for id := range s.calls {
			delete(s.calls, id)
			break
		}
	}
	s.calls[callID] = srtpCall{callerTag, callerExt}
}

func (s *srtpCallSet) has(callID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.calls[callID]
	return ok
}

func (s *srtpCallSet) callerTag(callID string) string {
	tag, _ := s.caller(callID)
	return tag
}

// caller is callID's caller From tag, if the call is bridged.
func (s *srtpCallSet) caller(callID string) (tag string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.calls[callID]
	return c.callerTag, ok
}

// byCaller counts the bridged calls extension ext placed.
func (s *srtpCallSet) byCaller(ext string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.callerExt == ext {
			n++
		}
	}
	return n
}

func (s *srtpCallSet) remove(callID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.calls[callID]
	delete(s.calls, callID)
	return ok
}
