package sipua

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// onInvite handles a new call (the UAS side of INVITE, RFC 3261 §13.3) or, when the To header has
// a tag, a request inside one of our dialogs (a re-INVITE, §14.2).
func (u *UA) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		u.onReInvite(req, tx)
		return
	}
	if u.ctx.Err() != nil {
		tx.Respond(sip.NewResponseFromRequest(req, 503, "Service Unavailable", nil))
		return
	}
	if h := req.GetHeader("Replaces"); h != nil {
		u.onReplacingInvite(req, tx, h.Value())
		return
	}
	if !u.fromRegistrar(req.Source()) {
		// With a registrar, calls come through it: a direct INVITE is a scanner's ghost call.
		u.log.Info("call refused: not from the registrar", "src", req.Source(), "from", peerOf(req))
		tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden (calls come through the registrar)", nil))
		return
	}
	c, cancelled := u.newIncoming(req, tx)
	if c == nil {
		return
	}
	c.log.Info("incoming call")
	u.start(c, func() { u.lis.CallIncoming(c.id, c.peer) })
	c.holdInvite(cancelled)
}

// newIncoming makes the call of a new INVITE: media, dialog, 100 Trying, the answer it will give.
// It returns nil after answering a refusal; cancelled closes on the caller's CANCEL.
func (u *UA) newIncoming(req *sip.Request, tx sip.ServerTransaction) (c *call, cancelled <-chan struct{}) {
	u.mu.Lock()
	u.seq++
	id := "in-" + strconv.Itoa(u.seq)
	u.mu.Unlock()
	c = u.newCall(id, true, peerOf(req))
	c.log = c.log.With("call_id", callIDOf(req), "from", c.peer)
	answer, ok := c.acceptInvite(req, tx)
	if !ok {
		return nil, nil
	}
	c.answerWith = func() { c.answer(answer, req.Body()) }
	return c, c.ss.Context().Done()
}

// acceptInvite opens the media and the dialog of an incoming INVITE and answers 100; false when
// it answered a refusal.
func (c *call) acceptInvite(req *sip.Request, tx sip.ServerTransaction) ([]byte, bool) {
	u := c.u
	m, err := u.cfg.NewMedia(u.mediaIP(req.Body()))
	if err != nil {
		c.log.Error("cannot open media for a call", "err", err)
		tx.Respond(sip.NewResponseFromRequest(req, 500, "Server Internal Error", nil))
		return nil, false
	}
	// Late offer (RFC 3261 §13.2.1, RFC 3264 §5): an INVITE without SDP gets our offer in the
	// 200 OK, and the answer comes in the ACK.
	var answer []byte
	if len(req.Body()) == 0 {
		answer, err = m.Offer()
	} else {
		answer, err = m.AcceptOffer(req.Body())
	}
	if err != nil {
		c.log.Info("incoming call refused: no common media", "err", err)
		m.Close()
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusNotAcceptableHere, "Not Acceptable Here", nil))
		return nil, false
	}
	ss, err := u.dua.ReadInvite(req, tx)
	if err != nil {
		m.Close()
		c.log.Warn("bad INVITE", "err", err)
		tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
		return nil, false
	}
	c.ss, c.inviteTx, c.media, c.sipCallID = ss, tx, m, callIDOf(req)
	c.settled = make(chan struct{})
	ss.Respond(100, "Trying", nil)
	return answer, true
}

// holdInvite keeps sipgo's handler (and so the INVITE server transaction) alive until the call
// gave its final answer; a CANCEL meanwhile ends the call.
func (c *call) holdInvite(cancelled <-chan struct{}) {
	select {
	case <-c.settled:
		return
	case <-cancelled:
		c.post(func() {
			if c.phase == phaseOffered {
				c.log.Info("caller cancelled")
				c.end("cancelled", 487)
			}
		})
	}
	<-c.settled
}

// Alert tells the caller we ring (180 Ringing).
func (u *UA) Alert(id string) {
	u.do(id, func(c *call) {
		if c.incoming && c.phase == phaseOffered {
			if err := c.ss.Respond(sip.StatusRinging, "Ringing", nil); err != nil {
				c.log.Debug("180 not sent", "err", err)
			}
		}
	})
}

// Answer answers an incoming call with our SDP answer.
func (u *UA) Answer(id string) {
	u.do(id, func(c *call) {
		if c.incoming && c.phase == phaseOffered {
			c.answerWith()
		}
	})
}

// Reject refuses an incoming call: 486 busy (also for do-not-disturb) or 603 decline.
func (u *UA) Reject(id string, code int) {
	u.do(id, func(c *call) {
		if c.incoming && c.phase == phaseOffered {
			c.reject(code)
		}
	})
}

func (c *call) reject(code int) {
	c.ss.Respond(code, reasonOf(code), nil)
	c.end("rejected", code)
}

