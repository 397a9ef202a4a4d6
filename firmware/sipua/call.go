package sipua

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// dialog is what both sides of a sipgo dialog offer for in-dialog requests.
type dialog interface {
	Do(ctx context.Context, req *sip.Request) (*sip.Response, error)
	WriteRequest(req *sip.Request) error
	Bye(ctx context.Context) error
	ReadRequest(req *sip.Request, tx sip.ServerTransaction) error
}

type decision struct {
	alert  bool // send 180 Ringing and keep waiting
	answer bool
	code   int
}

// call is one SIP call and its media.
type call struct {
	id          string
	incoming    bool
	peer        string
	sipCallID   string
	media       MediaSession       // set before the call is shared, never changed
	cancel      context.CancelFunc // outgoing: CANCELs while unanswered
	decide      chan decision      // incoming: the phone's answer or rejection
	done        chan struct{}      // closed when the call ends
	established chan struct{}      // closed once answered and acknowledged: in-dialog requests may go

	mu         sync.Mutex // serialises in-dialog transactions (hold, transfer, NOTIFY)
	cs         *sipgo.DialogClientSession
	ss         *sipgo.DialogServerSession
	answered   bool
	ended      bool
	remoteHold bool
	notify     chan int // transferor: sipfrag status codes from NOTIFYs

	ackMu   sync.Mutex
	ackSeq  uint32      // CSeq of the INVITE whose 2xx waits for its ACK
	ackBody chan []byte // gets that ACK's body (buffered, at most one)
}

// expectAck prepares for the ACK of our 2xx to the INVITE with CSeq seq; the channel gets the
// ACK's body (an SDP answer when our 2xx carried the offer, RFC 3264 §5).
func (c *call) expectAck(seq uint32) <-chan []byte {
	c.ackMu.Lock()
	defer c.ackMu.Unlock()
	c.ackSeq, c.ackBody = seq, make(chan []byte, 1)
	return c.ackBody
}

// gotAck delivers an ACK to the answer waiting for it; repeated ACKs are ignored.
func (c *call) gotAck(seq uint32, body []byte) {
	c.ackMu.Lock()
	defer c.ackMu.Unlock()
	if c.ackBody != nil && seq == c.ackSeq {
		c.ackBody <- body
		c.ackBody = nil
	}
}

// errNoAck: the far end never acknowledged our 2xx.
var errNoAck = errors.New("no ACK for the 2xx within 64*T1")

