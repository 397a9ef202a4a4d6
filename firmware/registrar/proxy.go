package registrar

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/deskphone/deskphone/firmware/lanaddr"
	"github.com/deskphone/deskphone/firmware/sipid"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
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
	if via.Params.Has("rport") || isWS(req.Transport()) { // a WebSocket client is reached on its connection
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
	if a, err := lanaddr.Toward(ap.String()); err == nil {
		host = a.String()
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
	var sum [sha256.Size]byte
	return hex.EncodeToString(r.routeMAC.sum(sum[:0], nil, callID)[:8])
}

// isOurURI reports whether u names this proxy (host owned and our port or none).
func (r *Registrar) isOurURI(u sip.Uri) bool {
	r.mu.Lock()
	port, tlsPort, wsPort := r.listenPort, r.tlsPort, r.wsPort
	r.mu.Unlock()
	return r.ownsHost(u.Host) && (u.Port == 0 || u.Port == port || (tlsPort != 0 && u.Port == tlsPort) || (wsPort != 0 && u.Port == wsPort))
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
	port, lip, tlsPort, wsPort := r.listenPort, r.listenIP, r.portFor("TLS"), r.wsPort
	r.mu.Unlock()
	portOf := func(transport string) int { // TLS has its own port (tls.go)
		if strings.EqualFold(transport, "TLS") {
			return tlsPort
		}
		return port
	}
	if recordRoute {
		// Each side must reach us on the address and transport it talks to: when the caller came
		// in on another address than the one the callee is reached from (a LAN softphone calling
		// the Pi's own phone over loopback) or on another transport, record-route twice, the
		// callee's side on top (RFC 5658 §4).
		token := r.routeToken(req.CallID().Value())
		// The entry facing a WebSocket client names its port and carries its flow (flow.go).
		recordRouteOf := func(h, transport, flow string) *sip.RecordRouteHeader {
			p, tpName := portOf(transport), strings.ToLower(transport)
			params := sip.HeaderParams{}
			if isWS(transport) {
				p, tpName = wsPort, "ws"
			}
			params = append(params, sip.HeaderKV{K: "transport", V: tpName}, sip.HeaderKV{K: "lr", V: ""}, sip.HeaderKV{K: "dpr", V: token})
			if isWS(transport) {
				params = append(params, sip.HeaderKV{K: "dpf", V: r.flowToken(flow)})
			}
			return &sip.RecordRouteHeader{Address: sip.Uri{Scheme: "sip", Host: h, Port: p, UriParams: params}}
		}
		inHost := host
		if src := req.Source(); src != "" {
			inHost = r.localHost(src)
		}
		if inHost != host || !strings.EqualFold(req.Transport(), tp) || isWS(tp) {
			fwd.PrependHeader(recordRouteOf(inHost, req.Transport(), req.Source()))
		}
		fwd.PrependHeader(recordRouteOf(host, tp, dest))
	}
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: tp, Host: host, Port: portOf(tp), Params: sip.NewParams()}
	via.Params.Add("branch", branchPrefix+sipid.Token(12))
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
	if r.crossesBridge(res.Transport(), out.Transport()) && len(out.Body()) > 0 {
		// A retransmitted 2xx gets the answer the first one got; one the bridge cannot place
		// (the retransmitted offer of a late-offer INVITE) is dropped: the ACK stops them.
		if r.bridgeSDP(out, false, isWS(res.Transport())) != nil {
			return
		}
	} else if len(out.Body()) > 0 && res.StatusCode < 300 && r.srtpBridged(out.CallID().Value()) {
		if r.srtpSDP(out, false, true) != nil {
			return
		}
	}
	if err := r.srv.TransportLayer().WriteMsg(out); err != nil {
		r.log.Debug("cannot forward response", "status", res.StatusCode, "dst", out.Destination(), "err", err)
	}
}
