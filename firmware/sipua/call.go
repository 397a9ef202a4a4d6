package sipua

import (
	"context"
	"log/slog"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// phase is where a call stands.
type phase int

const (
	phaseOffered     phase = iota // INVITE sent (outgoing) or received (incoming), no final answer yet
	phaseAnswered                 // incoming: our 2xx is sent, its ACK not yet here
	phaseEstablished              // answered and acknowledged: in-dialog requests may go
	phaseEnded
)

// call is one SIP call and its media. A call has one goroutine, run, that owns its state: SIP
// handlers, the phone's requests, transaction results and timers all reach it through post, in
// order. Blocking work (a client transaction, a BYE) runs in goroutines started by spawn that post
// their result back.
type call struct {
	u         *UA
	id        string
	incoming  bool
	peer      string
	sipCallID string       // set before the call is indexed, never changed
	media     MediaSession // set before run starts, never changed
	log       *slog.Logger

	events chan func()   // work for run
	done   chan struct{} // closed when the call ended
	exited chan struct{} // closed when run returned

	// Owned by run.
	phase      phase
	cs         *sipgo.DialogClientSession // outgoing
	ss         *sipgo.DialogServerSession // incoming
	cancel     context.CancelFunc         // outgoing: CANCELs the INVITE while unanswered
	hangup     bool                       // hang up as soon as the call is answered (or acknowledged)
	remoteHold bool
	ack        *awaitedAck // our 2xx to an INVITE, retransmitted until its ACK
	inFlight   *sip.Request
	queue      []func() // in-dialog requests of ours waiting for the one in flight or for the ACK
	transfer   *transfer
	settled    chan struct{}         // incoming: closed once the INVITE has its final response
	inviteTx   sip.ServerTransaction // incoming: the dialog's first INVITE
	answerWith func()                // incoming: sends our 2xx
	lateOffer  bool                  // incoming: our 2xx carries the offer, the ACK the answer
	referredBy string                // outgoing: the call whose far end asked for this one (REFER)
	early      bool                  // outgoing: early media applied from a 183
	silent     time.Duration         // the far end's silence reported to the phone (0: none)
}

func (u *UA) newCall(id string, incoming bool, peer string) *call {
	return &call{u: u, id: id, incoming: incoming, peer: peer, log: u.log.With("id", id),
		events: make(chan func(), 64), done: make(chan struct{}), exited: make(chan struct{})}
}

// start indexes the call and runs its goroutine, which begins with first.
func (u *UA) start(c *call, first func()) {
	u.mu.Lock()
	u.calls[c.id] = c
	if c.sipCallID != "" {
		u.byCallID[c.sipCallID] = c
	}
	u.mu.Unlock()
	u.callWG.Add(1)
	go c.run(first)
}

func (c *call) run(first func()) {
	defer c.u.callWG.Done()
	defer close(c.exited)
	first()
	for c.phase != phaseEnded {
		(<-c.events)()
	}
}

// post hands f to the call's goroutine; false when the call has ended.
func (c *call) post(f func()) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	select {
	case c.events <- f:
		return true
	case <-c.done:
		return false
	}
}

// spawn runs blocking work for the call; Run waits for it before closing the SIP sockets.
func (c *call) spawn(f func()) {
	c.u.callWG.Add(1)
	go func() {
		defer c.u.callWG.Done()
		f()
	}()
}

// after posts f to the call once d has passed; the returned function stops it.
func (c *call) after(d time.Duration, f func()) (stop func() bool) {
	return time.AfterFunc(d, func() { c.post(f) }).Stop
}

// serve hands a request of the call's dialog to run and waits until it is answered: sipgo ends a
// server transaction when its handler returns. A call that ended meanwhile answers 481.
func (c *call) serve(req *sip.Request, tx sip.ServerTransaction, f func()) {
	handled := make(chan struct{})
	if c.post(func() { defer close(handled); f() }) {
		select {
		case <-handled:
			return
		case <-c.exited:
			select {
			case <-handled:
				return
			default:
			}
		}
	}
	tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
}