// awaitAck waits for the ACK of a 2xx already sent on tx and, over UDP, retransmits the 2xx at
// T1, 2*T1, ... capped at T2 (RFC 3261 §13.3.1.4; the server transaction leaves this to the UA
// core, RFC 6026 §7.1). It returns the ACK's body; errNoAck after 64*T1; nothing once callDone
// closes.
func awaitAck(ctx context.Context, callDone <-chan struct{}, tx sip.ServerTransaction, res *sip.Response, udp bool, acked <-chan []byte) ([]byte, error) {
	interval := sip.T1
	resend := time.NewTimer(interval)
	defer resend.Stop()
	if !udp {
		resend.Stop()
	}
	giveUp := time.NewTimer(64 * sip.T1)
	defer giveUp.Stop()
	for {
		select {
		case body := <-acked:
			return body, nil
		case <-resend.C:
			if err := tx.Respond(res); err != nil {
				return nil, fmt.Errorf("2xx retransmission: %w", err)
			}
			interval = min(2*interval, sip.T2)
			resend.Reset(interval)
		case <-giveUp.C:
			return nil, errNoAck
		case <-callDone:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
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

func (u *UA) addCall(c *call) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls[c.id] = c
	if c.sipCallID != "" {
		u.byCallID[c.sipCallID] = c
	}
}

func (u *UA) indexCallID(c *call, callID string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	c.sipCallID = callID
	u.byCallID[callID] = c
}

func (u *UA) get(id string) *call {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls[id]
}

func (u *UA) bySIP(req *sip.Request) *call {
	cid := req.CallID()
	if cid == nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.byCallID[string(*cid)]
}

// Media returns the media session of a call, nil when there is none.
func (u *UA) Media(id string) MediaSession {
	c := u.get(id)
	if c == nil {
		return nil
	}
	return c.media
}

// waitEstablished waits until the call is answered and acknowledged; false if it ended first.
func (c *call) waitEstablished(ctx context.Context) bool {
	select {
	case <-c.established:
		return true
	case <-c.done:
	case <-ctx.Done():
	}
	return false
}

// endCall forgets a call, closes its media and reports the end once.
func (u *UA) endCall(c *call, reason string, code int) {
	u.mu.Lock()
	if c.ended {
		u.mu.Unlock()
		return
	}
	c.ended = true
	delete(u.calls, c.id)
	if c.sipCallID != "" && u.byCallID[c.sipCallID] == c {
		delete(u.byCallID, c.sipCallID)
	}
	u.mu.Unlock()
	close(c.done)
	if c.media != nil {
		c.media.Close()
	}
	u.log.Info("call ended", "id", c.id, "reason", reason, "code", code)
	u.lis.CallEnded(c.id, reason, code)
}

func (u *UA) watchDTMF(c *call, m MediaSession) {
	ch := m.DTMF()
	if ch == nil {
		return
	}
	u.spawn(func() {
		for {
			select {
			case <-c.done:
				return
			case <-u.ctx.Done():
				return
			case r, ok := <-ch:
				if !ok {
					return
				}
				u.log.Info("DTMF received", "id", c.id, "digit", string(r))
				u.lis.DTMFReceived(c.id, r)
			}
		}
	})
}

// Dial places a call (RFC 3261 §13.2). referredBy names a call whose far end asked for this one with
// REFER: it gets NOTIFYs about this call's progress and is hung up when this one is answered.
func (u *UA) Dial(id, to, referredBy string) {
	ctx, cancel := context.WithCancel(u.ctx)
	c := &call{id: id, peer: to, cancel: cancel, done: make(chan struct{}), established: make(chan struct{})}
	m, err := u.cfg.NewMedia(u.mediaIP(nil))
	if err != nil {
		u.log.Error("cannot open media for a call", "err", err)
	} else {
		c.media = m
	}
	u.addCall(c)
	u.spawn(func() {
		defer cancel()
		code := u.dial(ctx, c, to)
		if referredBy != "" {
			u.referDone(referredBy, code)
		}
	})
}

// dial runs an outgoing call until it is answered or fails; it returns the final SIP status.
func (u *UA) dial(ctx context.Context, c *call, to string) int {
	select {
	case <-u.ready:
	case <-ctx.Done():
		u.endCall(c, "cancelled", 0)
		return 487
	}
	m := c.media
	if m == nil {
		u.endCall(c, "failed", 500)
		return 500
	}
	offer, err := m.Offer()
	if err != nil {
		u.log.Error("cannot make an SDP offer", "err", err)
		u.endCall(c, "failed", 500)
		return 500
	}
	uri, dest, err := u.targetURI(to)
	if err != nil {
		u.log.Warn("cannot dial", "to", to, "err", err)
		u.endCall(c, "failed", 400)
		return 400
	}
	callID := sip.CallIDHeader(sip.GenerateTagN(24) + "@" + u.localIP)
	u.indexCallID(c, string(callID))
	from := u.from()
	var cseq uint32 = 1
	build := func() *sip.Request {
		req := sip.NewRequest(sip.INVITE, uri)
		to := &sip.ToHeader{Address: uri}
		cid := callID
		req.AppendHeader(from)
		req.AppendHeader(to)
		req.AppendHeader(&cid)
		req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.INVITE})
		ct := u.contact()
		req.AppendHeader(&ct)
		req.AppendHeader(sip.NewHeader("Allow", allowed))
		req.AppendHeader(sip.NewHeader("User-Agent", u.cfg.UserAgent))
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(offer)
		req.SetTransport(u.cfg.Transport)
		req.SetDestination(dest)
		return req
	}
	req := build()
	earlyApplied := false
	log := u.log.With("id", c.id, "call_id", string(callID), "to", uri.String())
	log.Info("calling")
	onResponse := func(res *sip.Response) error {
		switch {
		case res.StatusCode == 180 || res.StatusCode == 183:
			early := false
			if res.StatusCode == 183 && len(res.Body()) > 0 && !earlyApplied {
				if err := m.AcceptAnswer(res.Body()); err != nil {
					log.Warn("early media SDP refused", "err", err)
				} else {
					earlyApplied, early = true, true
				}
			}
			u.lis.CallProgress(c.id, early || earlyApplied)
		}
		return nil
	}
	var cs *sipgo.DialogClientSession
	for attempt := 0; ; attempt++ {
		cs, err = u.dialogs().WriteInvite(u.ctx, req)
		if err == nil {
			err = cs.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: onResponse})
		}
		if err == nil {
			break
		}
		var dr *sipgo.ErrDialogResponse
		if errors.As(err, &dr) && attempt == 0 &&
			(dr.Res.StatusCode == sip.StatusUnauthorized || dr.Res.StatusCode == sip.StatusProxyAuthRequired) {
			cseq++
			req = build()
			if aerr := u.authorize(req, dr.Res); aerr != nil {
				log.Warn("call challenged", "err", aerr)
				u.endCall(c, "failed", dr.Res.StatusCode)
				return dr.Res.StatusCode
			}
			continue
		}
		switch {
		case ctx.Err() != nil:
			log.Info("call cancelled")
			u.endCall(c, "cancelled", 487)
			return 487
		case errors.As(err, &dr):
			log.Info("call failed", "response", statusText(dr.Res))
			u.endCall(c, "failed", dr.Res.StatusCode)
			return dr.Res.StatusCode
		}
		log.Warn("call failed", "err", err)
		u.endCall(c, "failed", 408)
		return 408
	}
	c.mu.Lock()
	c.cs = cs
	c.answered = true
	c.mu.Unlock()
	if err := cs.Ack(u.ctx); err != nil {
		log.Warn("ACK failed", "err", err)
	}
	if body := cs.InviteResponse.Body(); len(body) > 0 && !earlyApplied {
		if err := m.AcceptAnswer(body); err != nil {
			log.Warn("answer SDP refused, hanging up", "err", err)
			u.byeNow(c)
			u.endCall(c, "failed", 488)
			return 488
		}
	}
	if ctx.Err() != nil { // hung up while the 200 OK was on its way
		u.byeNow(c)
		u.endCall(c, "cancelled", 0)
		return 200
	}
	close(c.established)
	log.Info("call answered")
	u.watchDTMF(c, m)
	u.lis.CallAnswered(c.id)
	return 200
}

