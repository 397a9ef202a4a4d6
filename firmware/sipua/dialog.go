package sipua

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// dialog is what both sides of a sipgo dialog offer for in-dialog requests (RFC 3261 §12).
type dialog interface {
	Do(ctx context.Context, req *sip.Request) (*sip.Response, error)
	WriteRequest(req *sip.Request) error
	Bye(ctx context.Context) error
	WriteBye(ctx context.Context, bye *sip.Request) error
	ReadRequest(req *sip.Request, tx sip.ServerTransaction) error
}

func (c *call) dialog() dialog {
	switch {
	case c.cs != nil:
		return c.cs
	case c.ss != nil:
		return c.ss
	}
	return nil
}

// remoteTarget is where in-dialog requests go: the far end's Contact (RFC 3261 §12.2.1.1).
func (c *call) remoteTarget() sip.Uri {
	if c.cs != nil {
		if h := c.cs.InviteResponse.Contact(); h != nil {
			return h.Address
		}
		return c.cs.InviteRequest.Recipient
	}
	if h := c.ss.InviteRequest.Contact(); h != nil {
		return h.Address
	}
	return sip.Uri{}
}

// request queues one of our in-dialog requests. It goes once the call is established, when no
// request of ours is in flight and no 2xx of ours waits for its ACK: so our re-INVITE never
// crosses one of the far end's, except in true glare (both sent at once, RFC 3261 §14.1), which
// the 491 answers.
func (c *call) request(send func()) {
	c.queue = append(c.queue, send)
	c.next()
}

// next sends the first queued request if nothing stands in its way.
func (c *call) next() {
	if c.phase != phaseEstablished || c.inFlight != nil || c.ack != nil || len(c.queue) == 0 {
		return
	}
	send := c.queue[0]
	c.queue = c.queue[1:]
	send()
}

// transact sends req in the dialog (10 s at most; an INVITE's 2xx is ACKed) and hands the outcome
// to done on the call's goroutine.
func (c *call) transact(req *sip.Request, done func(res *sip.Response, err error)) {
	d := c.dialog()
	c.inFlight = req
	target := c.remoteTarget()
	c.spawn(func() {
		ctx, cancel := context.WithTimeout(c.u.ctx, 10*time.Second)
		defer cancel()
		res, err := d.Do(ctx, req)
		c.post(func() {
			c.inFlight = nil
			// The ACK goes from here, once the call knows the transaction is over: a re-INVITE the
			// far end sends on receiving it is no glare.
			if err == nil && req.IsInvite() && res.IsSuccess() {
				if aerr := d.WriteRequest(sip.NewRequest(sip.ACK, target)); aerr != nil {
					err = fmt.Errorf("ACK: %w", aerr)
				}
			}
			done(res, err)
			c.next()
		})
	})
}

// newRequest starts an in-dialog request to the far end's target.
func (c *call) newRequest(method sip.RequestMethod) *sip.Request {
	return sip.NewRequest(method, c.remoteTarget())
}

// bye sends BYE from a goroutine; the call does not wait for the far end's 200. After an RTP
// timeout it says why (RFC 3326 Reason).
func (c *call) bye() {
	d := c.dialog()
	if d == nil {
		return
	}
	var req *sip.Request
	if c.silent > 0 {
		req = c.newRequest(sip.BYE)
		if c.cs != nil {
			req.SetTransport(c.cs.InviteRequest.Transport())
		} else {
			req.SetTransport(c.ss.InviteRequest.Transport())
		}
		req.AppendHeader(sip.NewHeader("Reason", fmt.Sprintf(`SIP;cause=408;text="RTP timeout: no audio from the far end for %.0f s"`, c.silent.Seconds())))
	}
	c.spawn(func() { byeWith(d, req, c.log) })
}

// byeWith sends req, or a plain BYE when nil.
func byeWith(d dialog, req *sip.Request, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	if req != nil {
		err = d.WriteBye(ctx, req)
	} else {
		err = d.Bye(ctx)
	}
	if err != nil {
		// A challenge to our BYE is never answered: the call is over for us anyway.
		log.Info("BYE not confirmed", "err", err)
	}
}

func (u *UA) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := u.callOf(req, tx)
	if c == nil {
		return
	}
	c.serve(req, tx, func() {
		var err error
		switch {
		case c.cs != nil:
			err = c.cs.ReadBye(req, tx)
		case c.ss != nil:
			err = c.ss.ReadBye(req, tx)
		default:
			err = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		}
		if err != nil {
			c.log.Debug("BYE", "err", err)
		}
		c.log.Info("far end hung up")
		c.end("bye", 0)
	})
}

// offerPending tells whether an offer of ours is in flight: a new offer from the far end is then
// glare (RFC 3261 §14.2, RFC 3311 §5.2) and gets 491.
func (c *call) offerPending() bool {
	return c.inFlight != nil && (c.inFlight.IsInvite() || c.inFlight.Method == sip.UPDATE)
}

// onReInvite answers a re-INVITE (RFC 3261 §14.2): hold/resume by the far end, a new address
// (Asterisk direct media), a session refresh.
func (u *UA) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	c := u.callOf(req, tx)
	if c == nil {
		return
	}
	c.serve(req, tx, func() { c.reInvited(req, tx) })
}