// end forgets the call, closes its media and reports the end once.
func (c *call) end(reason string, code int) {
	if c.phase == phaseEnded {
		return
	}
	c.phase = phaseEnded
	u := c.u
	u.mu.Lock()
	delete(u.calls, c.id)
	if c.sipCallID != "" && u.byCallID[c.sipCallID] == c {
		delete(u.byCallID, c.sipCallID)
	}
	u.mu.Unlock()
	if c.ack != nil {
		c.ack.stop()
		c.ack = nil
	}
	if c.transfer != nil {
		c.transfer.stop()
		c.transfer = nil
	}
	if c.settled != nil {
		select {
		case <-c.settled:
		default:
			close(c.settled)
		}
	}
	close(c.done)
	if c.media != nil {
		c.media.Close()
	}
	c.log.Info("call ended", "reason", reason, "code", code)
	u.lis.CallEnded(c.id, reason, code)
	if c.referredBy != "" {
		if code == 0 || code == 200 {
			code = 487
		}
		u.referDone(c.referredBy, code)
	}
}

// established marks the call answered and acknowledged, reports it and sends what waited for it.
func (c *call) established() {
	c.phase = phaseEstablished
	c.log.Info("call answered")
	c.watchDTMF()
	c.after(silenceCheck, c.checkSilence)
	c.u.lis.CallAnswered(c.id)
	if c.referredBy != "" {
		c.u.referDone(c.referredBy, 200)
		c.referredBy = ""
	}
	if c.hangup {
		c.hangUp()
		return
	}
	c.next()
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

// callOf is the call an in-dialog request belongs to; nil, after answering 481, for none.
func (u *UA) callOf(req *sip.Request, tx sip.ServerTransaction) *call {
	c := u.bySIP(req)
	if c == nil {
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
	}
	return c
}

// do posts f to the call id; nothing happens for a call that does not exist (any more).
func (u *UA) do(id string, f func(c *call)) {
	if c := u.get(id); c != nil {
		c.post(func() { f(c) })
	}
}

// Media returns the media session of a call, nil when there is none.
func (u *UA) Media(id string) MediaSession {
	c := u.get(id)
	if c == nil {
		return nil
	}
	return c.media
}

// Hangup ends a call: CANCEL while ringing out, BYE once answered, 603 for an unanswered incoming one.
func (u *UA) Hangup(id string) { u.do(id, func(c *call) { c.hangUpWith(603) }) }

// hangUpWith ends the call as the user asked; an unanswered incoming call gets code.
func (c *call) hangUpWith(code int) {
	switch {
	case c.phase == phaseOffered && !c.incoming:
		c.hangup = true
		c.cancel() // the INVITE transaction ends with 487 and reports it
	case c.phase == phaseOffered:
		c.reject(code)
	case c.phase == phaseAnswered:
		c.hangup = true // BYE once the ACK is here or overdue
	case c.phase == phaseEstablished:
		c.hangUp()
	}
}

// silenceCheck is how often an established call asks its media whether the far end went silent.
const silenceCheck = time.Second

// checkSilence reports to the phone a far end that sent nothing past the RTP timeout (the phone
// decides to hang up), once per silence, and checks again later.
func (c *call) checkSilence() {
	if c.phase != phaseEstablished || c.media == nil {
		return
	}
	silent, timedOut := c.media.Silence()
	switch {
	case timedOut && c.silent == 0:
		c.silent = silent
		c.log.Warn("no audio from the far end: RTP timeout", "silent", silent.Round(time.Second).String())
		c.u.lis.CallSilent(c.id, silent)
	case !timedOut:
		c.silent = 0
	}
	c.after(silenceCheck, c.checkSilence)
}

// hangUp sends BYE and ends the call without waiting for the far end's 200.
func (c *call) hangUp() {
	c.bye()
	c.end("hangup", 0)
}

// hangupAll ends every call for shutdown; Run waits for the BYEs.
func (u *UA) hangupAll() {
	u.mu.Lock()
	calls := make([]*call, 0, len(u.calls))
	for _, c := range u.calls {
		calls = append(calls, c)
	}
	u.mu.Unlock()
	for _, c := range calls {
		c.post(func() {
			if c.phase == phaseAnswered { // no waiting for the ACK at shutdown
				c.phase = phaseEstablished
			}
			c.hangUpWith(480)
		})
	}
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
