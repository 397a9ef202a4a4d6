package registrar

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/firmware/sipcheck"
)

// The UDP fast path of calls, as Kamailio's configuration handles them (stateless sl replies,
// in-dialog requests relayed along the route set): the messages of a call that need no
// transaction skip the goroutine, server transaction, FSM and timers sipgo gives every message.
// sipgo's read loop parses them and decides (takeCall); one worker per core does the work, the
// messages of one call always on the same worker, in the order they came:
//
//   - an INVITE without credentials gets its 407 challenge statelessly (RFC 3261 §16.11; the
//     REGISTER's 401 is answered the same way, stateless.go): the answer is kept for 64×T1, so a
//     retransmitted INVITE gets the same 407 (same nonce), and the ACK of that 407 is absorbed;
//   - an ACK or BYE inside a dialog this proxy record-routed, between two UDP phones whose media
//     the Pi does not bridge, is relayed statelessly (RFC 3261 §16.11) through the same steps as
//     the stateful relay (forwardInDialog: Max-Forwards, our Route with this Call-ID's token, the
//     next hop a registered contact or an IP address, the call list); a BYE's branch is derived
//     from the incoming request's transaction, so its retransmissions reach the callee as
//     retransmissions;
//   - the responses to those BYEs are relayed by their Via without sipgo's client-transaction
//     lookup, and the final one is kept for 64×T1: a BYE retransmitted after it gets it from
//     here, as from a server transaction (a phone need not answer a BYE again for a call it
//     ended).
//
// Everything else goes to sipgo as before: INVITEs with credentials (forking, the call list,
// voicemail), calls whose media the Pi bridges (WebRTC, SRTP: their dialogs are followed by
// hangup.go), CANCEL, other in-dialog requests, other transports. A request sipgo holds a server
// transaction for (the ACK of a non-2xx response it sent, a retransmission) always goes to
// sipgo: sipgoTxs knows them.

// statelessBranchPrefix starts the Via branch of a request relayed statelessly. upstream reads
// responses to it as ours (branchPrefix); the "." never appears in the random branches of the
// stateful relay (sipid.Token is hexadecimal), so a response to one of those is never taken here.
const statelessBranchPrefix = branchPrefix + "sl."

var (
	inviteLine   = []byte("INVITE ")
	ackLine      = []byte("ACK ")
	byeLine      = []byte("BYE ")
	responseLine = []byte("SIP/2.0 ")
)

// callJob is a parsed call message for a call worker: a request from a UDP address, or a
// response to a request relayed statelessly.
type callJob struct {
	req  *sip.Request
	res  *sip.Response
	from *net.UDPAddr
}

// newCallQueues makes one queue per call worker. The messages of one call go to one worker, in
// the order they came: an ACK is not overtaken by the BYE sent right after it.
func newCallQueues(workers int) []chan callJob {
	qs := make([]chan callJob, workers)
	for i := range qs {
		qs[i] = make(chan callJob, 256)
	}
	return qs
}

// takeCall queues a screened UDP datagram for the call workers if the fast path handles it; false
// leaves it to sipgo, which parses it again (the authenticated INVITE is told by a look at the
// bytes; other messages the fast path leaves are rare in a call's life). It runs in sipgo's read
// loop, so it only decides and leaves the work to the workers.
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
	if m, ok := msg.(*sip.Response); ok {
		top := m.Via()
		if top == nil || m.CallID() == nil || !strings.HasPrefix(top.Params.GetOr("branch", ""), statelessBranchPrefix) {
			return false
		}
		return f.queueCall(callJob{res: m})
	}
	req, ok := msg.(*sip.Request)
	if !ok || req.Via() == nil || req.CallID() == nil || req.CSeq() == nil || req.To() == nil {
		return false // sipgo's path refuses it (400)
	}
	switch req.Method {
	case sip.INVITE:
		if req.To().Params.Has("tag") || sipcheck.Header(req.Headers(), "Proxy-Authorization") != nil {
			return false // in a dialog (routeInDialog), or credentials after all
		}
	case sip.ACK:
		if f.answers.has(transactionKey(req), f.r.clock.Now()) {
			return true // the ACK of an answer the fast path sent: absorbed, as its transaction would
		}
		if f.r.sipgoTxs.holds(req, sip.INVITE) {
			return false // the ACK of a non-2xx response sipgo sent: it stops its retransmissions
		}
	case sip.BYE:
		if req.Route() == nil || !req.To().Params.Has("tag") || f.r.sipgoTxs.holds(req, sip.BYE) || !f.r.statelessHop(req) {
			return false
		}
	default:
		return false
	}
	return f.queueCall(callJob{req: req, from: ua})
}

// queueCall hands j to the worker of its Call-ID; false when the service is stopping.
func (f *fastPath) queueCall(j callJob) bool {
	var callID string
	if j.req != nil {
		callID = j.req.CallID().Value()
	} else {
		callID = j.res.CallID().Value()
	}
	select {
	case f.calls[fnvString(fnvOffset, callID)%uint64(len(f.calls))] <- j:
		return true
	case <-f.ctx.Done():
		return false
	}
}

