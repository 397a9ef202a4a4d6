package registrar

import (
	"bytes"
	"encoding/hex"
	"hash/fnv"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/firmware/sipcheck"
)

// The UDP fast path of calls, as Kamailio's configuration handles them (stateless sl replies,
// in-dialog requests relayed along the route set): the messages of a call that need no
// transaction are answered or relayed from sipgo's read loop, without the goroutine, server
// transaction, FSM and timers sipgo gives every message:
//
//   - an INVITE without credentials gets its 407 challenge statelessly (RFC 3261 §16.11; the
//     REGISTER's 401 is answered the same way, stateless.go): the answer is kept for 64×T1, so a
//     retransmitted INVITE gets the same 407 (same nonce), and the ACK of that 407 is absorbed;
//   - an ACK or BYE inside a dialog this proxy record-routed, between two UDP phones whose media
//     the Pi does not anchor, is relayed statelessly (RFC 3261 §16.11): the same checks as the
//     stateful relay (Max-Forwards, our Route with this Call-ID's token, the next hop a
//     registered contact or an IP address), a BYE's branch derived from the incoming request's
//     transaction, so its retransmissions reach the callee as retransmissions, and the responses
//     to it relayed back by their Via (strayResponse);
//   - the responses to those BYEs are relayed here too, without sipgo's client-transaction
//     lookup.
//
// Everything else goes to sipgo as before: INVITEs with credentials (forking, the call list,
// voicemail), calls whose media the Pi bridges (WebRTC, SRTP: their dialogs are followed by
// hangup.go), CANCEL, other transports. A request sipgo holds a server transaction for (an ACK
// for a non-2xx response it sent, a retransmission) always goes to sipgo: sipgoTxs knows them.

// statelessBranchPrefix starts the Via branch of a request relayed statelessly. upstream reads
// responses to it as ours (branchPrefix); the "." never appears in the random branches of the
// stateful relay (randomToken is base64url), so a response to one of those is never taken here.
const statelessBranchPrefix = branchPrefix + "sl."

var (
	inviteLine   = []byte("INVITE ")
	ackLine      = []byte("ACK ")
	byeLine      = []byte("BYE ")
	responseLine = []byte("SIP/2.0 ")
)

// takeCall handles a screened UDP datagram on the call fast path if it can; false leaves it to
// sipgo, which parses it again (only for the messages that need it: rare in a call's life).
// It runs in sipgo's read loop.
func (f *fastPath) takeCall(data []byte, from net.Addr) bool {
	switch {
	case bytes.HasPrefix(data, responseLine):
		if !topViaStateless(data) {
			return false
		}
	case bytes.HasPrefix(data, inviteLine):
		if hasHeader(data, "Proxy-Authorization") {
			return false // the authenticated INVITE: forked by sipgo's transactions
		}
	case bytes.HasPrefix(data, ackLine), bytes.HasPrefix(data, byeLine):
	default:
		return false
	}
	ua, ok := from.(*net.UDPAddr)
	if !ok {
		return false
	}
	msg, err := f.r.parser.ParseSIP(data)
	if err != nil {
		return false // sipgo drops it, logging why
	}
	msg.SetTransport("UDP")
	msg.SetSource(ua.String())
	switch m := msg.(type) {
	case *sip.Response:
		return f.relayResponse(m)
	case *sip.Request:
		if m.Via() == nil || m.CallID() == nil || m.CSeq() == nil || m.To() == nil {
			return false // sipgo's path refuses it (400)
		}
		switch m.Method {
		case sip.INVITE:
			return f.challengeInvite(m, ua)
		case sip.ACK, sip.BYE:
			return f.inDialog(m, ua)
		}
	}
	return false
}

