package registrar

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/firmware/accounts"
)

// branchPrefix marks the Via branches this proxy creates (RFC 3261 §8.1.1.7 magic cookie first).
const branchPrefix = "z9hG4bK-dp-"

// asBuilt tells sipgo's client to send a request exactly as the proxy built it.
func asBuilt(*sipgo.Client, *sip.Request) error { return nil }

// onInvite proxies a call (RFC 3261 §16): authenticate the caller (407), refuse foreign domains,
// look the callee up, then fork to every reachable contact.
func (r *Registrar) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if req.To().Params.Has("tag") {
		r.routeInDialog(req, tx)
		return
	}
	if mf := req.MaxForwards(); mf != nil && mf.Val() == 0 {
		r.reply(tx, req, 483, "Too Many Hops")
		return
	}
	if r.onVoicemailRequest(req, tx) {
		return
	}
	caller, ok := r.authorize(req, tx, true)
	if !ok {
		return
	}
	callID := req.CallID().Value()
	if !r.ownsHost(req.Recipient.Host) {
		r.log.Warn("call refused: not relaying to a foreign domain", "caller", caller.Extension, "to", req.Recipient.String(), "call_id", callID)
		r.reply(tx, req, 403, "Forbidden")
		return
	}
	callee, found := r.accts.Lookup(req.Recipient.User)
	if !found {
		r.log.Info("call failed: no such extension", "caller", caller.Extension, "dialled", req.Recipient.User, "call_id", callID)
		r.reply(tx, req, 404, "Not Found")
		return
	}
	var targets []Binding
	for _, b := range r.loc.get(callee.Username) {
		if b.Reachable && b.Expires.After(r.clock.Now()) {
			targets = append(targets, b)
		}
	}
	if len(targets) == 0 && r.toVoicemail(req, tx, caller, callee, "no reachable phone") {
		return
	}
	if len(targets) == 0 {
		r.log.Info("call failed: extension has no reachable phone", "caller", caller.Extension, "callee", callee.Extension, "call_id", callID)
		r.reply(tx, req, 480, "Temporarily Unavailable")
		return
	}
	if req.IsInvite() {
		r.reply(tx, req, 100, "Trying")
	}
	r.markReceived(req)
	r.log.Info("call", "method", string(req.Method), "caller", caller.Extension, "callee", callee.Extension, "branches", len(targets), "call_id", callID)
	r.fork(req, tx, caller, callee, targets)
}

// markReceived adds received and rport to the top Via (RFC 3261 §18.2.1, RFC 3581 §4) so the
// responses this proxy forwards find their way back through NAT.
func (r *Registrar) markReceived(req *sip.Request) {
	via := req.Via()
	ap, err := netip.ParseAddrPort(req.Source())
	if via == nil || err != nil {
		return
	}
	if via.Params.Has("rport") {
		via.Params.Add("rport", strconv.Itoa(int(ap.Port())))
		via.Params.Add("received", ap.Addr().Unmap().String())
	} else if via.Host != ap.Addr().Unmap().String() {
		via.Params.Add("received", ap.Addr().Unmap().String())
	}
}

// localHost is the address this proxy puts in Via and Record-Route for a peer at dst: the
// listening address, or (listening on every address) the one the kernel routes dst from.
func (r *Registrar) localHost(dst string) string {
	r.mu.Lock()
	ip := r.listenIP
	r.mu.Unlock()
	if ip != nil {
		return ip.String()
	}
	ap, err := netip.ParseAddrPort(dst)
	if err != nil {
		return "127.0.0.1"
	}
	peer := ap.Addr().Unmap()
	r.mu.Lock()
	if h, ok := r.routeFrom[peer]; ok {
		r.mu.Unlock()
		return h
	}
	r.mu.Unlock()
	host := "127.0.0.1"
	if c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ap)); err == nil { // sends nothing
		host = c.LocalAddr().(*net.UDPAddr).IP.String()
		c.Close()
	}
	r.mu.Lock()
	if r.routeFrom == nil || len(r.routeFrom) > 1024 {
		r.routeFrom = map[netip.Addr]string{}
	}
	r.routeFrom[peer] = host
	r.mu.Unlock()
	return host
}

