package registrar

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/firmware/accounts"
	"github.com/deskphone/deskphone/firmware/sipcheck"
)

// branch is one forked leg of a proxied request.
type branch struct {
	binding     Binding
	req         *sip.Request
	terminate   func() // ends the client transaction
	provisional bool
	final       *sip.Response
	failed      bool // transport error or timeout
	cancelWant  bool
	cancelSent  bool
	bridged     bool // between a browser and a plain phone: its SDP goes through the media bridge
	srtp        bool // between an SRTP and a plain RTP leg: its SDP goes through the SRTP bridge
}

func (b *branch) finished() bool { return b.final != nil || b.failed }

type branchEvent struct {
	i   int
	res *sip.Response
	err error
}

// forkLink is what a fork transaction sends through besides its server transaction: the
// registrar in service, a recorder in tests.
type forkLink interface {
	reply(tx sip.ServerTransaction, req *sip.Request, code int, reason string, hdrs ...sip.Header)
	strayResponse(res *sip.Response)
	cancelBranch(ctx context.Context, br *branch)
}

// forkTx is the proxy side of one forked request (RFC 3261 §16.5–§16.7): it owns the branches'
// state and handles one event at a time, each with its own method. run feeds it.
type forkTx struct {
	link           forkLink
	log            *slog.Logger
	ctx            context.Context
	req            *sip.Request
	tx             sip.ServerTransaction
	caller, callee accounts.Account
	ringTimeout    time.Duration
	branches       []*branch
	// divert sends an unanswered INVITE to the callee's voicemail and reports whether it did
	// (nil: no voicemail).
	divert func(why string) bool

	finalSent bool // a final response went upstream (or sipgo sent 487 on CANCEL)
	answered  bool
	best      *sip.Response // best final non-2xx so far
	reason    string        // why the remaining branches were cancelled
	hardStop  <-chan time.Time
	// media passes the SDP of a bridged branch's response through the media bridge (nil
	// without one).
	media func(br *branch, up *sip.Response)
	// onAnswered records the answer (res as the callee sent it, up as the caller gets it).
	onAnswered func(br *branch, res, up *sip.Response)
}