// bye ends an answered call with BYE, once it is established (5 s at most).
func (u *UA) bye(c *call) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !c.waitEstablished(ctx) {
		return
	}
	u.byeNow(c)
}

// byeNow sends BYE; only from the goroutine that established the dialog or after waitEstablished.
func (u *UA) byeNow(c *call) {
	c.mu.Lock()
	d := c.dialog()
	c.mu.Unlock()
	if d == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Bye(ctx); err != nil {
		// A challenge to our BYE is never answered: the call is over for us anyway.
		u.log.Info("BYE not confirmed", "id", c.id, "err", err)
	}
}

// Hangup ends a call: CANCEL while ringing out, BYE once answered, 603 for an unanswered incoming one.
func (u *UA) Hangup(id string) {
	c := u.get(id)
	if c == nil {
		return
	}
	u.spawn(func() {
		c.mu.Lock()
		answered, incoming := c.answered, c.incoming
		c.mu.Unlock()
		switch {
		case !answered && !incoming:
			c.cancel()
		case !answered && incoming:
			u.Reject(id, 603)
		default:
			u.bye(c)
			u.endCall(c, "hangup", 0)
		}
	})
}

// onInvite handles a new call or a re-INVITE in one of our dialogs.
func (u *UA) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		u.onReInvite(req, tx)
		return
	}
	if u.ctx.Err() != nil {
		tx.Respond(sip.NewResponseFromRequest(req, 503, "Service Unavailable", nil))
		return
	}
	if !u.fromRegistrar(req.Source()) {
		// With a registrar, calls come through it: a direct INVITE is a scanner's ghost call.
		u.log.Info("call refused: not from the registrar", "src", req.Source(), "from", peerOf(req))
		tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden (calls come through the registrar)", nil))
		return
	}
	u.mu.Lock()
	u.seq++
	id := "in-" + strconv.Itoa(u.seq)
	u.mu.Unlock()
	c := &call{id: id, incoming: true, peer: peerOf(req), decide: make(chan decision, 4), done: make(chan struct{}),
		established: make(chan struct{})}
	log := u.log.With("id", id, "call_id", callIDOf(req), "from", c.peer)

	m, err := u.cfg.NewMedia(u.mediaIP(req.Body()))
	if err != nil {
		log.Error("cannot open media for a call", "err", err)
		tx.Respond(sip.NewResponseFromRequest(req, 500, "Server Internal Error", nil))
		return
	}
	// Late offer (RFC 3261 §13.2.1, RFC 3264 §5): an INVITE without SDP gets our offer in the
	// 200 OK, and the answer comes in the ACK.
	lateOffer := len(req.Body()) == 0
	var answer []byte
	if lateOffer {
		answer, err = m.Offer()
	} else {
		answer, err = m.AcceptOffer(req.Body())
	}
	if err != nil {
		log.Info("incoming call refused: no common media", "err", err)
		m.Close()
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusNotAcceptableHere, "Not Acceptable Here", nil))
		return
	}
	ss, err := u.dialogs().ReadInvite(req, tx)
	if err != nil {
		m.Close()
		log.Warn("bad INVITE", "err", err)
		tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
		return
	}
	c.ss, c.media = ss, m
	c.sipCallID = callIDOf(req)
	u.addCall(c)
	ss.Respond(100, "Trying", nil)
	log.Info("incoming call")
	u.lis.CallIncoming(id, c.peer)

	// Every response to the INVITE is written from this goroutine (sipgo's dialog is not safe for
	// concurrent responses).
	var d decision
	for {
		select {
		case d = <-c.decide:
			if d.alert {
				if err := ss.Respond(sip.StatusRinging, "Ringing", nil); err != nil {
					log.Debug("180 not sent", "err", err)
				}
				continue
			}
		case <-ss.Context().Done():
			log.Info("caller cancelled")
			u.endCall(c, "cancelled", 487)
			return
		case <-u.ctx.Done():
			ss.Respond(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", nil)
			u.endCall(c, "failed", 480)
			return
		}
		break
	}
	if !d.answer {
		ss.Respond(d.code, reasonOf(d.code), nil)
		u.endCall(c, "rejected", d.code)
		return
	}
	c.mu.Lock()
	c.answered = true
	c.mu.Unlock()
	res := sip.NewSDPResponseFromRequest(ss.InviteRequest, answer)
	res.AppendHeader(sip.NewHeader("Allow", allowed))
	acked := c.expectAck(req.CSeq().SeqNo)
	// sipgo's dialog retransmits this 2xx until the ACK (first after T1, then every T2) and fails
	// once the transaction's Timer L (64*T1) ends it: then the call is over (RFC 3261 §13.3.1.4).
	if err := ss.WriteResponse(res); err != nil {
		log.Warn("answer not acknowledged", "err", err)
		if ss.LoadState() >= sip.DialogStateEstablished {
			u.byeNow(c)
		}
		u.endCall(c, "failed", 408)
		return
	}
	if lateOffer {
		var sdp []byte
		select {
		case sdp = <-acked:
		default:
		}
		if err := m.AcceptAnswer(sdp); err != nil {
			log.Info("call ended: the ACK carries no usable SDP answer", "err", err)
			u.byeNow(c)
			u.endCall(c, "failed", 488)
			return
		}
	}
	close(c.established)
	log.Info("call answered")
	u.watchDTMF(c, m)
	u.lis.CallAnswered(id)
}