func (c *call) reInvited(req *sip.Request, tx sip.ServerTransaction) {
	if a := c.ack; c.phase == phaseAnswered && !c.lateOffer && req.CSeq().SeqNo > a.seq {
		// The far end sends a new INVITE only after ACKing our 2xx (RFC 3261 §14.1): its ACK was
		// overtaken on the way to this goroutine, and carries nothing we need.
		c.ack = nil
		a.stop()
		a.acked(nil)
	}
	if c.phase != phaseEstablished || c.offerPending() || c.ack != nil {
		c.log.Info("re-INVITE crosses ours: 491")
		tx.Respond(sip.NewResponseFromRequest(req, 491, "Request Pending", nil))
		return
	}
	if err := c.dialog().ReadRequest(req, tx); err != nil {
		tx.Respond(sip.NewResponseFromRequest(req, 500, "Server Internal Error", nil))
		return
	}
	offer := req.Body()
	ans, err := c.answerOffer(offer)
	if err != nil {
		c.log.Info("re-INVITE refused", "err", err)
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusNotAcceptableHere, "Not Acceptable Here", nil))
		return
	}
	res := sip.NewSDPResponseFromRequest(req, ans)
	ct := c.u.contact()
	res.AppendHeader(&ct)
	res.AppendHeader(sip.NewHeader("Allow", allowed))
	c.respond2xx(req, tx, res, func(ackSDP []byte) {
		if len(offer) == 0 && len(ackSDP) > 0 { // we offered: the ACK answers (RFC 3264 §5)
			if err := c.media.AcceptAnswer(ackSDP); err != nil {
				c.log.Warn("answer in ACK refused", "err", err)
			}
		}
		c.next()
	})
}

// answerOffer answers an offer of the far end in the call (our offer when it sent none) and
// reports a change of its hold.
func (c *call) answerOffer(offer []byte) ([]byte, error) {
	if len(offer) == 0 {
		return c.media.Offer()
	}
	ans, err := c.media.Update(offer)
	if err != nil {
		return nil, err
	}
	if hold := sdpHolds(offer); hold != c.remoteHold {
		c.remoteHold = hold
		c.log.Info("far end hold", "on", hold)
		c.u.lis.CallRemoteHold(c.id, hold)
	}
	return ans, nil
}

// onUpdate answers UPDATE (RFC 3311): a new offer inside the call, or a session refresh without
// a body (RFC 4028).
func (u *UA) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	c := u.callOf(req, tx)
	if c == nil {
		return
	}
	c.serve(req, tx, func() { c.updated(req, tx) })
}

func (c *call) updated(req *sip.Request, tx sip.ServerTransaction) {
	offer := req.Body()
	switch {
	case c.phase != phaseEstablished && len(offer) > 0:
		// RFC 3311 §5.2: an offer before the INVITE's offer/answer is done.
		res := sip.NewResponseFromRequest(req, 500, "Server Internal Error (offer/answer in progress)", nil)
		res.AppendHeader(sip.NewHeader("Retry-After", "1"))
		tx.Respond(res)
		return
	case len(offer) > 0 && (c.offerPending() || c.ack != nil):
		tx.Respond(sip.NewResponseFromRequest(req, 491, "Request Pending", nil))
		return
	case len(offer) > 0 && !strings.HasPrefix(strings.ToLower(headerValue(req, "Content-Type")), "application/sdp"):
		res := sip.NewResponseFromRequest(req, 415, "Unsupported Media Type", nil)
		res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
		tx.Respond(res)
		return
	}
	if d := c.dialog(); d != nil {
		if err := d.ReadRequest(req, tx); err != nil {
			tx.Respond(sip.NewResponseFromRequest(req, 500, "Server Internal Error", nil))
			return
		}
	}
	if len(offer) == 0 {
		c.log.Info("session refreshed (UPDATE)")
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		return
	}
	ans, err := c.answerOffer(offer)
	if err != nil {
		c.log.Info("UPDATE refused", "err", err)
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusNotAcceptableHere, "Not Acceptable Here", nil))
		return
	}
	c.log.Info("media updated (UPDATE)")
	res := sip.NewSDPResponseFromRequest(req, ans)
	ct := c.u.contact()
	res.AppendHeader(&ct)
	tx.Respond(res)
}

// sdpHolds tells whether an offer puts us on hold (RFC 3264 §8.4: sendonly or inactive, or the
// RFC 2543 c=0.0.0.0).
func sdpHolds(sdp []byte) bool {
	for _, line := range bytes.Split(sdp, []byte("\n")) {
		l := strings.TrimSpace(string(line))
		switch {
		case l == "a=sendonly", l == "a=inactive":
			return true
		case strings.HasPrefix(l, "c=IN IP4 0.0.0.0"):
			return true
		}
	}
	return false
}

// Hold puts the call on hold or resumes it with a re-INVITE carrying the media's new direction.
func (u *UA) Hold(id string, on bool) {
	u.do(id, func(c *call) { c.request(func() { c.sendHold(on) }) })
}

func (c *call) sendHold(on bool) {
	sdp, err := c.media.Hold(on)
	if err != nil {
		c.log.Warn("hold", "err", err)
		c.next()
		return
	}
	req := c.newRequest(sip.INVITE)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	req.SetBody(sdp)
	c.transact(req, func(res *sip.Response, err error) {
		switch {
		case err != nil:
			c.log.Warn("hold re-INVITE failed", "on", on, "err", err)
		case res.StatusCode == 491:
			// Glare: try again after a random pause, longer for the owner of the Call-ID (§14.1).
			wait := time.Duration(rand.Int64N(int64(2 * time.Second)))
			if !c.incoming {
				wait += 2100 * time.Millisecond
			}
			c.log.Info("hold re-INVITE crossed the far end's: trying again", "in", wait.Round(time.Millisecond).String())
			c.after(wait, func() { c.request(func() { c.sendHold(on) }) })
		case !res.IsSuccess():
			c.log.Warn("hold re-INVITE failed", "on", on, "response", statusText(res))
		default:
			if len(res.Body()) > 0 {
				if err := c.media.AcceptAnswer(res.Body()); err != nil {
					c.log.Warn("hold answer refused", "err", err)
				}
			}
			c.log.Info("hold", "on", on)
		}
	})
}
