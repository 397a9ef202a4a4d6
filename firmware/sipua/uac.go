package sipua

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/deskphone/deskphone/firmware/sipid"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Dial places a call (RFC 3261 §13.2, the UAC side of INVITE). referredBy names a call whose far
// end asked for this one with REFER: it gets NOTIFYs about this call's progress and is hung up
// when this one is answered.
func (u *UA) Dial(id, to, referredBy string) {
	if u.ctx.Err() != nil {
		return // shutting down: Run no longer waits for new calls
	}
	c := u.newCall(id, false, to)
	c.referredBy = referredBy
	c.cancel = func() {}
	m, err := u.cfg.NewMedia(u.mediaIP(nil))
	if err != nil {
		c.log.Error("cannot open media for a call", "err", err)
		u.start(c, func() { c.end("failed", 500) })
		return
	}
	c.media = m
	c.sipCallID = sipid.Token(12) + "@" + u.localIP
	u.start(c, func() { c.invite(to) })
}

// invite sends the INVITE; the transaction runs in its own goroutine and posts its outcome.
func (c *call) invite(to string) {
	u := c.u
	offer, err := c.media.Offer()
	if err != nil {
		c.log.Error("cannot make an SDP offer", "err", err)
		c.end("failed", 500)
		return
	}
	uri, dest, err := u.targetURI(to)
	if err != nil {
		c.log.Warn("cannot dial", "to", to, "err", err)
		c.end("failed", 400)
		return
	}
	c.log = c.log.With("call_id", c.sipCallID, "to", uri.String())
	ctx, cancel := context.WithCancel(u.ctx)
	c.cancel = cancel
	replaces := replacesIn(to)
	if replaces != "" {
		c.log = c.log.With("replaces", replaces)
	}
	c.log.Info("calling")
	from := u.from()
	build := func(cseq uint32) *sip.Request {
		req := sip.NewRequest(sip.INVITE, uri)
		cid := sip.CallIDHeader(c.sipCallID)
		req.AppendHeader(from)
		req.AppendHeader(&sip.ToHeader{Address: uri})
		req.AppendHeader(&cid)
		req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.INVITE})
		ct := u.contact()
		req.AppendHeader(&ct)
		req.AppendHeader(sip.NewHeader("Allow", allowed))
		req.AppendHeader(sip.NewHeader("Supported", supported))
		req.AppendHeader(sip.NewHeader("User-Agent", u.cfg.UserAgent))
		if replaces != "" {
			req.AppendHeader(sip.NewHeader("Replaces", replaces))
		}
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(offer)
		req.SetTransport(u.cfg.Transport)
		req.SetDestination(dest)
		return req
	}
	c.spawn(func() {
		defer cancel()
		cs, err := c.inviteTransaction(ctx, build)
		if !c.post(func() { c.answered(cs, err) }) && err == nil {
			byeWith(cs, nil, c.log) // cannot happen: an offered outgoing call only ends here
		}
	})
}

// inviteTransaction runs the INVITE client transaction, answering one digest challenge from the
// registrar. Provisional responses are posted to the call as they come.
func (c *call) inviteTransaction(ctx context.Context, build func(cseq uint32) *sip.Request) (*sipgo.DialogClientSession, error) {
	u := c.u
	select {
	case <-u.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	onResponse := func(res *sip.Response) error {
		if res.StatusCode == 180 || res.StatusCode == 183 {
			code, body := res.StatusCode, res.Body()
			c.post(func() { c.progress(code, body) })
		}
		return nil
	}
	req := build(1)
	for attempt := 0; ; attempt++ {
		cs, err := u.dialogs().WriteInvite(u.ctx, req)
		if err == nil {
			err = cs.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: onResponse})
		}
		var dr *sipgo.ErrDialogResponse
		if err != nil && errors.As(err, &dr) && attempt == 0 &&
			(dr.Res.StatusCode == sip.StatusUnauthorized || dr.Res.StatusCode == sip.StatusProxyAuthRequired) {
			req = build(2)
			if aerr := u.authorize(req, dr.Res); aerr != nil {
				c.log.Warn("call challenged", "err", aerr)
				return nil, err
			}
			continue
		}
		return cs, err
	}
}

// progress takes a 180 or 183 (with early media when it carries SDP).
func (c *call) progress(code int, body []byte) {
	if c.phase != phaseOffered {
		return
	}
	early := false
	if code == 183 && len(body) > 0 && !c.early {
		if err := c.media.AcceptAnswer(body); err != nil {
			c.log.Warn("early media SDP refused", "err", err)
		} else {
			c.early, early = true, true
		}
	}
	c.u.lis.CallProgress(c.id, early || c.early)
}

// answered takes the outcome of the INVITE transaction.
func (c *call) answered(cs *sipgo.DialogClientSession, err error) {
	if err != nil {
		var dr *sipgo.ErrDialogResponse
		switch {
		case c.hangup, errors.Is(err, context.Canceled):
			c.log.Info("call cancelled")
			c.end("cancelled", 487)
		case errors.As(err, &dr):
			c.log.Info("call failed", "response", statusText(dr.Res))
			c.end("failed", dr.Res.StatusCode)
		default:
			c.log.Warn("call failed", "err", err)
			c.end("failed", 408)
		}
		return
	}
	c.cs = cs
	if err := cs.Ack(c.u.ctx); err != nil {
		c.log.Warn("ACK failed", "err", err)
	}
	if body := cs.InviteResponse.Body(); len(body) > 0 && !c.early {
		if err := c.media.AcceptAnswer(body); err != nil {
			c.log.Warn("answer SDP refused, hanging up", "err", err)
			c.bye()
			c.end("failed", 488)
			return
		}
	}
	if c.hangup { // hung up while the 200 OK was on its way
		c.bye()
		c.end("cancelled", 0)
		return
	}
	c.established()
}

// replacesIn is the Replaces header a number asks for ("sip:5004@pbx?Replaces=…", what a REFER
// for an attended transfer names), unescaped; "" when none.
func replacesIn(to string) string {
	_, hdrs, ok := strings.Cut(strings.Trim(strings.TrimSpace(to), "<>"), "?")
	if !ok {
		return ""
	}
	q, err := url.ParseQuery(hdrs)
	if err != nil {
		return ""
	}
	for k, v := range q {
		if strings.EqualFold(k, "Replaces") && len(v) > 0 {
			if _, ok := parseReplaces(v[0]); ok {
				return v[0]
			}
		}
	}
	return ""
}
