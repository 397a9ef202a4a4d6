package registrar

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/firmware/sipcheck"
	"github.com/deskphone/deskphone/firmware/sipid"
)

// Ending the calls the Pi anchors when one side is gone without a BYE (a browser tab closed, a
// softphone killed, a phone unplugged), as Kamailio's dialog module (dlg_bye) and Asterisk's
// rtptimeout do: for each call whose media goes through one of its bridges, the proxy keeps
// what a BYE to each leg needs (RFC 3261 §12.2.1.1, §15.1.1: the leg's tags, its remote target,
// the route set and the CSeq the other side reached), and sends that BYE to every leg still
// there when the browser's WebSocket closes or a bridge reports the media dead. The record goes
// with the call's BYE; at most maxAnchored are kept.

// MediaReport is a media bridge's word that a call's media died.
type MediaReport struct {
	CallID string
	// Leg is whose media stopped: LegCaller, LegCallee, LegBrowser, LegPhone, or "" for the
	// whole call.
	Leg string
	// Silent is how long nothing came from that leg; 0 when Cause says what failed instead.
	Silent time.Duration
	Cause  string // e.g. "ICE connectivity lost", when Silent is 0
}

// Legs a MediaReport names: by role in the call, or (WebRTC bridge) by kind of phone.
const (
	LegCaller  = "caller"
	LegCallee  = "callee"
	LegBrowser = "browser" // the leg on the SIP WebSocket
	LegPhone   = "phone"   // the plain RTP leg of a browser call
)

// WithMediaReports makes the registrar end the calls its bridges report dead: it reads ch while
// it runs, sends a BYE to each leg and notes the reason in the call list.
func WithMediaReports(ch <-chan MediaReport) Option {
	return func(r *Registrar) { r.mediaReports = ch }
}

// maxAnchored bounds the dialogs kept for hanging up (a call whose BYE went missing stays until
// crowded out).
const maxAnchored = 1024

// byeTimeout bounds the wait for the answer to a BYE of ours (Timer F, 64×T1).
const byeTimeout = 32 * time.Second

// dialogLeg is one side of an anchored call, as a BYE to it must name it.
type dialogLeg struct {
	ext       string         // its extension, for the log and the call list
	tag       string         // its own tag
	target    sip.Uri        // Request-URI: its Contact, the remote target
	from      sip.FromHeader // the other side's address and tag
	to        sip.ToHeader   // its own address and tag
	routes    []sip.Uri      // the route set beyond this proxy toward it, nearest first
	dest      string         // where the BYE goes (ip:port)
	transport string
	ws        bool   // it is a browser on a WebSocket: dest is its connection
	cseq      uint32 // the highest CSeq the other side used toward it
}

// anchoredCall is one call the Pi bridges, with its two legs: the caller's, then the callee's.
type anchoredCall struct {
	callID string
	legs   [2]*dialogLeg
}

// anchoredCalls is the set of anchored calls by Call-ID.
type anchoredCalls struct {
	mu    sync.Mutex
	calls map[string]*anchoredCall
}

func (a *anchoredCalls) add(c *anchoredCall) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.calls == nil {
		a.calls = map[string]*anchoredCall{}
	}
	if _, ok := a.calls[c.callID]; !ok && len(a.calls) >= maxAnchored {
		for id := range a.calls {
			delete(a.calls, id)
			break
		}
	}
	a.calls[c.callID] = c
}

// take removes and returns callID's call (nil if it is not anchored).
func (a *anchoredCalls) take(callID string) *anchoredCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.calls[callID]
	delete(a.calls, callID)
	return c
}

// peek returns callID's call, left in the set (nil if it is not anchored).
func (a *anchoredCalls) peek(callID string) *anchoredCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[callID]
}

// onFlow lists the calls with a leg on the WebSocket connection from src, with that leg's index.
func (a *anchoredCalls) onFlow(src string) map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]int{}
	for id, c := range a.calls {
		for i, l := range c.legs {
			if l.ws && l.dest == src {
				out[id] = i
			}
		}
	}
	return out
}

// ofDialog reports whether an in-dialog request belongs to the anchored call of its Call-ID:
// its tags are the call's two legs'. A call not anchored (not bridged, or crowded out) has no
// dialog to tell from others: any request of its Call-ID is taken as its own.
func (a *anchoredCalls) ofDialog(req *sip.Request) bool {
	cid, from, to := req.CallID(), req.From(), req.To()
	if cid == nil || from == nil || to == nil {
		return false
	}
	ft, _ := from.Params.Get("tag")
	tt, _ := to.Params.Get("tag")
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.calls[cid.Value()]
	if c == nil {
		return true
	}
	l0, l1 := c.legs[0].tag, c.legs[1].tag
	return (ft == l0 && tt == l1) || (ft == l1 && tt == l0)
}