// fork sends req to every target in parallel and relays the outcome (RFC 3261 §16.5–§16.7).
func (r *Registrar) fork(req *sip.Request, tx sip.ServerTransaction, caller, callee accounts.Account, targets []Binding) {
	ctx := r.context()
	invite := req.IsInvite()
	events := make(chan branchEvent, 8)
	stop := make(chan struct{})
	var readers sync.WaitGroup
	defer func() {
		close(stop)
		readers.Wait()
	}()

	f := &forkTx{link: r, log: r.log, ctx: ctx, req: req, tx: tx, caller: caller, callee: callee, ringTimeout: r.ringTimeout(callee),
		divert: func(why string) bool { return r.toVoicemail(req, tx, caller, callee, why) }}
	if invite {
		r.calls.begin(req.CallID().Value(), caller.Extension, callee.Extension, req.Transport(), r.clock.Now())
	}
	offer := newBridgedOffer(r, req)
	sec := r.newSRTPOffer(req, caller, callee)
	if why := sec.check(); why != "" {
		r.refuseMedia(tx, req, why)
		return
	}
	for _, b := range targets {
		var target sip.Uri
		var err error
		if err = sip.ParseUri(b.Contact, &target); err != nil {
			continue
		}
		fwd := r.forwardCopy(req, target, b.Source, b.Transport, invite)
		bridged := invite && r.crossesBridge(req.Transport(), b.Transport)
		if bridged {
			if err := offer.apply(fwd, isWS(b.Transport)); err != nil {
				if offer.fatal {
					r.reply(tx, req, 488, "Not Acceptable Here")
					return
				}
				continue
			}
		}
		srtp := false
		if invite && !bridged {
			if srtp, err = sec.apply(fwd, b); err != nil {
				continue
			}
		}
		ctxTx, err := r.client.TransactionRequest(ctx, fwd, asBuilt)
		if err != nil {
			r.log.Warn("cannot reach phone", "callee", callee.Extension, "contact", b.Contact, "dst", b.Source, "err", err, "call_id", req.CallID().Value())
			continue
		}
		if invite {
			ctxTx.OnRetransmission(func(res *sip.Response) { r.strayResponse(res) })
		}
		i := len(f.branches)
		f.branches = append(f.branches, &branch{binding: b, req: fwd, terminate: ctxTx.Terminate, bridged: bridged, srtp: srtp})
		readers.Go(func() { readBranch(i, ctxTx, events, stop) })
	}
	if len(f.branches) == 0 {
		r.closeMedia(req.CallID().Value())
		if sec.refused != "" {
			r.refuseMedia(tx, req, sec.refused)
			return
		}
		r.calls.failed(req.CallID().Value(), 480, "no phone reachable")
		r.reply(tx, req, 480, "Temporarily Unavailable")
		return
	}
	if offer.used || sec.used {
		hadSDP := len(req.Body()) > 0
		f.media = func(br *branch, up *sip.Response) {
			if br.bridged {
				_ = r.bridgeResponse(hadSDP, up, br.binding.Transport)
			}
			if br.srtp && up.StatusCode > 100 && up.StatusCode < 300 {
				r.srtpBranchAnswer(up, up.StatusCode >= 200 && f.answered)
			}
		}
		defer func() {
			if !f.answered {
				r.closeMedia(req.CallID().Value())
			}
		}()
	}

	if invite {
		f.onAnswered = func(br *branch, res, up *sip.Response) {
			bridge := ""
			if br.bridged {
				bridge = BridgeWebRTC
			} else if br.srtp {
				bridge = BridgeSRTP
			} else {
				r.closeSRTP(req.CallID().Value()) // a branch without the bridge answered
			}
			r.calls.answered(req.CallID().Value(), br.binding.Transport, up.Body(), res.Body(), bridge, r.clock.Now())
			if bridge != "" {
				r.anchor(req, res, br.binding, caller.Extension, callee.Extension)
			}
		}
		defer func() {
			if !f.answered {
				status, why := 408, f.reason
				if f.best != nil {
					status = f.best.StatusCode
				}
				r.calls.failed(req.CallID().Value(), status, why)
			}
		}()
	}

	cancelled := make(chan struct{}, 1)
	if invite && !tx.OnCancel(func(*sip.Request) {
		select {
		case cancelled <- struct{}{}:
		default:
		}
	}) {
		cancelled <- struct{}{}
	}
	if invite {
		defer r.watchRinging(req, f.branches, cancelled)()
	}
	f.run(events, cancelled)
}

// readBranch passes one branch's responses and its end to the fork transaction.
func readBranch(i int, ctxTx sip.ClientTransaction, events chan<- branchEvent, stop <-chan struct{}) {
	for {
		select {
		case res := <-ctxTx.Responses():
			select {
			case events <- branchEvent{i: i, res: res}:
			case <-stop:
				return
			}
			if res.StatusCode >= 200 {
				return
			}
		case <-ctxTx.Done():
			select {
			case events <- branchEvent{i: i, err: ctxTx.Err()}:
			case <-stop:
			}
			return
		case <-stop:
			return
		}
	}
}

// run handles events until every branch finished, then sends the final response if none went
// upstream yet. The ring timer starts here.
func (f *forkTx) run(events <-chan branchEvent, cancelled <-chan struct{}) {
	ring := time.NewTimer(f.ringTimeout)
	defer ring.Stop()
	for f.pending() > 0 {
		select {
		case ev := <-events:
			br := f.branches[ev.i]
			switch {
			case ev.err != nil:
				f.onBranchError(br)
			case ev.res.StatusCode < 200:
				f.onProvisional(br, ev.res)
			case ev.res.StatusCode < 300:
				f.onAnswer(br, ev.res)
			default:
				f.onFailure(br, ev.res)
			}
		case <-cancelled:
			f.onCancel()
		case <-ring.C:
			f.onRingTimeout()
		case <-f.hardStop:
			f.onHardStop()
		case <-f.ctx.Done():
			f.onShutdown()
			return
		}
	}
	f.finish()
}