// routeToken binds a Record-Route to one Call-ID, so only dialogs this proxy set up are routed.
func (r *Registrar) routeToken(callID string) string {
	m := hmac.New(sha256.New, []byte(r.secret))
	m.Write([]byte(callID))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// isOurURI reports whether u names this proxy (host owned and our port or none).
func (r *Registrar) isOurURI(u sip.Uri) bool {
	r.mu.Lock()
	port := r.listenPort
	r.mu.Unlock()
	return r.ownsHost(u.Host) && (u.Port == 0 || u.Port == port)
}

// forwardCopy builds the request sent to the next hop (RFC 3261 §16.6).
func (r *Registrar) forwardCopy(req *sip.Request, target sip.Uri, dest, transport string, recordRoute bool) *sip.Request {
	fwd := req.Clone()
	fwd.Recipient = target
	// Step 3: Max-Forwards (sipgo shares this header between clones, so replace it).
	mf := sip.MaxForwardsHeader(70)
	if h := req.MaxForwards(); h != nil {
		mf = sip.MaxForwardsHeader(h.Val() - 1)
	}
	fwd.RemoveHeader("Max-Forwards")
	fwd.AppendHeader(&mf)
	// Credentials for our realm were consumed here (RFC 3261 §22.3).
	for fwd.RemoveHeader("Proxy-Authorization") {
	}
	// Our own pre-loaded Route entries (RFC 3261 §16.4).
	for {
		rt := fwd.Route()
		if rt == nil || !r.isOurURI(rt.Address) {
			break
		}
		fwd.RemoveHeader("Route")
	}
	tp := strings.ToUpper(transport)
	host := r.localHost(dest)
	r.mu.Lock()
	port, lip := r.listenPort, r.listenIP
	r.mu.Unlock()
	if recordRoute {
		// Each side must reach us on the address and transport it talks to: when the caller came
		// in on another address than the one the callee is reached from (a LAN softphone calling
		// the Pi's own phone over loopback) or on another transport, record-route twice, the
		// callee's side on top (RFC 5658 §4).
		token := r.routeToken(req.CallID().Value())
		recordRouteOf := func(h, transport string) *sip.RecordRouteHeader {
			return &sip.RecordRouteHeader{Address: sip.Uri{Scheme: "sip", Host: h, Port: port, UriParams: sip.HeaderParams{
				{K: "transport", V: strings.ToLower(transport)}, {K: "lr", V: ""}, {K: "dpr", V: token},
			}}}
		}
		inHost := host
		if src := req.Source(); src != "" {
			inHost = r.localHost(src)
		}
		if inHost != host || !strings.EqualFold(req.Transport(), tp) {
			fwd.PrependHeader(recordRouteOf(inHost, req.Transport()))
		}
		fwd.PrependHeader(recordRouteOf(host, tp))
	}
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: tp, Host: host, Port: port, Params: sip.NewParams()}
	via.Params.Add("branch", branchPrefix+randomToken(12))
	fwd.PrependHeader(via)
	fwd.SetTransport(tp)
	fwd.SetDestination(dest)
	if tp == "UDP" {
		// Send from the listening socket, so phones see the registrar's port.
		if lip == nil {
			lip = net.IPv4zero
		}
		fwd.Laddr = sip.Addr{IP: lip, Port: port}
	} else {
		fwd.Laddr = sip.Addr{}
	}
	return fwd
}

// upstream turns a response from a branch into the one sent to the previous hop: our Via popped,
// destination from the next Via (received/rport honoured).
func upstream(res *sip.Response) (*sip.Response, bool) {
	top := res.Via()
	if top == nil || !strings.HasPrefix(top.Params.GetOr("branch", ""), branchPrefix) {
		return nil, false
	}
	out := res.Clone()
	out.RemoveHeader("Via")
	next := out.Via()
	if next == nil {
		return nil, false
	}
	out.SetDestination(viaDestination(next))
	out.SetTransport(strings.ToUpper(next.Transport))
	return out, true
}