// Alert tells the caller we ring (180 Ringing).
func (u *UA) Alert(id string) {
	if c := u.get(id); c != nil && c.decide != nil {
		select {
		case c.decide <- decision{alert: true}:
		default:
		}
	}
}

// Answer answers an incoming call with our SDP answer.
func (u *UA) Answer(id string) {
	if c := u.get(id); c != nil && c.decide != nil {
		select {
		case c.decide <- decision{answer: true}:
		default:
		}
	}
}

// Reject refuses an incoming call: 486 busy (also for do-not-disturb) or 603 decline.
func (u *UA) Reject(id string, code int) {
	if c := u.get(id); c != nil && c.decide != nil {
		select {
		case c.decide <- decision{code: code}:
		default:
		}
	}
}

func reasonOf(code int) string {
	switch code {
	case 486:
		return "Busy Here"
	case 603:
		return "Decline"
	case 480:
		return "Temporarily Unavailable"
	}
	return "Rejected"
}

func peerOf(req *sip.Request) string {
	f := req.From()
	if f == nil {
		return ""
	}
	if f.Address.User != "" {
		return f.Address.User
	}
	return f.Address.Host
}

func callIDOf(req *sip.Request) string {
	if cid := req.CallID(); cid != nil {
		return string(*cid)
	}
	return ""
}