func (f *forkTx) pending() int {
	n := 0
	for _, br := range f.branches {
		if !br.finished() {
			n++
		}
	}
	return n
}

func (f *forkTx) callID() string { return f.req.CallID().Value() }

// cancelRest cancels every branch still running (RFC 3261 §16.7 step 10 after a 2xx or 6xx,
// §16.10 after CANCEL) and gives them 64×T1 to finish.
func (f *forkTx) cancelRest(why string) {
	for _, br := range f.branches {
		if !br.finished() && !br.cancelWant {
			br.cancelWant = true
			if br.provisional {
				f.link.cancelBranch(f.ctx, br)
			}
		}
	}
	if f.hardStop == nil {
		f.hardStop = time.After(64 * sip.T1)
	}
	f.reason = why
}

// onBranchError: a transport error or timeout ended the branch.
func (f *forkTx) onBranchError(br *branch) {
	if !br.finished() {
		br.failed = true
	}
}

// onProvisional relays 1xx other than 100 (RFC 3261 §16.7 step 5) and sends a CANCEL that had to
// wait for one (RFC 3261 §9.1).
func (f *forkTx) onProvisional(br *branch, res *sip.Response) {
	br.provisional = true
	if br.cancelWant && !br.cancelSent {
		f.link.cancelBranch(f.ctx, br)
	}
	if res.StatusCode > 100 && !f.finalSent {
		if up, ok := upstream(res); ok {
			if f.media != nil {
				f.media(br, up)
			}
			_ = f.tx.Respond(up)
		}
	}
}

// onAnswer relays a 2xx. Every 2xx goes upstream (RFC 3261 §16.7 step 5). After a CANCEL or a
// ring timeout the server transaction is closed, so it goes statelessly: the caller then ACKs
// and hangs up the call it did not want (RFC 3261 §9.1).
func (f *forkTx) onAnswer(br *branch, res *sip.Response) {
	br.final = res
	if f.finalSent && !f.answered {
		f.link.strayResponse(res) // not through tx: sipgo would keep it as the response to retransmit
	} else if up, ok := upstream(res); ok {
		if f.media != nil {
			f.media(br, up)
		}
		if f.onAnswered != nil && !f.answered {
			f.onAnswered(br, res, up)
		}
		if f.tx.Respond(up) != nil {
			f.link.strayResponse(res)
		}
	}
	if !f.answered {
		f.log.Info("call answered", "caller", f.caller.Extension, "callee", f.callee.Extension, "contact", br.binding.Contact, "call_id", f.callID())
	}
	f.finalSent, f.answered = true, true
	f.cancelRest("answered elsewhere")
}

// onFailure keeps the best final non-2xx (RFC 3261 §16.7 step 6); a 6xx ends the search.
func (f *forkTx) onFailure(br *branch, res *sip.Response) {
	br.final = res
	if f.best == nil || betterResponse(res, f.best) {
		f.best = res
	}
	if res.StatusCode >= 600 {
		f.cancelRest("declined")
	}
}

// onCancel: the caller sent CANCEL (sipgo already answered it and the INVITE with 487).
func (f *forkTx) onCancel() {
	if !f.finalSent {
		f.log.Info("call cancelled by caller", "caller", f.caller.Extension, "callee", f.callee.Extension, "call_id", f.callID())
	}
	f.finalSent = true
	f.cancelRest("cancelled by caller")
}