// answer sends our 2xx to the INVITE (offer is our SDP answer, or our offer when the INVITE had
// none) and waits for the ACK.
func (c *call) answer(sdp, remoteOffer []byte) {
	ss := c.ss
	res := sip.NewSDPResponseFromRequest(ss.InviteRequest, sdp)
	res.AppendHeader(sip.NewHeader("Allow", allowed))
	res.AppendHeader(sip.NewHeader("Supported", supported))
	ct := c.u.contact()
	res.AppendHeader(&ct)
	// Our 2xx establishes the dialog. Its retransmission until the ACK is ours (respond2xx), as
	// for a re-INVITE, so sipgo's WriteResponse (which does its own) is not used: the dialog
	// takes the response as sent and is confirmed now, as the ACK would (sipgo then never holds a
	// BYE back waiting for the ACK: the call does, see phaseAnswered).
	ss.InviteResponse = res
	if err := ss.ReadAck(ss.InviteRequest, c.inviteTx); err != nil {
		c.log.Warn("dialog not confirmed", "err", err)
	}
	lateOffer := len(remoteOffer) == 0
	c.lateOffer = lateOffer
	if !c.respond2xx(ss.InviteRequest, c.inviteTx, res, func(ackSDP []byte) {
		if lateOffer {
			if err := c.media.AcceptAnswer(ackSDP); err != nil {
				c.log.Info("call ended: the ACK carries no usable SDP answer", "err", err)
				c.bye()
				c.end("failed", 488)
				return
			}
		}
		c.established()
	}) {
		c.end("failed", 500)
		return
	}
	c.phase = phaseAnswered
	close(c.settled)
}

// awaitedAck is a 2xx to an INVITE of the far end, retransmitted over UDP at T1, 2*T1, … capped
// at T2 until its ACK comes (RFC 3261 §13.3.1.4; RFC 6026 §7.1 leaves this to the UA core), given
// up after 64*T1.
type awaitedAck struct {
	seq      uint32
	tx       sip.ServerTransaction
	res      *sip.Response
	interval time.Duration
	resend   func() bool
	giveUp   func() bool
	acked    func(body []byte) // runs on the call's goroutine with the ACK's body
}

func (a *awaitedAck) stop() {
	if a.resend != nil {
		a.resend()
	}
	a.giveUp()
}

// errNoAck: the far end never acknowledged our 2xx.
var errNoAck = errors.New("no ACK for the 2xx within 64*T1")

// respond2xx sends res, the 2xx to req, and arranges its retransmission until the ACK, then
// acked. False when it could not be sent.
func (c *call) respond2xx(req *sip.Request, tx sip.ServerTransaction, res *sip.Response, acked func(body []byte)) bool {
	if err := tx.Respond(res); err != nil {
		c.log.Warn("2xx not sent", "err", err)
		return false
	}
	a := &awaitedAck{seq: req.CSeq().SeqNo, tx: tx, res: res, interval: sip.T1, acked: acked}
	c.ack = a
	if strings.EqualFold(req.Transport(), "UDP") {
		a.resend = c.after(a.interval, func() { c.retransmit2xx(a) })
	}
	a.giveUp = c.after(64*sip.T1, func() {
		if c.ack != a {
			return
		}
		c.ack = nil
		a.stop()
		c.noAck(a)
	})
	return true
}

func (c *call) retransmit2xx(a *awaitedAck) {
	if c.ack != a {
		return
	}
	if err := a.tx.Respond(a.res); err != nil {
		c.log.Debug("2xx retransmission", "err", err)
	}
	a.interval = min(2*a.interval, sip.T2)
	a.resend = c.after(a.interval, func() { c.retransmit2xx(a) })
}

// noAck ends a call whose answer was never acknowledged (§13.3.1.4: BYE); a re-INVITE's missing
// ACK only lets the next request go.
func (c *call) noAck(a *awaitedAck) {
	if c.phase == phaseAnswered {
		c.log.Warn("answer not acknowledged", "err", errNoAck)
		c.bye()
		c.end("failed", 408)
		return
	}
	c.log.Warn("re-INVITE answer not acknowledged", "err", errNoAck)
	c.next()
}

func (u *UA) onAck(req *sip.Request, tx sip.ServerTransaction) {
	c := u.bySIP(req)
	if c == nil || req.CSeq() == nil {
		return
	}
	seq, body := req.CSeq().SeqNo, req.Body()
	c.post(func() {
		a := c.ack
		if a == nil || seq != a.seq {
			return // a retransmitted ACK
		}
		c.ack = nil
		a.stop()
		if c.ss != nil && c.phase == phaseAnswered {
			if err := c.ss.ReadAck(req, tx); err != nil {
				c.log.Debug("ACK", "err", err)
			}
		}
		a.acked(body)
	})
}

func (u *UA) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	// sipgo matches a CANCEL to its INVITE transaction before this handler; what reaches it
	// matches nothing (RFC 3261 §9.2).
	tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
}

func reasonOf(code int) string {
	switch code {
	case 486:
		return "Busy Here"
	case 603:
		return "Decline"
	case 480:
		return "Temporarily Unavailable"
	case 487:
		return "Request Terminated"
	}
	return "Rejected"
}