func viaDestination(v *sip.ViaHeader) string {
	host, port := v.Host, v.Port
	if h := v.Params.GetOr("received", ""); h != "" {
		host = h
	}
	if p, err := strconv.Atoi(v.Params.GetOr("rport", "")); err == nil && p > 0 {
		port = p
	}
	if port == 0 {
		port = 5060
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(port))
}

// strayResponse forwards responses no transaction waits for any more: 2xx retransmissions for
// INVITE (RFC 3261 §16.7 step 5 forwards them statelessly).
func (r *Registrar) strayResponse(res *sip.Response) {
	out, ok := upstream(res)
	if !ok {
		return
	}
	if err := r.srv.TransportLayer().WriteMsg(out); err != nil {
		r.log.Debug("cannot forward response", "status", res.StatusCode, "dst", out.Destination(), "err", err)
	}
}

// branch is one forked leg of a proxied request.
type branch struct {
	binding     Binding
	req         *sip.Request
	tx          sip.ClientTransaction
	provisional bool
	final       *sip.Response
	failed      bool // transport error or timeout
	cancelWant  bool
	cancelSent  bool
}

func (b *branch) finished() bool { return b.final != nil || b.failed }

type branchEvent struct {
	i   int
	res *sip.Response
	err error
}

// fork sends req to every target in parallel and relays the outcome (RFC 3261 §16.5–§16.7).
func (r *Registrar) fork(req *sip.Request, tx sip.ServerTransaction, caller, callee accounts.Account, targets []Binding) {
	ctx := r.context()
	callID := req.CallID().Value()
	invite := req.IsInvite()
	events := make(chan branchEvent, 8)
	stop := make(chan struct{})
	var readers sync.WaitGroup
	defer func() {
		close(stop)
		readers.Wait()
	}()

	var branches []*branch
	for _, b := range targets {
		var target sip.Uri
		if err := sip.ParseUri(b.Contact, &target); err != nil {
			continue
		}
		fwd := r.forwardCopy(req, target, b.Source, b.Transport, invite)
		ctxTx, err := r.client.TransactionRequest(ctx, fwd, asBuilt)
		if err != nil {
			r.log.Warn("cannot reach phone", "callee", callee.Extension, "contact", b.Contact, "dst", b.Source, "err", err, "call_id", callID)
			continue
		}
		if invite {
			ctxTx.OnRetransmission(func(res *sip.Response) { r.strayResponse(res) })
		}
		br := &branch{binding: b, req: fwd, tx: ctxTx}
		i := len(branches)
		branches = append(branches, br)
		readers.Go(func() {
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
		})
	}
	if len(branches) == 0 {
		r.reply(tx, req, 480, "Temporarily Unavailable")
		return
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
	ring := time.NewTimer(r.ringTimeout(callee))
	defer ring.Stop()
	var hardStop <-chan time.Time // after CANCEL, how long to wait for branches to finish

	finalSent := false // a final response went upstream (or sipgo sent 487 on CANCEL)
	answered := false
	var best *sip.Response
	reason := ""
	cancelRest := func(why string) {
		for _, br := range branches {
			if !br.finished() && !br.cancelWant {
				br.cancelWant = true
				if br.provisional {
					r.cancelBranch(ctx, br)
				}
			}
		}
		if hardStop == nil {
			hardStop = time.After(64 * sip.T1)
		}
		reason = why
	}
	pending := func() int {
		n := 0
		for _, br := range branches {
			if !br.finished() {
				n++
			}
		}
		return n
	}

	for pending() > 0 {
		select {
		case ev := <-events:
			br := branches[ev.i]
			if ev.err != nil {
				if !br.finished() {
					br.failed = true
				}
				continue
			}
			res := ev.res
			if res.StatusCode < 200 {
				br.provisional = true
				if br.cancelWant && !br.cancelSent {
					r.cancelBranch(ctx, br)
				}
				if res.StatusCode > 100 && !finalSent {
					if up, ok := upstream(res); ok {
						_ = tx.Respond(up)
					}
				}
				continue
			}
			br.final = res
			if res.StatusCode < 300 {
				// Every 2xx goes upstream (RFC 3261 §16.7 step 5). After a CANCEL or a ring timeout
				// the server transaction is closed, so send it statelessly: the caller then ACKs
				// and hangs up the call it did not want (RFC 3261 §9.1).
				if finalSent && !answered {
					r.strayResponse(res) // not through tx: sipgo would keep it as the response to retransmit
				} else if up, ok := upstream(res); ok && tx.Respond(up) != nil {
					r.strayResponse(res)
				}
				if !answered {
					r.log.Info("call answered", "caller", caller.Extension, "callee", callee.Extension, "contact", br.binding.Contact, "call_id", callID)
				}
				finalSent, answered = true, true
				cancelRest("answered elsewhere")
				continue
			}
			if best == nil || betterResponse(res, best) {
				best = res
			}
			if res.StatusCode >= 600 {
				cancelRest("declined")
			}
		case <-cancelled:
			if !finalSent {
				r.log.Info("call cancelled by caller", "caller", caller.Extension, "callee", callee.Extension, "call_id", callID)
			}
			finalSent = true
			cancelRest("cancelled by caller")
		case <-ring.C:
			if !finalSent && invite && r.toVoicemail(req, tx, caller, callee, "no answer") {
				finalSent = true
				cancelRest("ring timeout: to voicemail")
				continue
			}
			if !finalSent && invite {
				r.log.Info("call failed: no answer", "caller", caller.Extension, "callee", callee.Extension, "after", r.cfg.RingTimeout.String(), "call_id", callID)
				r.reply(tx, req, 480, "Temporarily Unavailable")
				finalSent = true
				cancelRest("ring timeout")
			}
		case <-hardStop:
			for _, br := range branches {
				if !br.finished() {
					br.tx.Terminate()
					br.failed = true
				}
			}
		case <-ctx.Done():
			for _, br := range branches {
				br.tx.Terminate()
				br.failed = true
			}
			return
		}
	}
	if finalSent {
		return
	}
	if why, ok := unanswered(best); ok && r.toVoicemail(req, tx, caller, callee, why) {
		return
	}
	if best == nil {
		r.log.Info("call failed: no phone answered the request", "caller", caller.Extension, "callee", callee.Extension, "call_id", callID)
		r.reply(tx, req, 408, "Request Timeout")
		return
	}
	r.log.Info("call failed", "caller", caller.Extension, "callee", callee.Extension, "status", best.StatusCode, "reason", best.Reason, "cause", reason, "call_id", callID)
	if best.StatusCode == 503 {
		r.reply(tx, req, 500, "Server Internal Error") // RFC 3261 §16.7 step 6
		return
	}
	if up, ok := upstream(best); ok {
		_ = tx.Respond(up)
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
	for _, h := range inv.GetHeaders("Route") {
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
	r.workers.Go(func() {
		cctx, cancel := context.WithTimeout(ctx, 32*time.Second)
		defer cancel()
		if _, err := r.client.Do(cctx, c, asBuilt); err != nil {
			r.log.Debug("CANCEL got no answer", "dst", c.Destination(), "err", err)
		}
	})
}

// routeInDialog relays a request inside a dialog this proxy record-routed (RFC 3261 §16.4,
// §16.12): the top Route must be ours and carry this Call-ID's token.
func (r *Registrar) routeInDialog(req *sip.Request, tx sip.ServerTransaction) {
	fwd, status := r.inDialogCopy(req)
	if status != 0 {
		if !req.IsAck() {
			switch status {
			case 481:
				r.reply(tx, req, 481, "Call/Transaction Does Not Exist")
			case 483:
				r.reply(tx, req, 483, "Too Many Hops")
			default:
				r.reply(tx, req, 403, "Forbidden")
			}
		}
		return
	}
	if req.IsAck() {
		if err := r.client.WriteRequest(fwd, asBuilt); err != nil {
			r.log.Debug("cannot forward ACK", "dst", fwd.Destination(), "err", err)
		}
		return
	}
	r.relay(req, tx, fwd)
}

func (r *Registrar) inDialogCopy(req *sip.Request) (*sip.Request, int) {
	if mf := req.MaxForwards(); mf != nil && mf.Val() == 0 {
		return nil, 483
	}
	rt := req.Route()
	if rt == nil {
		return nil, 481 // not routed through us: a dialog we know nothing about
	}
	if !r.isOurURI(rt.Address) {
		return nil, 403
	}
	if tok, _ := rt.Address.UriParams.Get("dpr"); !hmac.Equal([]byte(tok), []byte(r.routeToken(req.CallID().Value()))) {
		r.log.Warn("in-dialog request refused: route not set by this registrar", "method", string(req.Method), "src", req.Source())
		return nil, 403
	}
	r.markReceived(req)
	// Next hop: the next Route entry that is not ours (a double Record-Route leaves two of ours,
	// RFC 5658), else the Request-URI (the remote target).
	stripped := req.Clone()
	stripped.RemoveHeader("Route")
	for nr := stripped.Route(); nr != nil && r.isOurURI(nr.Address); nr = stripped.Route() {
		stripped.RemoveHeader("Route")
	}
	next := stripped.Recipient
	if nr := stripped.Route(); nr != nil {
		next = nr.Address
	}
	dest, transport, ok := r.resolveHop(next)
	if !ok {
		return nil, 403
	}
	return r.forwardCopy(stripped, stripped.Recipient, dest, transport, false), 0
}

// resolveHop finds where to send a request for u: a registered contact goes to the address it
// registered from; otherwise u must carry an IP address (no DNS, no relaying to other domains).
func (r *Registrar) resolveHop(u sip.Uri) (dest, transport string, ok bool) {
	if b, found := r.loc.findByContact(u.String()); found {
		return b.Source, b.Transport, true
	}
	ip, err := netip.ParseAddr(strings.Trim(u.Host, "[]"))
	if err != nil {
		return "", "", false
	}
	port := u.Port
	if port == 0 {
		port = 5060
	}
	tp := "UDP"
	if t, found := u.UriParams.Get("transport"); found && t != "" {
		tp = strings.ToUpper(t)
	}
	if tp != "UDP" && tp != "TCP" {
		return "", "", false
	}
	return netip.AddrPortFrom(ip, uint16(port)).String(), tp, true
}

// relay forwards one request statefully and returns its responses (non-forking).
func (r *Registrar) relay(req *sip.Request, tx sip.ServerTransaction, fwd *sip.Request) {
	ctx := r.context()
	ctxTx, err := r.client.TransactionRequest(ctx, fwd, asBuilt)
	if err != nil {
		r.log.Info("in-dialog request failed: next hop unreachable", "method", string(req.Method), "dst", fwd.Destination(), "err", err)
		r.reply(tx, req, 503, "Service Unavailable")
		return
	}
	defer ctxTx.Terminate()
	if fwd.IsInvite() {
		ctxTx.OnRetransmission(func(res *sip.Response) { r.strayResponse(res) })
	}
	for {
		select {
		case res := <-ctxTx.Responses():
			if res.StatusCode == 100 {
				continue
			}
			if up, ok := upstream(res); ok {
				_ = tx.Respond(up)
			}
			if res.StatusCode >= 200 {
				return
			}
		case <-ctxTx.Done():
			r.reply(tx, req, 408, "Request Timeout")
			return
		case <-ctx.Done():
			return
		}
	}
}

// onAck forwards ACKs for 2xx along the route set; other stray ACKs are dropped (no response
// is ever sent to an ACK).
func (r *Registrar) onAck(req *sip.Request, tx sip.ServerTransaction) {
	if req.Route() == nil {
		return
	}
	r.routeInDialog(req, tx)
}