// challengeInvite answers an INVITE without credentials with a 407, as onInvite would
// (authorize finds no credentials for our realm and challenges; Max-Forwards 0 gets 483 first).
func (f *fastPath) challengeInvite(req *sip.Request, from *net.UDPAddr) bool {
	if req.To().Params.Has("tag") || sipcheck.Header(req.Headers(), "Proxy-Authorization") != nil {
		return false // in a dialog (routeInDialog), or credentials after all
	}
	tx := &udpAnswer{f: f, to: from}
	defer f.r.recoverRequest(req, tx)
	if !f.r.admit(req, tx) {
		return true
	}
	key := transactionKey(req)
	if prev, again := f.answers.begin(key, f.r.clock.Now()); again {
		if prev != nil {
			f.write(prev, from)
		}
		return true
	}
	tx.key = key
	if mf := req.MaxForwards(); mf != nil && mf.Val() == 0 {
		f.r.answer(tx, req, 483, "Too Many Hops")
		return true
	}
	f.r.challenge(req, tx, true, false)
	return true
}

// inDialog takes an ACK or BYE: the ACK of an answer the fast path sent is absorbed (a server
// transaction would), an ACK with no route set is dropped (onAck), and one with a route set or
// a BYE is relayed statelessly when relayStateless can.
func (f *fastPath) inDialog(req *sip.Request, from *net.UDPAddr) bool {
	ack := req.IsAck()
	if ack && f.answers.has(transactionKey(req), f.r.clock.Now()) {
		return true
	}
	hasRoute := req.Route() != nil
	if !ack && (!hasRoute || !req.To().Params.Has("tag")) {
		return false // sipgo's path answers it (481, 405…)
	}
	method := req.Method
	if ack {
		method = sip.INVITE // an ACK for a non-2xx belongs to its INVITE's transaction
	}
	if f.r.sipgoTxs.holds(req, method) {
		return false
	}
	tx := &udpAnswer{f: f, to: from}
	defer f.r.recoverRequest(req, tx)
	if !f.r.admit(req, tx) {
		return true
	}
	if !hasRoute {
		return true // an ACK outside any dialog we route: nothing to do (onAck)
	}
	return f.r.relayStateless(req, tx)
}

// relayResponse relays a response to a request relayed statelessly, by its Via.
func (f *fastPath) relayResponse(res *sip.Response) bool {
	top := res.Via()
	if top == nil || !strings.HasPrefix(top.Params.GetOr("branch", ""), statelessBranchPrefix) {
		return false
	}
	defer func() {
		if p := recover(); p != nil {
			f.r.log.Error("response relaying failed; the response is dropped and the service continues", "panic", p, "src", res.Source())
		}
	}()
	f.r.strayResponse(res)
	return true
}

// relayStateless relays an ACK or BYE of a dialog between UDP phones whose media the Pi does not
// anchor, without a transaction (RFC 3261 §16.11), doing what routeInDialog does for them. It
// reports false, having sent nothing, for a request that must take routeInDialog's stateful path.
func (r *Registrar) relayStateless(req *sip.Request, tx responder) bool {
	callID := req.CallID().Value()
	if r.anchored.peek(callID) != nil || r.srtpBridged(callID) {
		return false
	}
	fwd, status := r.inDialogCopy(req)
	if status != 0 {
		if !req.IsAck() {
			r.refuseInDialog(tx, req, status)
		}
		return true
	}
	if fwd.Transport() != "UDP" || r.dialogMedia(req, fwd) != nil {
		return false
	}
	if req.Method == sip.BYE {
		r.calls.ended(callID, r.clock.Now())
		// The same transaction's retransmissions must leave with the same branch, so the next
		// hop answers them as retransmissions (RFC 3261 §16.11).
		fwd.Via().Params.Add("branch", r.statelessBranch(req))
	}
	if err := r.client.WriteRequest(fwd, asBuilt); err != nil {
		r.log.Debug("cannot forward request", "method", string(req.Method), "dst", fwd.Destination(), "err", err)
		if !req.IsAck() {
			r.answer(tx, req, 503, "Service Unavailable")
		}
	}
	return true
}

// statelessBranch is the branch of req relayed statelessly: the same for every copy of one
// transaction, different for any other.
func (r *Registrar) statelessBranch(req *sip.Request) string {
	var sum [32]byte
	mac := r.routeMAC.sum(sum[:0], []byte(req.Method), transactionKey(req))
	return statelessBranchPrefix + hex.EncodeToString(mac[:10])
}