// workCalls handles the call messages of queue i until Run ends.
func (f *fastPath) workCalls(i int) {
	for {
		select {
		case <-f.ctx.Done():
			return
		case j := <-f.calls[i]:
			f.handleCall(j)
		}
	}
}

func (f *fastPath) handleCall(j callJob) {
	switch {
	case j.res != nil:
		f.relayResponse(j.res)
	case j.req.Method == sip.INVITE:
		f.challengeInvite(j.req, j.from)
	default:
		f.inDialog(j.req, j.from)
	}
}

// challengeInvite answers an INVITE without credentials with a 407, as onInvite would
// (authorize finds no credentials for our realm and challenges; Max-Forwards 0 gets 483 first).
func (f *fastPath) challengeInvite(req *sip.Request, from *net.UDPAddr) {
	f.answerOnce(req, from, func(req *sip.Request, tx *udpAnswer) {
		if mf := req.MaxForwards(); mf != nil && mf.Val() == 0 {
			f.r.answer(tx, req, 483, "Too Many Hops")
			return
		}
		f.r.challenge(req, tx, true, false)
	})
}

// inDialog relays an ACK (as onAck: along the route set, or dropped without one) or a BYE of a
// plain call, statelessly (RFC 3261 §16.11), through the same steps as routeInDialog.
func (f *fastPath) inDialog(req *sip.Request, from *net.UDPAddr) {
	tx := &udpAnswer{f: f, to: from}
	defer f.r.recoverRequest(req, tx)
	if !f.r.admit(req, tx) {
		return
	}
	if req.IsAck() {
		if req.Route() != nil {
			f.r.forwardInDialog(req, tx, nil) // an ACK has no transaction anyway
		}
		return
	}
	// The same transaction's retransmissions leave with the same branch, so the next hop
	// answers them as retransmissions (RFC 3261 §16.11); and once its final response came back,
	// a retransmission gets that response again from here, as from a server transaction (a
	// phone may not answer a BYE again for a call it ended).
	branch := f.r.statelessBranch(req)
	if prev, again := f.answers.begin(branch, f.r.clock.Now()); again && prev != nil {
		f.write(prev, from)
		return
	}
	f.r.forwardInDialog(req, tx, func(fwd *sip.Request, _ dialogMedia) {
		fwd.Via().Params.Add("branch", branch)
		if err := f.r.client.WriteRequest(fwd, asBuilt); err != nil {
			f.r.log.Info("in-dialog request failed: next hop unreachable", "method", string(req.Method), "dst", fwd.Destination(), "err", err)
			f.r.answer(tx, req, 503, "Service Unavailable")
		}
	})
}

// relayResponse relays a response to a request relayed statelessly, by its Via. A final one
// without a body going to a UDP phone is kept for the request's retransmissions (inDialog).
func (f *fastPath) relayResponse(res *sip.Response) {
	defer func() {
		if p := recover(); p != nil {
			f.r.log.Error("response relaying failed; the response is dropped and the service continues", "panic", fmt.Sprint(p), "src", res.Source())
		}
	}()
	if res.StatusCode < 200 || len(res.Body()) > 0 {
		f.r.strayResponse(res)
		return
	}
	// As upstream, but in place: no transaction holds this response.
	branch := res.Via().Params.GetOr("branch", "")
	res.RemoveHeader("Via")
	next := res.Via()
	if next == nil {
		return
	}
	dst, err := netip.ParseAddrPort(viaDestination(next))
	if err != nil || !strings.EqualFold(next.Transport, "UDP") {
		res.SetDestination(viaDestination(next))
		res.SetTransport(strings.ToUpper(next.Transport))
		if err := f.r.srv.TransportLayer().WriteMsg(res); err != nil {
			f.r.log.Debug("cannot forward response", "status", res.StatusCode, "dst", res.Destination(), "err", err)
		}
		return
	}
	buf := responseBufs.Get().(*bytes.Buffer)
	buf.Reset()
	res.StringWrite(buf)
	f.answers.finish(branch, bytes.Clone(buf.Bytes()))
	f.write(buf.Bytes(), net.UDPAddrFromAddrPort(dst))
	responseBufs.Put(buf)
}

// statelessHop reports whether an in-dialog request may be relayed statelessly: its call is
// not one whose media the Pi bridges (hangup.go follows those dialogs through the stateful
// relay), and it goes to a UDP phone.
func (r *Registrar) statelessHop(req *sip.Request) bool {
	callID := req.CallID().Value()
	if r.anchored.peek(callID) != nil || r.srtpBridged(callID) {
		return false
	}
	_, transport, ok := r.inDialogHop(req)
	return ok && strings.EqualFold(transport, "UDP")
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
	h := fnvString(fnvOffset, branch)
	h = fnvString(h, sip.TxSeperator)
	h = fnvString(h, via.Host)
	h = fnvString(h, sip.TxSeperator)
	var num [20]byte
	h = fnvBytes(h, strconv.AppendInt(num[:0], int64(port), 10))
	h = fnvString(h, sip.TxSeperator)
	return fnvString(h, string(method)), true
}

// FNV-1a, 64 bits (hash/fnv without its allocations).
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}

func fnvBytes(h uint64, b []byte) uint64 {
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h
}
