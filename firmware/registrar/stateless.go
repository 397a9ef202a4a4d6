package registrar

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/firmware/sipcheck"
	"github.com/deskphone/deskphone/firmware/sipid"
)

// The UDP fast path: REGISTERs that come over UDP are parsed, checked and answered in the UDP
// read loop's own goroutine, outside sipgo's transaction layer (no goroutine, server transaction
// or timers per request, and no hand-off to another goroutine, whose wake-ups cost more than a
// 401), as Kamailio answers REGISTER statelessly. Everything else a REGISTER goes through is the
// same as over TCP: the read filter's bans, flood count and screening before parsing, admit's
// checks, digest authentication with nonce-count replay protection, and the 200 OK only once
// the bindings are on disk (sent by the store's writer, so the read loop never waits for a disk
// write). While a REGISTER is handled, the next datagrams wait in the socket's buffer.
//
// A server transaction's one remaining job, answering a retransmitted request with the same
// response (RFC 3261 §17.2.2), is done by answers: the final response to every REGISTER is kept
// for 64×T1, keyed by the request's transaction identity, and a retransmission gets it again (or
// nothing while the first copy is still being handled), so it is neither a nonce-count replay
// nor a second binding, and a phone that missed a 401 gets the same challenge, not another one.
// A request with credentials outlives its kept answer in its nonce record (see answersMax).

// fastPath holds the socket, the retransmission memory and the call workers' queues of the UDP
// fast path.
type fastPath struct {
	ctx     context.Context // Run's: the fast path and its call workers stop with it
	r       *Registrar
	conn    *sip.UDPConnection // the listening socket; its WriteTo feeds the SIP trace
	answers *answers
	calls   []chan callJob // one per call worker (fastcall.go)
}

func newFastPath(ctx context.Context, r *Registrar, udp net.PacketConn) *fastPath {
	return &fastPath{
		ctx:     ctx,
		r:       r,
		conn:    &sip.UDPConnection{PacketConn: udp, PacketAddr: udp.LocalAddr().String(), Listener: true},
		answers: newAnswers(answersMax, 64*sip.T1),
		calls:   newCallQueues(max(2, runtime.GOMAXPROCS(0))),
	}
}

// answersMax bounds the responses kept for retransmissions (each a few hundred bytes: 10 MiB
// at most, reached only by thousands of REGISTERs a second; an office's phones keep a few
// dozen). A retransmission that comes after its response was pushed out is recognised by its
// nonce record instead (nonces.use: nonceAgain) and answered 200 with the bindings as they are,
// not applied again (register).
const answersMax = 16384

// isRegister reports whether a datagram is a REGISTER request (methods are case-sensitive).
func isRegister(data []byte) bool { return bytes.HasPrefix(data, []byte("REGISTER ")) }

// take handles a screened UDP REGISTER in the read loop's goroutine; it reports false when it
// did not (from is not a UDP address, or Run is ending), and then sipgo handles the datagram.
// data is the read loop's buffer: the parser copies what it keeps. (Handing REGISTERs with
// credentials to a worker goroutine beside the read loop cost about 1 µs more per message in
// the bench, for no clear gain in rate.)
func (f *fastPath) take(data []byte, from net.Addr) bool {
	ua, ok := from.(*net.UDPAddr)
	if !ok || f.ctx.Err() != nil {
		return false
	}
	f.handle(data, ua)
	return true
}

func (f *fastPath) handle(data []byte, from *net.UDPAddr) {
	msg, err := f.r.parser.ParseSIP(data)
	if err != nil {
		f.r.log.Debug("unparsable request dropped", "src", from.String(), "err", err) // as sipgo does
		return
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		return
	}
	req.SetTransport("UDP")
	req.SetSource(from.String())
	f.answerOnce(req, from, func(req *sip.Request, tx *udpAnswer) { f.r.register(req, tx, true) })
}