// onRingTimeout: nobody answered within the ring time; the call goes to the callee's voicemail,
// or the caller gets 480.
func (f *forkTx) onRingTimeout() {
	if f.finalSent || !f.req.IsInvite() {
		return
	}
	if f.divert != nil && f.divert("no answer") {
		f.finalSent = true
		f.cancelRest("ring timeout: to voicemail")
		return
	}
	f.log.Info("call failed: no answer", "caller", f.caller.Extension, "callee", f.callee.Extension, "after", f.ringTimeout.String(), "call_id", f.callID())
	f.link.reply(f.tx, f.req, 480, "Temporarily Unavailable")
	f.finalSent = true
	f.cancelRest("ring timeout")
}

// onHardStop: branches that did not finish within 64×T1 of their CANCEL are given up.
func (f *forkTx) onHardStop() {
	for _, br := range f.branches {
		if !br.finished() {
			br.terminate()
			br.failed = true
		}
	}
}

// onShutdown: the registrar stops.
func (f *forkTx) onShutdown() {
	for _, br := range f.branches {
		br.terminate()
		br.failed = true
	}
}

// finish sends the final response once every branch is done, unless one went upstream already.
func (f *forkTx) finish() {
	if f.finalSent {
		return
	}
	if why, ok := unanswered(f.best); ok && f.divert != nil && f.divert(why) {
		return
	}
	if f.best == nil {
		f.log.Info("call failed: no phone answered the request", "caller", f.caller.Extension, "callee", f.callee.Extension, "call_id", f.callID())
		f.link.reply(f.tx, f.req, 408, "Request Timeout")
		return
	}
	f.log.Info("call failed", "caller", f.caller.Extension, "callee", f.callee.Extension, "status", f.best.StatusCode, "reason", f.best.Reason, "cause", f.reason, "call_id", f.callID())
	if f.best.StatusCode == 503 {
		f.link.reply(f.tx, f.req, 500, "Server Internal Error") // RFC 3261 §16.7 step 6
		return
	}
	if up, ok := upstream(f.best); ok {
		_ = f.tx.Respond(up)
	}
}

// betterResponse picks the response to relay among final non-2xx ones (RFC 3261 §16.7 step 6):
// 6xx wins, then the lowest class, preferring 486/480 over other 4xx.
func betterResponse(a, b *sip.Response) bool {
	rank := func(s int) int {
		switch {
		case s >= 600:
			return 0
		case s == 486 || s == 480:
			return 1
		case s >= 400 && s < 500 && s != 408:
			return 2
		case s >= 300 && s < 400:
			return 3
		case s >= 500:
			return 4
		}
		return 5
	}
	return rank(a.StatusCode) < rank(b.StatusCode)
}

// cancelBranch sends CANCEL for one branch (RFC 3261 §9.1: same Request-URI, Call-ID, To, From,
// CSeq number and top Via as the INVITE).
func (r *Registrar) cancelBranch(ctx context.Context, br *branch) {
	br.cancelSent = true
	inv := br.req
	c := sip.NewRequest(sip.CANCEL, *inv.Recipient.Clone())
	c.AppendHeader(inv.Via().Clone())
	for h := range sipcheck.Headers(inv.Headers(), "Route") {
		c.AppendHeader(sip.NewHeader("Route", h.Value()))
	}
	mf := sip.MaxForwardsHeader(70)
	c.AppendHeader(&mf)
	c.AppendHeader(sip.NewHeader("From", inv.From().Value()))
	c.AppendHeader(sip.NewHeader("To", inv.To().Value()))
	c.AppendHeader(sip.NewHeader("Call-ID", inv.CallID().Value()))
	c.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	c.AppendHeader(sip.NewHeader("User-Agent", r.cfg.ServerName))
	cl := sip.ContentLengthHeader(0)
	c.AppendHeader(&cl)
	c.SetTransport(inv.Transport())
	c.SetDestination(inv.Destination())
	c.Laddr = inv.Laddr
	r.spawn(func() {
		cctx, cancel := context.WithTimeout(ctx, 32*time.Second)
		defer cancel()
		if _, err := r.client.Do(cctx, c, asBuilt); err != nil {
			r.log.Debug("CANCEL got no answer", "dst", c.Destination(), "err", err)
		}
	})
}
