package registrar

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Flows (RFC 5626): a WebSocket client is reachable only over the connection it opened, never
// at its Contact (a made-up "x.invalid" host, RFC 7118 §5.2). Its bindings keep that
// connection's address as their Source and go when it closes; the Record-Route entry facing it
// carries a flow token naming the connection, signed with the registrar's key, so requests of
// the dialog reach it even when its binding was replaced or never existed (RFC 5626 §5.3).

// isWS reports whether a transport name is SIP over WebSocket.
func isWS(transport string) bool {
	return strings.EqualFold(transport, "WS") || strings.EqualFold(transport, "WSS")
}

// flowToken names the connection from src: its address in hex, a dot and an HMAC of it.
func (r *Registrar) flowToken(src string) string {
	return hex.EncodeToString([]byte(src)) + "." + r.flowMAC(src)
}

func (r *Registrar) flowMAC(src string) string {
	var sum [sha256.Size]byte
	return hex.EncodeToString(r.routeMAC.sum(sum[:0], flowLabel, src)[:8])
}

var flowLabel = []byte("flow:")

// flowSource is the connection address a flow token names, if this registrar signed it.
func (r *Registrar) flowSource(tok string) (string, bool) {
	h, mac, ok := strings.Cut(tok, ".")
	if !ok {
		return "", false
	}
	src, err := hex.DecodeString(h)
	if err != nil || !hmac.Equal([]byte(mac), []byte(r.flowMAC(string(src)))) {
		return "", false
	}
	return string(src), true
}

// flowHop finds the WebSocket connection an in-dialog request goes to: the flow named in one
// of this registrar's Route entries, other than the one the request came on.
func (r *Registrar) flowHop(req *sip.Request) (string, bool) {
	for _, h := range req.GetHeaders("Route") {
		rt, ok := h.(*sip.RouteHeader)
		if !ok || !r.isOurURI(rt.Address) {
			break
		}
		tok, _ := rt.Address.UriParams.Get("dpf")
		if src, ok := r.flowSource(tok); ok && src != req.Source() {
			return src, true
		}
	}
	return "", false
}

// flowClosed drops the bindings made over the WebSocket connection from src, which closed.
func (r *Registrar) flowClosed(src string) {
	for _, aor := range r.loc.aorsFrom(src) {
		var gone []Binding
		r.loc.update(aor, func(cur []Binding) ([]Binding, bool) {
			next := make([]Binding, 0, len(cur))
			for _, b := range cur {
				if b.Source == src && isWS(b.Transport) {
					gone = append(gone, b)
					continue
				}
				next = append(next, b)
			}
			return next, len(gone) > 0
		})
		for _, b := range gone {
			r.log.Info("phone unregistered: its WebSocket closed", "aor", b.AOR, "extension", b.Extension, "contact", b.Contact, "src", src)
		}
	}
}

// aorsFrom lists the accounts with a binding registered from src.
func (l *location) aorsFrom(src string) []string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []string
	for aor, bs := range l.byAOR {
		for _, b := range bs {
			if b.Source == src {
				out = append(out, aor)
				break
			}
		}
	}
	return out
}

// lasting drops the bindings that must not outlive this run: those over a WebSocket, whose
// connection a restart closes.
func lasting(bs []Binding) []Binding {
	if !slices.ContainsFunc(bs, func(b Binding) bool { return isWS(b.Transport) }) {
		return bs // the usual case: nothing to copy
	}
	out := bs[:0:0]
	for _, b := range bs {
		if !isWS(b.Transport) {
			out = append(out, b)
		}
	}
	return out
}

// instanceOf is a Contact's +sip.instance (RFC 5626 §4.1), "" if none.
func instanceOf(c *sip.ContactHeader) string {
	v, _ := c.Params.Get("+sip.instance")
	return strings.Trim(v, `"`)
}

// replaceInstances drops from cur the bindings of the same device instance as one of u's
// contacts but another Contact URI: a browser that reloads its page registers a new Contact over
// a new connection, and must not pile up bindings (RFC 5626 §6).
func replaceInstances(cur []Binding, u registerUpdate) []Binding {
	if !slices.ContainsFunc(u.Contacts, func(c contactUpdate) bool { return c.Instance != "" }) {
		return cur // no +sip.instance: nothing to replace (callers do not modify cur)
	}
	var out []Binding
	for _, b := range cur {
		stale := false
		for _, c := range u.Contacts {
			if c.Instance != "" && b.Instance == c.Instance && b.contactKey() != c.Key {
				stale = true
			}
		}
		if !stale {
			out = append(out, b)
		}
	}
	return out
}