// answerOnce admits req (admit's checks) and, unless it is a retransmission (sent the kept
// answer again, or nothing while the first copy is being handled), hands it to handle with a
// responder that keeps its final answer for the retransmissions to come.
func (f *fastPath) answerOnce(req *sip.Request, from *net.UDPAddr, handle func(*sip.Request, *udpAnswer)) {
	tx := &udpAnswer{f: f, to: from}
	defer f.r.recoverRequest(req, tx)
	if !f.r.admit(req, tx) {
		return
	}
	key := transactionKey(req)
	if prev, again := f.answers.begin(key, f.r.clock.Now()); again {
		if prev != nil {
			f.write(prev, from)
		}
		return
	}
	tx.key = key
	handle(req, tx)
}

// transactionKey identifies a request's server transaction (RFC 3261 §17.2.3), with the source
// address, Call-ID and CSeq added for clients whose branch is not unique.
func transactionKey(req *sip.Request) string {
	branch := ""
	if v := req.Via(); v != nil {
		branch = v.Params.GetOr("branch", "")
	}
	return req.Source() + "\x00" + branch + "\x00" + req.CallID().Value() + "\x00" + strconv.FormatUint(uint64(req.CSeq().SeqNo), 10)
}

// transactionHash is a hash of transactionKey (FNV-1a), which nonce records keep.
func transactionHash(req *sip.Request) uint64 {
	branch := ""
	if v := req.Via(); v != nil {
		branch = v.Params.GetOr("branch", "")
	}
	var seq [20]byte
	h := fnvString(fnvOffset, req.Source())
	h = fnvString(h, "\x00")
	h = fnvString(h, branch)
	h = fnvString(h, "\x00")
	h = fnvString(h, req.CallID().Value())
	h = fnvString(h, "\x00")
	h = fnvBytes(h, strconv.AppendUint(seq[:0], uint64(req.CSeq().SeqNo), 10))
	return h | 1 // never 0, which stands for no transaction
}

func (f *fastPath) write(data []byte, to *net.UDPAddr) {
	if _, err := f.conn.WriteTo(data, to); err != nil {
		f.r.log.Debug("cannot send response", "dst", to.String(), "err", err)
	}
}

var responseBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// udpAnswer is the responder of a request on the fast path: responses go straight back to the
// packet's source address, as sipgo sends them (RFC 3581 §4), and a final one is kept for
// retransmissions when key is set.
type udpAnswer struct {
	f   *fastPath
	to  *net.UDPAddr
	key string
}

func (a *udpAnswer) Respond(res *sip.Response) error {
	buf := responseBufs.Get().(*bytes.Buffer)
	buf.Reset()
	res.StringWrite(buf)
	a.send(buf.Bytes(), res.StatusCode)
	responseBufs.Put(buf)
	return nil
}

func (a *udpAnswer) send(data []byte, status int) {
	if a.key != "" && status >= 200 {
		// Kept before it is sent: a retransmission may follow the response at once.
		a.f.answers.finish(a.key, bytes.Clone(data))
	}
	a.f.write(data, a.to)
}