// hasHeader reports whether the header section of a datagram has a field named name (no compact
// form). A match in a body can only send the datagram the slow way.
func hasHeader(data []byte, name string) bool {
	for rest := data; ; {
		i := bytes.Index(rest, crlf)
		if i < 0 || i == 0 {
			return false
		}
		rest = rest[i+2:]
		if len(rest) > len(name) && bytes.EqualFold(rest[:len(name)], []byte(name)) {
			if n := bytes.TrimLeft(rest[len(name):], " \t"); len(n) > 0 && n[0] == ':' {
				return true
			}
		}
	}
}

var crlf = []byte("\r\n")

// topViaStateless reports whether a response's first Via carries a branch of statelessBranch:
// a quick look before parsing, confirmed by relayResponse.
func topViaStateless(data []byte) bool {
	for rest := data; ; {
		i := bytes.Index(rest, crlf)
		if i <= 0 {
			return false
		}
		rest = rest[i+2:]
		name, value, ok := bytes.Cut(rest, []byte(":"))
		if !ok {
			return false
		}
		name = bytes.TrimSpace(name)
		if !bytes.EqualFold(name, []byte("via")) && !bytes.EqualFold(name, []byte("v")) {
			continue
		}
		if end := bytes.IndexAny(value, ",\r"); end >= 0 {
			value = value[:end]
		}
		return bytes.Contains(value, []byte("branch="+statelessBranchPrefix))
	}
}

// sipgoTxs counts the UDP server transactions sipgo holds, by a hash of their key, so the fast
// path leaves their requests to sipgo: an ACK for a non-2xx response sipgo sent (it stops the
// response's retransmissions), a retransmission of a request sipgo is handling. A hash collision
// only sends a request the slow way.
type sipgoTxs struct {
	mu sync.Mutex
	n  map[uint64]uint32 // no pointers: the collector does not scan it
}

// track counts tx (the transaction sipgo created for req) until it terminates.
func (s *sipgoTxs) track(req *sip.Request, tx sip.ServerTransaction) {
	if tx == nil || req.IsAck() || !strings.EqualFold(req.Transport(), "UDP") {
		return
	}
	k, ok := sipgoTxKey(req, req.Method)
	if !ok {
		return
	}
	s.mu.Lock()
	if s.n == nil {
		s.n = map[uint64]uint32{}
	}
	s.n[k]++
	s.mu.Unlock()
	if !tx.OnTerminate(func(string, error) { s.drop(k) }) {
		s.drop(k)
	}
}

func (s *sipgoTxs) drop(k uint64) {
	s.mu.Lock()
	if s.n[k] <= 1 {
		delete(s.n, k)
	} else {
		s.n[k]--
	}
	s.mu.Unlock()
}

// size is the number of transactions counted (tests).
func (s *sipgoTxs) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.n)
}

// holds reports whether req may belong to a server transaction of method sipgo holds (true when
// its key cannot be told: an RFC 2543 client without a branch).
func (s *sipgoTxs) holds(req *sip.Request, method sip.RequestMethod) bool {
	k, ok := sipgoTxKey(req, method)
	if !ok {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[k] > 0
}

// sipgoTxKey hashes the key sipgo gives req's server transaction (RFC 3261 §17.2.3: branch,
// sent-by, method; sip.makeServerTxKey) as if it were one of method.
func sipgoTxKey(req *sip.Request, method sip.RequestMethod) (uint64, bool) {
	via := req.Via()
	if via == nil {
		return 0, false
	}
	branch, _ := via.Params.Get("branch")
	if !strings.HasPrefix(branch, sip.RFC3261BranchMagicCookie) || len(branch) == len(sip.RFC3261BranchMagicCookie) {
		return 0, false
	}
	port := via.Port
	if port <= 0 {
		port = sip.DefaultPort(via.Transport)
	}
	h := fnv.New64a()
	io.WriteString(h, branch)
	io.WriteString(h, sip.TxSeperator)
	io.WriteString(h, via.Host)
	io.WriteString(h, sip.TxSeperator)
	io.WriteString(h, strconv.Itoa(port))
	io.WriteString(h, sip.TxSeperator)
	io.WriteString(h, string(method))
	return h.Sum64(), true
}
