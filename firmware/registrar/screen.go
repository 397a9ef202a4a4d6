package registrar

import (
	"net"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/firmware/sipcheck"
)

// screen runs after next on every UDP datagram: a request sipgo could not parse is answered
// here, from what sipcheck.Salvage can read of it, and dropped; one sipcheck.Screen repairs
// goes on repaired (RFC 4475 §3.1.2; docs/rfc4475.md).
func (r *Registrar) screen(next sip.TransportReadFilter) sip.TransportReadFilter {
	return func(info sip.TransportReadProps, data []byte) ([]byte, error) {
		data, err := next(info, data)
		if err != nil || len(data) == 0 || !strings.EqualFold(info.Transport, "UDP") {
			return data, err
		}
		clean, bad := sipcheck.Screen(data)
		if bad == nil {
			if f := r.fast.Load(); f != nil && (isRegister(clean) && f.take(clean, info.RemoteAddr) || f.takeCall(clean, info.RemoteAddr)) {
				return nil, nil // answered or relayed by the fast path (stateless.go, fastcall.go)
			}
			return clean, nil
		}
		r.log.Debug("malformed request refused", "src", info.RemoteAddr.String(), "status", bad.Status, "why", bad.Detail)
		r.sendStateless(sipcheck.Salvage(r.parser, data, info.RemoteAddr.String(), "UDP", bad))
		return nil, nil
	}
}

// refuse answers req with the status sipcheck chose, in a response that is well formed even
// when req is not (sipcheck.Response).
func (r *Registrar) refuse(tx responder, req *sip.Request, e *sipcheck.Error) {
	res := sipcheck.Response(req, e.Status, e.Reason)
	res.AppendHeader(sip.NewHeader("Server", r.cfg.ServerName))
	if err := tx.Respond(res); err != nil {
		r.log.Debug("cannot send response", "status", e.Status, "dst", res.Destination(), "err", err)
	}
}

// sendStateless sends res (nil: nothing to send) on the UDP socket, outside any transaction:
// the request it answers never reached sipgo.
func (r *Registrar) sendStateless(res *sip.Response) {
	if res == nil {
		return
	}
	res.AppendHeader(sip.NewHeader("Server", r.cfg.ServerName))
	r.mu.Lock()
	udp := r.udp
	r.mu.Unlock()
	if udp == nil {
		return
	}
	dst, err := net.ResolveUDPAddr("udp", res.Destination())
	if err != nil {
		return
	}
	if _, err := udp.WriteTo([]byte(res.String()), dst); err != nil {
		r.log.Debug("cannot send response", "status", res.StatusCode, "dst", dst.String(), "err", err)
	}
}
