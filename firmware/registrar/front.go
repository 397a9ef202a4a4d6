package registrar

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/firmware/sipcheck"
)

// responder sends the answers to one request: its sipgo server transaction, or the UDP fast
// path's (stateless.go) for a REGISTER that never reached sipgo.
type responder interface {
	Respond(res *sip.Response) error
}

// wrap is the common front of every handler: recover from bugs, drop scanners, check sanity.
func (r *Registrar) wrap(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		defer r.recoverRequest(req, tx)
		r.sipgoTxs.track(req, tx)
		if r.admit(req, tx) {
			h(req, tx)
		}
	}
}

// recoverRequest, deferred, turns a panic in a handler into a 500 and a log line.
func (r *Registrar) recoverRequest(req *sip.Request, tx responder) {
	if p := recover(); p != nil {
		r.log.Error("request handling failed; the request is refused and the service continues", "panic", fmt.Sprint(p), "method", string(req.Method), "src", req.Source())
		if !req.IsAck() {
			r.answer(tx, req, 500, "Server Internal Error")
		}
	}
}

// admit runs the checks every request passes before its handler: scanners are banned, malformed
// requests and unsupported extensions refused. It reports whether the handler may run.
func (r *Registrar) admit(req *sip.Request, tx responder) bool {
	ip := sourceIP(req)
	if uaHdr := sipcheck.Header(req.Headers(), "User-Agent"); uaHdr != nil && isScanner(uaHdr.Value()) {
		r.guard.ban(ip, "scanner User-Agent")
		return false
	}
	if err := sipcheck.Request(req, sipcheck.Limits{}); err != nil {
		r.log.Debug("malformed request refused", "src", req.Source(), "status", err.Status, "why", err.Detail)
		if !req.IsAck() {
			r.refuse(tx, req, err)
		}
		return false
	}
	r.streamConns(req.Transport()).request(req.Source()) // a complete request: the connection is not idle
	if !req.IsAck() && !req.IsCancel() {
		// RFC 3261 §16.3 step 4 (Proxy-Require) and §8.2.2.3 (Require, for what this server
		// answers itself): no extension is supported.
		un := sipcheck.Unsupported(req, "Proxy-Require")
		if req.Method == sip.REGISTER || req.Method == sip.OPTIONS && !req.To().Params.Has("tag") {
			un = append(un, sipcheck.Unsupported(req, "Require")...)
		}
		if len(un) > 0 {
			r.answer(tx, req, 420, "Bad Extension", sip.NewHeader("Unsupported", strings.Join(un, ", ")))
			return false
		}
	}
	return true
}

func sourceIP(req *sip.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// reply answers req on tx with a response carrying the Server header.
func (r *Registrar) reply(tx sip.ServerTransaction, req *sip.Request, code int, reason string, hdrs ...sip.Header) {
	r.answer(tx, req, code, reason, hdrs...)
}

// answer is reply for any responder.
func (r *Registrar) answer(tx responder, req *sip.Request, code int, reason string, hdrs ...sip.Header) {
	if u, ok := tx.(*udpAnswer); ok && u.respondTo(req, code, reason, r.cfg.ServerName, hdrs) {
		return
	}
	res := sipcheck.Response(req, code, reason) // received= on the Via, SIP/2.0 even in a 505
	res.AppendHeader(sip.NewHeader("Server", r.cfg.ServerName))
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		r.log.Debug("cannot send response", "status", code, "dst", res.Destination(), "err", err)
	}
}

// tooBig answers an oversized UDP request with 513 (RFC 3261 §21.5.14).
func (r *Registrar) tooBig(data []byte, from net.Addr, _ sip.TransportReadProps) {
	r.sendStateless(sipcheck.Salvage(r.parser, data, from.String(), "UDP", &sipcheck.Error{Status: 513, Reason: "Message Too Large"}))
	r.log.Debug("oversized request refused", "src", from.String(), "bytes", len(data))
}

// allowedMethods is the Allow header of the registrar's own answers (RFC 3261 §20.5).
const allowedMethods = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, REFER, MESSAGE, UPDATE, PRACK, NOTIFY"

// onOptions answers OPTIONS for any user of the registrar itself (RFC 3261 §11.2). Answering the
// same way for every user keeps extension scanners blind.
func (r *Registrar) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	if req.To() != nil && req.To().Params.Has("tag") {
		r.routeInDialog(req, tx)
		return
	}
	r.reply(tx, req, 200, "OK",
		sip.NewHeader("Allow", allowedMethods),
		sip.NewHeader("Accept", "application/sdp"),
	)
}

// onOther handles methods outside REGISTER/INVITE/OPTIONS: in a dialog they follow the route
// set; MESSAGE outside a dialog is proxied like a call; anything else gets 405.
func (r *Registrar) onOther(req *sip.Request, tx sip.ServerTransaction) {
	if req.To() != nil && req.To().Params.Has("tag") {
		r.routeInDialog(req, tx)
		return
	}
	if r.onVoicemailRequest(req, tx) {
		return
	}
	if req.Method == sip.MESSAGE {
		r.onInvite(req, tx)
		return
	}
	r.reply(tx, req, 405, "Method Not Allowed",
		sip.NewHeader("Allow", allowedMethods))
}

// onCancel gets the CANCELs sipgo could not match to a pending INVITE (RFC 3261 §16.10).
func (r *Registrar) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	r.reply(tx, req, 481, "Call/Transaction Does Not Exist")
}
