package registrar

import (
	"crypto/hmac"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/firmware/sipcheck"
)

// routeInDialog relays a request inside a dialog this proxy record-routed (RFC 3261 §16.4,
// §16.12): the top Route must be ours and carry this Call-ID's token.
func (r *Registrar) routeInDialog(req *sip.Request, tx sip.ServerTransaction) {
	r.forwardInDialog(req, tx, func(fwd *sip.Request, media dialogMedia) { r.relay(req, tx, fwd, media) })
}

// forwardInDialog is routeInDialog with the relaying of a request other than ACK left to relay:
// statefully (relay) or statelessly (the UDP fast path, fastcall.go).
func (r *Registrar) forwardInDialog(req *sip.Request, tx responder, relay func(fwd *sip.Request, media dialogMedia)) {
	fwd, status := r.inDialogCopy(req)
	if status != 0 {
		if !req.IsAck() {
			r.refuseInDialog(tx, req, status)
		}
		return
	}
	// A BYE ends the anchored call only if it belongs to its dialog: another dialog of the same
	// Call-ID (a second phone that answered a forked call) leaves it be.
	ends := req.Method == sip.BYE && r.anchored.ofDialog(req)
	media := r.dialogMedia(req, fwd)
	if media != nil {
		if err := media.request(fwd); err != nil {
			if !req.IsAck() { // an ACK has no answer: its late answer is dropped
				r.answer(tx, req, 488, "Not Acceptable Here")
			}
			return
		}
		if ends {
			defer r.closeMedia(req.CallID().Value())
		}
	}
	if ends {
		r.calls.ended(req.CallID().Value(), r.clock.Now())
		r.anchored.take(req.CallID().Value())
	} else if req.Method != sip.BYE {
		r.anchored.saw(req)
	}
	if req.IsAck() {
		if err := r.client.WriteRequest(fwd, asBuilt); err != nil {
			r.log.Debug("cannot forward ACK", "dst", fwd.Destination(), "err", err)
		}
		return
	}
	relay(fwd, media)
}

// refuseInDialog answers an in-dialog request inDialogCopy refused with status.
func (r *Registrar) refuseInDialog(tx responder, req *sip.Request, status int) {
	switch status {
	case 481:
		r.answer(tx, req, 481, "Call/Transaction Does Not Exist")
	case 483:
		r.answer(tx, req, 483, "Too Many Hops")
	default:
		r.answer(tx, req, 403, "Forbidden")
	}
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
	dest, transport, ok := r.inDialogHop(req)
	if !ok {
		return nil, 403
	}
	return r.forwardCopy(req, req.Recipient, dest, transport, false), 0
}

// inDialogHop is where an in-dialog request goes: the next Route entry that is not ours (a
// double Record-Route leaves two of ours, RFC 5658), else the Request-URI (the remote target),
// or the WebSocket flow a Route entry names. forwardCopy drops ours from the copy.
func (r *Registrar) inDialogHop(req *sip.Request) (dest, transport string, ok bool) {
	next := req.Recipient
	top := true
	for h := range sipcheck.Headers(req.Headers(), "Route") {
		nr, ok := h.(*sip.RouteHeader)
		if !ok {
			break // sipcheck.Request refused Route headers that do not parse
		}
		if top || r.isOurURI(nr.Address) {
			top = false
			continue
		}
		next = nr.Address
		break
	}
	if dest, ok = r.flowHop(req); ok {
		return dest, "WSS", true
	}
	return r.resolveHop(next)
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
	tp := "UDP"
	if t, found := u.UriParams.Get("transport"); found && t != "" {
		tp = strings.ToUpper(t)
	}
	if u.Scheme == "sips" {
		tp = "TLS"
	}
	if tp != "UDP" && tp != "TCP" && tp != "TLS" {
		return "", "", false
	}
	port := u.Port
	if port == 0 && tp == "TLS" {
		port = 5061
	} else if port == 0 {
		port = 5060
	}
	return netip.AddrPortFrom(ip, uint16(port)).String(), tp, true
}

// relay forwards one request statefully and returns its responses (non-forking).
func (r *Registrar) relay(req *sip.Request, tx sip.ServerTransaction, fwd *sip.Request, media dialogMedia) {
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
				if media != nil && (fwd.IsInvite() || fwd.Method == sip.UPDATE) {
					media.response(fwd, up)
				}
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
