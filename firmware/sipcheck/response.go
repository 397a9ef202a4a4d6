package sipcheck

import (
	"crypto/rand"
	"iter"
	"net/netip"
	"slices"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Response builds a response to req that is well formed even when req is not (RFC 3261 §8.2.6):
//
//   - every Via as received, the top one with "received" when its sent-by is not the packet's
//     source address (§18.2.1) and with "rport" filled in when asked for (RFC 3581 §4);
//   - From, Call-ID and CSeq as sent, even when they do not parse (they are copied verbatim);
//   - To as sent with exactly one tag: the request's, or one added (§8.2.6.2).
//
// The status line is always SIP/2.0, also to a request in another version (505).
func Response(req *sip.Request, status int, reason string) *sip.Response {
	res := sip.NewResponseFromRequest(req, status, reason, nil)
	res.SipVersion = "SIP/2.0"
	if !all(Headers(res.Headers(), "Via"), typed) {
		vias := slices.Collect(Headers(res.Headers(), "Via"))
		for res.RemoveHeader("Via") {
		}
		var keep []sip.Header
		for _, h := range vias {
			if typed(h) {
				keep = append(keep, h)
			}
		}
		res.PrependHeader(keep...) // a Via that does not parse cannot route a response
	}
	if via := res.Via(); via != nil && !via.Params.Has("received") {
		if ap, err := netip.ParseAddrPort(req.Source()); err == nil {
			if src := ap.Addr().Unmap().String(); strings.Trim(via.Host, "[]") != src {
				via.Params.Add("received", src)
			}
		}
	}
	// Headers sipgo could not parse are plain headers now (see NewParser): copy them as sent.
	if req.From() == nil {
		copyRaw(req, res, "From", false)
	}
	if req.To() == nil {
		copyRaw(req, res, "To", status != 100)
	}
	if req.CallID() == nil {
		copyRaw(req, res, "Call-ID", false)
	}
	if req.CSeq() == nil {
		copyRaw(req, res, "CSeq", false)
	}
	return res
}

// copyRaw copies the first header called name from req to res, with a tag added when tag is
// set and the value has none.
func copyRaw(req *sip.Request, res *sip.Response, name string, tag bool) {
	h := Header(req.Headers(), name)
	if h == nil {
		return
	}
	v := h.Value()
	if tag && !strings.Contains(strings.ToLower(v), "tag=") {
		v += ";tag=" + strings.ToLower(rand.Text()[:16])
	}
	res.AppendHeader(sip.NewHeader(name, v))
}

func all[T any](s iter.Seq[T], f func(T) bool) bool {
	for v := range s {
		if !f(v) {
			return false
		}
	}
	return true
}