func (u *UA) onAck(req *sip.Request, tx sip.ServerTransaction) {
	c := u.bySIP(req)
	if c == nil || req.CSeq() == nil {
		return
	}
	c.gotAck(req.CSeq().SeqNo, req.Body())
	if c.ss == nil {
		return
	}
	if err := c.ss.ReadAck(req, tx); err != nil {
		u.log.Debug("ACK", "id", c.id, "err", err)
	}
}

func (u *UA) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := u.bySIP(req)
	if c == nil {
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
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
		u.log.Debug("BYE", "id", c.id, "err", err)
	}
	u.log.Info("far end hung up", "id", c.id)
	u.endCall(c, "bye", 0)
}

// onReInvite answers a re-INVITE (RFC 3261 §14.2): hold/resume by the far end, a new address
// (Asterisk direct media), a session refresh.
func (u *UA) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	c := u.bySIP(req)
	if c == nil {
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	if !c.mu.TryLock() { // our own re-INVITE is in flight: glare (RFC 3261 §14.2)
		tx.Respond(sip.NewResponseFromRequest(req, 491, "Request Pending", nil))
		return
	}
	d, m := c.dialog(), c.media
	c.mu.Unlock()
	if d == nil || m == nil {
		tx.Respond(sip.NewResponseFromRequest(req, 491, "Request Pending", nil))
		return
	}
	if err := d.ReadRequest(req, tx); err != nil {
		tx.Respond(sip.NewResponseFromRequest(req, 500, "Server Internal Error", nil))
		return
	}
	body := req.Body()
	var ans []byte
	var err error
	if len(body) == 0 {
		ans, err = m.Offer()
	} else {
		ans, err = m.Update(body)
	}
	if err != nil {
		u.log.Info("re-INVITE refused", "id", c.id, "err", err)
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusNotAcceptableHere, "Not Acceptable Here", nil))
		return
	}
	res := sip.NewSDPResponseFromRequest(req, ans)
	ct := u.contact()
	res.AppendHeader(&ct)
	acked := c.expectAck(req.CSeq().SeqNo)
	if err := tx.Respond(res); err != nil {
		u.log.Debug("re-INVITE answer", "id", c.id, "err", err)
	} else {
		udp := strings.EqualFold(req.Transport(), "UDP")
		u.spawn(func() {
			ackSDP, err := awaitAck(u.ctx, c.done, tx, res, udp, acked)
			switch {
			case err != nil:
				u.log.Warn("re-INVITE answer not acknowledged", "id", c.id, "err", err)
			case len(body) == 0 && len(ackSDP) > 0: // we offered: the ACK answers (RFC 3264 §5)
				if err := m.AcceptAnswer(ackSDP); err != nil {
					u.log.Warn("answer in ACK refused", "id", c.id, "err", err)
				}
			}
		})
	}
	if len(body) > 0 {
		hold := sdpHolds(body)
		c.mu.Lock()
		changed := hold != c.remoteHold
		c.remoteHold = hold
		c.mu.Unlock()
		if changed {
			u.log.Info("far end hold", "id", c.id, "on", hold)
			u.lis.CallRemoteHold(c.id, hold)
		}
	}
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
	c := u.get(id)
	if c == nil {
		return
	}
	u.spawn(func() {
		if !c.waitEstablished(u.ctx) {
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		d, m := c.dialog(), c.media
		if d == nil || m == nil {
			return
		}
		sdp, err := m.Hold(on)
		if err != nil {
			u.log.Warn("hold", "id", id, "err", err)
			return
		}
		res, err := u.reinvite(c, d, sdp)
		if err != nil {
			u.log.Warn("hold re-INVITE failed", "id", id, "on", on, "err", err)
			return
		}
		if len(res.Body()) > 0 {
			if err := m.AcceptAnswer(res.Body()); err != nil {
				u.log.Warn("hold answer refused", "id", id, "err", err)
			}
		}
		u.log.Info("hold", "id", id, "on", on)
	})
}