// saw follows an in-dialog request of an anchored call: the CSeq the sender reached toward the
// other leg, and the sender's new Contact after a target refresh (RFC 3261 §12.2.2).
func (a *anchoredCalls) saw(req *sip.Request) {
	cid, from, cseq := req.CallID(), req.From(), req.CSeq()
	if cid == nil || from == nil || cseq == nil {
		return
	}
	tag, _ := from.Params.Get("tag")
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.calls[cid.Value()]
	if c == nil {
		return
	}
	for i, l := range c.legs {
		if l.tag != tag {
			continue
		}
		other := c.legs[1-i]
		other.cseq = max(other.cseq, cseq.SeqNo)
		if ct := req.Contact(); ct != nil && (req.IsInvite() || req.Method == sip.UPDATE) && !l.ws {
			l.target = *ct.Address.Clone()
		}
	}
}

// hopResolver finds where a request for u goes, as in-dialog requests are routed (resolveHop).
type hopResolver func(u sip.Uri) (dest, transport string, ok bool)

// newAnchoredCall gathers from a call's INVITE (as the caller sent it), the 2xx that answered it
// (as the callee sent it, with every Record-Route) and the callee's binding what a BYE to each
// leg needs. ours tells this proxy's Record-Route entries from others'.
func newAnchoredCall(inv *sip.Request, ok *sip.Response, bound Binding, callerExt, calleeExt string, ours func(sip.Uri) bool, resolve hopResolver) (*anchoredCall, error) {
	if inv.From() == nil || ok.To() == nil || inv.CallID() == nil || inv.CSeq() == nil {
		return nil, errors.New("the dialog misses From, To, Call-ID or CSeq")
	}
	callerTag, _ := inv.From().Params.Get("tag")
	calleeTag, _ := ok.To().Params.Get("tag")
	if callerTag == "" || calleeTag == "" {
		return nil, errors.New("the dialog has no tags")
	}
	caller := &dialogLeg{ext: callerExt, tag: callerTag, ws: isWS(inv.Transport()),
		from: sip.FromHeader{DisplayName: ok.To().DisplayName, Address: *ok.To().Address.Clone(), Params: ok.To().Params.Clone()},
		to:   sip.ToHeader{DisplayName: inv.From().DisplayName, Address: *inv.From().Address.Clone(), Params: inv.From().Params.Clone()}}
	callee := &dialogLeg{ext: calleeExt, tag: calleeTag, ws: isWS(bound.Transport), cseq: inv.CSeq().SeqNo,
		from: sip.FromHeader{DisplayName: inv.From().DisplayName, Address: *inv.From().Address.Clone(), Params: inv.From().Params.Clone()},
		to:   sip.ToHeader{DisplayName: ok.To().DisplayName, Address: *ok.To().Address.Clone(), Params: ok.To().Params.Clone()}}
	caller.target = inv.From().Address
	if ct := inv.Contact(); ct != nil {
		caller.target = *ct.Address.Clone()
	}
	callee.target = *inv.Recipient.Clone()
	if ct := ok.Contact(); ct != nil {
		callee.target = *ct.Address.Clone()
	}
	// The Record-Route of the 2xx lists the proxies from the callee down to the caller (RFC 3261
	// §16.6 step 4, §12.1.1): those above our entries are toward the callee, nearest us last;
	// those below, toward the caller, nearest us first. The caller's INVITE brought the latter.
	var above []sip.Uri
	seenOurs := false
	for h := range sipcheck.Headers(ok.Headers(), "Record-Route") {
		rr, isRR := h.(*sip.RecordRouteHeader)
		if !isRR {
			continue
		}
		switch {
		case ours(rr.Address):
			seenOurs = true
		case !seenOurs:
			above = append(above, *rr.Address.Clone())
		}
	}
	slices.Reverse(above)
	callee.routes = above
	for h := range sipcheck.Headers(inv.Headers(), "Record-Route") {
		if rr, isRR := h.(*sip.RecordRouteHeader); isRR && !ours(rr.Address) {
			caller.routes = append(caller.routes, *rr.Address.Clone())
		}
	}
	// Where each BYE goes: a browser's connection; else the first route, or for a UDP phone its
	// Contact; else (a phone on TCP or TLS, or an unresolvable target) where it was reached.
	place := func(l *dialogLeg, src, transport string) {
		l.dest, l.transport = src, transport
		next := l.target
		switch {
		case l.ws:
			return // a browser is reached only over its connection (RFC 7118 §5.2)
		case len(l.routes) > 0:
			next = l.routes[0]
		case !strings.EqualFold(transport, "UDP"):
			return // a phone on TCP or TLS is reached over the connection it keeps open
		}
		if d, tp, found := resolve(next); found {
			l.dest, l.transport = d, tp
		}
	}
	place(caller, inv.Source(), inv.Transport())
	place(callee, bound.Source, bound.Transport)
	return &anchoredCall{callID: inv.CallID().Value(), legs: [2]*dialogLeg{caller, callee}}, nil
}