// respondTo sends the response answer builds (sipcheck.Response, a Server header, hdrs) written
// straight from req's headers, without building a *sip.Response: the same bytes for one copy of
// the five headers it repeats instead of two. It reports false, sending nothing, for a request
// whose headers sipcheck.Response must repair (one sipgo could not parse).
func (a *udpAnswer) respondTo(req *sip.Request, code int, reason, server string, hdrs []sip.Header) bool {
	from, to, callID, cseq := req.From(), req.To(), req.CallID(), req.CSeq()
	if from == nil || to == nil || callID == nil || cseq == nil {
		return false
	}
	var vias []*sip.ViaHeader
	for _, h := range req.Headers() {
		if strings.EqualFold(h.Name(), "Via") {
			v, ok := h.(*sip.ViaHeader)
			if !ok {
				return false
			}
			vias = append(vias, v)
		}
	}
	if len(vias) == 0 {
		return false
	}
	w := responseBufs.Get().(*bytes.Buffer)
	w.Reset()
	w.WriteString("SIP/2.0 ")
	w.WriteString(strconv.Itoa(code))
	w.WriteByte(' ')
	w.WriteString(reason)
	w.WriteString("\r\n")
	for i, v := range vias {
		if i == 0 {
			writeTopVia(w, v, req.Source())
		} else {
			sipcheck.WriteHeader(w, v)
		}
		w.WriteString("\r\n")
	}
	sipcheck.WriteHeader(w, from)
	w.WriteString("\r\n")
	sipcheck.WriteHeader(w, to)
	if !to.Params.Has("tag") {
		w.WriteString(";tag=")
		w.Write(sipid.Append(w.AvailableBuffer(), 8)) // sipid.Token(8), written in place
	}
	w.WriteString("\r\n")
	callID.StringWrite(w)
	w.WriteString("\r\n")
	cseq.StringWrite(w)
	w.WriteString("\r\nContent-Length: 0\r\nServer: ")
	w.WriteString(server)
	w.WriteString("\r\n")
	for _, h := range hdrs {
		sipcheck.WriteHeader(w, h)
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
	a.send(w.Bytes(), code)
	responseBufs.Put(w)
	return true
}

// writeTopVia writes the request's top Via as a response carries it: rport filled in when asked
// for (RFC 3581 §4), received when the sent-by is not the source address (RFC 3261 §18.2.1), as
// sipgo's NewResponseFromRequest and sipcheck.Response write it (without a copy of the Via).
func writeTopVia(w *bytes.Buffer, v *sip.ViaHeader, source string) {
	host, port, err := net.SplitHostPort(source)
	if err != nil {
		sipcheck.WriteHeader(w, v)
		return
	}
	var buf [64]byte
	src := append(buf[:0], host...)
	if ap, err := netip.ParseAddrPort(source); err == nil {
		src = ap.Addr().Unmap().AppendTo(buf[:0])
	}
	rport, asked := v.Params.Get("rport")
	hasReceived := v.Params.Has("received")
	sameHost := strings.Trim(v.Host, "[]") == string(src)
	fill := asked && rport == ""
	switch {
	case fill:
		sipcheck.WriteViaWith(w, v, sip.HeaderKV{K: "rport", V: port}, sip.HeaderKV{K: "received", V: host})
	case !hasReceived && !sameHost:
		sipcheck.WriteViaWith(w, v, sip.HeaderKV{K: "received", V: string(src)})
	default:
		sipcheck.WriteHeader(w, v)
	}
}

// answers keeps the final responses of recent requests for their retransmissions: at most max,
// each for ttl (Timer J, 64×T1, RFC 3261 §17.2.2); the oldest go first when it is full.
type answers struct {
	max int
	ttl time.Duration

	mu   sync.Mutex
	m    map[string]*answer
	ring []string // keys in arrival order
	next int
}

type answer struct {
	at   time.Time
	data []byte // nil while the request is being handled
	slot int
}

func newAnswers(max int, ttl time.Duration) *answers {
	return &answers{max: max, ttl: ttl, m: make(map[string]*answer, max), ring: make([]string, max)}
}

// begin reports whether key was seen within ttl (a retransmission) and then the response it got
// (nil: none yet, send nothing); otherwise it records key as being handled.
func (a *answers) begin(key string, now time.Time) ([]byte, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e, ok := a.m[key]; ok && now.Sub(e.at) < a.ttl {
		return e.data, true
	}
	if old := a.ring[a.next]; old != "" {
		if e, ok := a.m[old]; ok && e.slot == a.next {
			delete(a.m, old)
		}
	}
	a.m[key] = &answer{at: now, slot: a.next}
	a.ring[a.next] = key
	a.next = (a.next + 1) % a.max
	return nil, false
}

// has reports whether key was seen within ttl.
func (a *answers) has(key string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.m[key]
	return ok && now.Sub(e.at) < a.ttl
}

// finish records the final response sent for key.
func (a *answers) finish(key string, data []byte) {
	a.mu.Lock()
	if e, ok := a.m[key]; ok {
		e.data = data
	}
	a.mu.Unlock()
}

// forget drops every kept response (tests: a retransmission whose answer was pushed out).
func (a *answers) forget() {
	a.mu.Lock()
	clear(a.m)
	clear(a.ring)
	a.mu.Unlock()
}

// size is the number of requests remembered.
func (a *answers) size() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.m)
}