// reinvite sends an in-dialog INVITE and ACKs its 2xx. A challenge is not answered.
func (u *UA) reinvite(c *call, d dialog, sdp []byte) (*sip.Response, error) {
	target := c.remoteTarget()
	req := sip.NewRequest(sip.INVITE, target)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	req.SetBody(sdp)
	ctx, cancel := context.WithTimeout(u.ctx, 10*time.Second)
	defer cancel()
	res, err := d.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if !res.IsSuccess() {
		return nil, fmt.Errorf("far end answered %s", statusText(res))
	}
	ack := sip.NewRequest(sip.ACK, target)
	if err := d.WriteRequest(ack); err != nil {
		return res, fmt.Errorf("ACK: %w", err)
	}
	return res, nil
}

// SendDTMF sends digits as RFC 4733 events on the negotiated payload type.
func (u *UA) SendDTMF(id, digits string) {
	c := u.get(id)
	if c == nil {
		return
	}
	u.spawn(func() {
		m := c.media
		if m == nil {
			return
		}
		if err := m.SendDTMF(digits); err != nil {
			u.log.Warn("DTMF not sent", "id", id, "err", err)
		}
	})
}

// onInfo receives SIP INFO DTMF (application/dtmf-relay "Signal=5", or application/dtmf "5").
func (u *UA) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	c := u.bySIP(req)
	if c == nil {
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	digit, code := infoDigit(headerValue(req, "Content-Type"), req.Body())
	if code != 200 {
		tx.Respond(sip.NewResponseFromRequest(req, code, reasonOfInfo(code), nil))
		return
	}
	tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	if c.media != nil {
		c.media.ReceiveSIPInfoDTMF(digit)
	}
}

func (u *UA) hangupAll() {
	u.mu.Lock()
	calls := make([]*call, 0, len(u.calls))
	for _, c := range u.calls {
		calls = append(calls, c)
	}
	u.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range calls {
		c.mu.Lock()
		answered, incoming := c.answered, c.incoming
		c.mu.Unlock()
		switch {
		case !answered && !incoming:
			c.cancel()
		case !answered && incoming:
			u.Reject(c.id, 480)
		default:
			wg.Add(1)
			go func() {
				defer wg.Done()
				u.bye(c)
				u.endCall(c, "hangup", 0)
			}()
		}
	}
	wg.Wait()
}

// infoDigit reads the digit of a SIP INFO DTMF body: "Signal=5" for application/dtmf-relay, "5"
// for application/dtmf. The code is the status to answer: 200, 415 for another type, 400 for no
// digit.
func infoDigit(contentType string, body []byte) (rune, int) {
	ct := strings.ToLower(strings.TrimSpace(contentType))
	text := strings.TrimSpace(string(body))
	var digit rune
	switch {
	case strings.HasPrefix(ct, "application/dtmf-relay"):
		for _, line := range strings.Split(text, "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "signal") {
				if v = strings.TrimSpace(v); len(v) > 0 {
					digit = rune(v[0])
				}
			}
		}
	case strings.HasPrefix(ct, "application/dtmf"):
		if len(text) > 0 {
			digit = rune(text[0])
		}
	default:
		return 0, 415
	}
	if digit == 0 || !strings.ContainsRune("0123456789*#ABCDabcd", digit) {
		return 0, 400
	}
	if digit >= 'a' && digit <= 'd' {
		digit -= 'a' - 'A'
	}
	return digit, 200
}

func reasonOfInfo(code int) string {
	if code == 415 {
		return "Unsupported Media Type"
	}
	return "Bad Request (no DTMF signal)"
}