// anchor keeps an answered call that goes through a bridge, to hang it up if one side vanishes.
func (r *Registrar) anchor(inv *sip.Request, ok *sip.Response, callee Binding, callerExt, calleeExt string) {
	c, err := newAnchoredCall(inv, ok, callee, callerExt, calleeExt, r.isOurURI, r.resolveHop)
	if err != nil {
		r.log.Debug("bridged call not watched", "call_id", inv.CallID().Value(), "err", err)
		return
	}
	r.anchored.add(c)
	for i, l := range c.legs { // a browser gone while its answer was on the way: no close to come
		if l.ws && !r.wsOpen(l.dest) {
			r.endCall(c.callID, i, browserGone)
			return
		}
	}
}

// browserGone is why a call ends when its browser's WebSocket closed.
const browserGone = "browser tab closed (its SIP WebSocket closed)"

// byeRequest builds the BYE this proxy sends to one leg of a call it ends (RFC 3261 §15.1.1 as
// if from the other side), with a Reason saying why (RFC 3326).
func (r *Registrar) byeRequest(callID string, l *dialogLeg, why string) *sip.Request {
	tp := strings.ToUpper(l.transport)
	if l.ws {
		tp = "WSS"
	}
	bye := sip.NewRequest(sip.BYE, *l.target.Clone())
	host := r.localHost(l.dest)
	r.mu.Lock()
	port, lip := r.portFor(tp), r.listenIP
	r.mu.Unlock()
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: tp, Host: host, Port: port, Params: sip.NewParams()}
	via.Params.Add("branch", branchPrefix+sipid.Token(12))
	bye.AppendHeader(via)
	for _, u := range l.routes {
		bye.AppendHeader(&sip.RouteHeader{Address: *u.Clone()})
	}
	mf := sip.MaxForwardsHeader(70)
	bye.AppendHeader(&mf)
	from, to := l.from, l.to
	from.Params, to.Params = l.from.Params.Clone(), l.to.Params.Clone()
	bye.AppendHeader(&from)
	bye.AppendHeader(&to)
	cid := sip.CallIDHeader(callID)
	bye.AppendHeader(&cid)
	bye.AppendHeader(&sip.CSeqHeader{SeqNo: l.cseq + 1, MethodName: sip.BYE})
	bye.AppendHeader(sip.NewHeader("Reason", `SIP;cause=408;text="`+quotedText(why)+`"`))
	bye.AppendHeader(sip.NewHeader("User-Agent", r.cfg.ServerName))
	cl := sip.ContentLengthHeader(0)
	bye.AppendHeader(&cl)
	bye.SetTransport(tp)
	bye.SetDestination(l.dest)
	if tp == "UDP" {
		if lip == nil {
			lip = net.IPv4zero
		}
		bye.Laddr = sip.Addr{IP: lip, Port: port}
	}
	return bye
}

// quotedText makes s fit in a quoted-string (RFC 3261 §25.1): no quote, backslash or control.
func quotedText(s string) string {
	return strings.Map(func(c rune) rune {
		switch {
		case c == '"':
			return '\''
		case c == '\\':
			return '/'
		case c < 0x20 || c == 0x7f:
			return ' '
		}
		return c
	}, s)
}

// endCall hangs up an anchored call from the proxy: its media is released, a BYE goes to every
// leg but gone (the leg that vanished, if known: -1 for none) and the call list says why. It
// reports whether callID was anchored.
func (r *Registrar) endCall(callID string, gone int, why string) bool {
	c := r.anchored.take(callID)
	if c == nil {
		return false
	}
	r.log.Info("call ended by the Pi: one side is gone", "why", why, "caller", c.legs[0].ext, "callee", c.legs[1].ext, "call_id", callID)
	r.calls.endedBy(callID, why, r.clock.Now())
	r.closeMedia(callID)
	ctx := r.context()
	for i, l := range c.legs {
		if i == gone {
			continue
		}
		bye := r.byeRequest(callID, l, why)
		r.spawn(func() { r.sendBye(ctx, bye, l.ext) })
	}
	return true
}

// sendBye sends one BYE of ours and waits for its answer; none, or 481 (the phone already
// forgot the call), is fine.
func (r *Registrar) sendBye(ctx context.Context, bye *sip.Request, ext string) {
	ctx, cancel := context.WithTimeout(ctx, byeTimeout)
	defer cancel()
	res, err := r.client.Do(ctx, bye, asBuilt)
	switch {
	case err != nil:
		r.log.Debug("BYE of the Pi got no answer", "extension", ext, "dst", bye.Destination(), "err", err, "call_id", bye.CallID().Value())
	case res.StatusCode >= 300:
		r.log.Debug("BYE of the Pi refused", "extension", ext, "status", res.StatusCode, "call_id", bye.CallID().Value())
	default:
		r.log.Info("phone hung up by the Pi", "extension", ext, "call_id", bye.CallID().Value())
	}
}

// flowWatchers are what to do when a WebSocket connection closes while a call through it
// rings: cancel the call its browser placed, give up the branch ringing it.
type flowWatchers struct {
	mu    sync.Mutex
	next  int
	bySrc map[string]map[int]func()
}

// watchRinging arranges, while a call rings, that its browser caller closing its WebSocket
// cancels it (as its CANCEL would) and that a browser callee doing so ends its branch at once
// (not after Timer B). The returned function undoes it.
func (r *Registrar) watchRinging(req *sip.Request, branches []*branch, cancelled chan<- struct{}) (stop func()) {
	if !isWS(req.Transport()) && !slices.ContainsFunc(branches, func(br *branch) bool { return isWS(br.binding.Transport) }) {
		return func() {} // no browser in the call: nothing to watch
	}
	w := &r.flowWatch
	var gone []func() // watched on a connection that closed already: its close is past
	defer func() {
		for _, f := range gone {
			f()
		}
	}()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.bySrc == nil {
		w.bySrc = map[string]map[int]func(){}
	}
	var keys []struct {
		src string
		id  int
	}
	add := func(src string, f func()) {
		if w.bySrc[src] == nil {
			w.bySrc[src] = map[int]func(){}
		}
		w.next++
		w.bySrc[src][w.next] = f
		if !r.wsOpen(src) {
			gone = append(gone, f)
		}
		keys = append(keys, struct {
			src string
			id  int
		}{src, w.next})
	}
	if isWS(req.Transport()) {
		add(req.Source(), func() {
			select {
			case cancelled <- struct{}{}:
			default:
			}
		})
	}
	for _, br := range branches {
		if isWS(br.binding.Transport) {
			add(br.binding.Source, sync.OnceFunc(br.terminate)) // a close may also fire it
		}
	}
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, k := range keys {
			delete(w.bySrc[k.src], k.id)
			if len(w.bySrc[k.src]) == 0 {
				delete(w.bySrc, k.src)
			}
		}
	}
}

// wsOpen reports whether a WebSocket connection from src is open.
func (r *Registrar) wsOpen(src string) bool {
	r.ws.mu.Lock()
	defer r.ws.mu.Unlock()
	return r.ws.byAddr[src] != nil
}

// flowGone ends the calls of a browser whose WebSocket closed: its tab was closed, the browser
// quit or its network went away. A ringing call it placed is cancelled, a branch ringing it
// ends; an answered call through the Pi's bridge is hung up, the other leg getting a BYE.
func (r *Registrar) flowGone(src string) {
	r.flowWatch.mu.Lock()
	var fire []func()
	for _, f := range r.flowWatch.bySrc[src] {
		fire = append(fire, f)
	}
	r.flowWatch.mu.Unlock()
	for _, f := range fire {
		f()
	}
	for id, gone := range r.anchored.onFlow(src) {
		r.endCall(id, gone, browserGone)
	}
}

// watchMedia ends the calls the bridges report dead, until ctx ends.
func (r *Registrar) watchMedia(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case rep := <-r.mediaReports:
			c := r.anchored.peek(rep.CallID)
			if c == nil {
				// Nothing to hang up (no dialog kept), but its bridge is gone: forget it, so
				// that it no longer counts against its caller (maxSRTPCallsPerCaller).
				r.log.Debug("media report for a call not anchored", "call_id", rep.CallID, "leg", rep.Leg)
				r.closeSRTP(rep.CallID)
				continue
			}
			r.endCall(rep.CallID, -1, reportReason(c, rep))
		}
	}
}

// reportReason says in words what a bridge reported: "no audio from 5003 for 30 s".
func reportReason(c *anchoredCall, rep MediaReport) string {
	who := "either phone"
	switch rep.Leg {
	case LegCaller:
		who = c.legs[0].ext
	case LegCallee:
		who = c.legs[1].ext
	case LegBrowser, LegPhone:
		for _, l := range c.legs {
			if l.ws == (rep.Leg == LegBrowser) {
				who = l.ext
			}
		}
	}
	if rep.Silent > 0 {
		return fmt.Sprintf("no audio from %s for %.0f s", who, rep.Silent.Seconds())
	}
	return fmt.Sprintf("media of %s failed: %s", who, rep.Cause)
}
