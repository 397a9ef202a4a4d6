package registrar

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/firmware/accounts"
	"github.com/deskphone/deskphone/firmware/lanaddr"
	"github.com/deskphone/deskphone/firmware/sipcheck"
	"github.com/deskphone/deskphone/firmware/sipid"
)

// AccountSource finds an account by username or extension. *accounts.Directory satisfies it.
type AccountSource interface {
	Lookup(user string) (accounts.Account, bool)
}

// Option sets what New cannot take from Config: a test seam (WithClock) or the SIP trace.
type Option func(*Registrar)

// Tracer is the logs page's SIP trace (sipgo's tracer, installed process-wide by the caller):
// the UDP datagrams the registrar answers before they reach sipgo (udpreaders.go) are given to
// it here, with the time each came, as sipgo gives it the others; On says whether it records.
type Tracer interface {
	SIPTraceReadAt(at time.Time, transport, laddr, raddr string, msg []byte)
	On() bool
}

// WithSIPTrace gives the registrar the SIP trace sipgo writes to.
func WithSIPTrace(t Tracer) Option { return func(r *Registrar) { r.trace = t } }

// WithClock replaces the wall clock used for binding expiry, nonce lifetime and bans.
func WithClock(c Clock) Option { return func(r *Registrar) { r.clock = c } }

// Registrar is the SIP registrar and proxy. Create it with New and start it with Run.
type Registrar struct {
	cfg      Config
	accts    AccountSource
	log      *slog.Logger
	clock    Clock
	vm       Voicemail // nil: no voicemail
	loc      *location
	store    *store
	nonces   *nonces
	guard    *guard
	opaque   string
	secret   string // keys the Record-Route tokens of this run's dialogs
	routeMAC *macs  // keyed with secret
	domains  map[string]bool

	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client
	parser *sip.Parser

	mu         sync.Mutex
	localIPs   map[netip.Addr]bool
	localIPsAt time.Time // when localIPs was read
	udp        net.PacketConn
	tcp        *tcpListener
	tls        *tcpListener // nil: no TLS listener (tls.go)
	ws         *wsListener
	wsPort     int // the HTTPS port SIP WebSocket clients connect to
	bridge     MediaBridge
	srtp       SRTPBridge   // nil: SRTP-to-RTP bridging off (srtp_bridge.go)
	srtpCalls  *srtpCallSet // the calls the SRTP bridge carries
	calls      callRecords  // recent proxied calls for the web pages (calls.go)
	listenIP   net.IP       // nil when listening on every address
	listenPort int
	tlsPort    int                   // 0: no TLS listener
	routeFrom  map[netip.Addr]string // local address used to reach a peer (localHost)

	fast       atomic.Pointer[fastPath]   // UDP REGISTERs while Run serves (stateless.go)
	udpReaders atomic.Pointer[udpReaders] // the UDP socket's readers while Run serves
	readFilter sip.TransportReadFilter    // bans, flood count, screening, fast paths: every read
	trace      Tracer                     // nil: none (WithSIPTrace)
	ready      chan struct{}
	runCtx     context.Context
	workers    sync.WaitGroup // calls, cancels and BYEs started by handlers (spawn)
	spawnMu    sync.Mutex
	stopping   bool // Run is waiting for its workers: spawn starts no more

	// Calls to end when a side vanishes (hangup.go).
	anchored     anchoredCalls      // bridged answered calls
	flowWatch    flowWatchers       // ringing calls through a WebSocket
	mediaReports <-chan MediaReport // the bridges' reports of dead media (nil: none)

	sipgoTxs sipgoTxs // the UDP server transactions sipgo holds, left to it by the call fast path (fastcall.go)
}

// New checks cfg (zero fields take DefaultConfig's values) and builds a registrar.
func New(cfg Config, accts AccountSource, log *slog.Logger, opts ...Option) (*Registrar, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if strings.ContainsAny(cfg.Realm, `"\`) {
		return nil, fmt.Errorf("registrar realm %q must not contain quotes or backslashes", cfg.Realm)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Registrar{
		cfg: cfg, accts: accts, log: log, clock: realClock{},
		loc:    newLocation(),
		opaque: sipid.Token(12),
		secret: sipid.Token(24),
		ready:  make(chan struct{}),
		parser: sipcheck.NewParser(),
		ws:     newWSListener(),

		srtpCalls: newSRTPCallSet(),
	}
	for _, o := range opts {
		o(r)
	}
	if cfg.DataDir != "" {
		key, err := loadRouteKey(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		r.secret = key
	}
	r.routeMAC = newMACs([]byte(r.secret))
	r.nonces = newNonces(cfg.NonceLifetime, cfg.MaxNonces)
	r.guard = newGuard(cfg, r.clock, log)
	r.guard.known = func(ip netip.Addr) bool { return r.loc.hasSourceIP(ip.String()) }
	r.readFilter = r.screen(r.guard.readFilter(cfg.MaxMessageSize, r.tooBig))
	r.store = newStore(cfg.DataDir, r.loc, log)
	r.domains = map[string]bool{strings.ToLower(cfg.Realm): true, "localhost": true}
	for _, d := range cfg.Domains {
		r.domains[strings.ToLower(d)] = true
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		r.domains[strings.ToLower(h)] = true
		r.domains[strings.ToLower(h)+".local"] = true
	}
	r.refreshLocalIPs()

	n, err := r.store.load(r.clock.Now())
	if err != nil {
		return nil, err
	}
	if n > 0 {
		log.Info("bindings restored", "count", n, "path", r.store.path)
	}

	quiet := slog.New(demoted{log.Handler()})
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(cfg.ServerName),
		sipgo.WithUserAgentParser(r.parser),
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerLogger(quiet),
			sip.WithTransportLayerReadFilter(r.preFiltered(r.readFilter)),
		),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(quiet),
			sip.WithTransactionLayerUnhandledResponseHandler(r.strayResponse),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("start SIP stack: %w", err)
	}
	r.ua = ua
	r.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		return nil, fmt.Errorf("start SIP server: %w", err)
	}
	r.client, err = sipgo.NewClient(ua, sipgo.WithClientLogger(quiet))
	if err != nil {
		return nil, fmt.Errorf("start SIP client: %w", err)
	}
	r.srv.OnRegister(r.wrap(r.onRegister))
	r.srv.OnOptions(r.wrap(r.onOptions))
	r.srv.OnInvite(r.wrap(r.onInvite))
	r.srv.OnAck(r.wrap(r.onAck))
	r.srv.OnCancel(r.wrap(r.onCancel))
	for _, m := range []sip.RequestMethod{sip.BYE, sip.INFO, sip.REFER, sip.MESSAGE, sip.UPDATE, sip.PRACK, sip.NOTIFY, sip.SUBSCRIBE, sip.PUBLISH} {
		r.srv.OnRequest(m, r.wrap(r.onOther))
	}
	r.srv.OnNoRoute(r.wrap(r.onOther))
	return r, nil
}

// demoted passes sipgo's own log lines at debug level: garbage on the port must not flood the log.
type demoted struct{ slog.Handler }

func (d demoted) Enabled(ctx context.Context, _ slog.Level) bool {
	return d.Handler.Enabled(ctx, slog.LevelDebug)
}
func (d demoted) Handle(ctx context.Context, rec slog.Record) error {
	rec.Level = slog.LevelDebug
	return d.Handler.Handle(ctx, rec)
}
func (d demoted) WithAttrs(a []slog.Attr) slog.Handler { return demoted{d.Handler.WithAttrs(a)} }
func (d demoted) WithGroup(n string) slog.Handler      { return demoted{d.Handler.WithGroup(n)} }

// Ready is closed once Run listens.
func (r *Registrar) Ready() <-chan struct{} { return r.ready }

// Addr is the UDP address Run listens on (valid after Ready).
func (r *Registrar) Addr() net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.udp == nil {
		return nil
	}
	return r.udp.LocalAddr()
}

// Run listens on UDP, TCP and TLS and serves until ctx ends, then stops its goroutines, saves
// the bindings and returns.
func (r *Registrar) Run(ctx context.Context) error {
	udp, tcp, err := r.listen()
	if err != nil {
		return err
	}
	tlsL, err := r.listenTLS()
	if err != nil {
		udp.Close()
		tcp.Close()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.mu.Lock()
	r.udp = udp
	r.runCtx = ctx
	r.mu.Unlock()

	var wg sync.WaitGroup
	errc := make(chan error, 4) // one per listener below: none may block after Run stops reading
	tl := newTCPListener(tcp, r.guard, r.cfg.TCPIdleTimeout, r.cfg.MaxTCPConnections, ctx.Done())
	var tlsTL *tcpListener // the same limits for TLS connections: they are TCP underneath
	if tlsL != nil {
		tlsTL = newTCPListener(tlsL, r.guard, r.cfg.TCPIdleTimeout, r.cfg.MaxTCPConnections, ctx.Done())
	}
	r.mu.Lock()
	r.tcp, r.tls = tl, tlsTL
	r.mu.Unlock()
	fast := newFastPath(ctx, r, udp)
	for i := range fast.calls {
		wg.Go(func() { fast.workCalls(i) })
	}
	r.fast.Store(fast)
	readers := newUDPReaders(udp, r.readFilter, r.trace)
	r.udpReaders.Store(readers)
	for range max(2, runtime.GOMAXPROCS(0)) {
		wg.Go(readers.read)
	}
	wg.Go(func() { errc <- r.srv.ServeUDP(readers) })
	wg.Go(func() { errc <- r.srv.ServeTCP(tl) })
	if tlsTL != nil {
		wg.Go(func() { errc <- r.serveTLS(tlsTL) })
		r.log.Info("registrar listening for SIP over TLS", "tls", tlsL.Addr().String())
	}
	wg.Go(func() { errc <- r.srv.ServeWSS(r.ws) })
	wg.Go(func() { r.store.run(ctx) })
	wg.Go(func() { r.housekeeping(ctx) })
	if r.mediaReports != nil {
		wg.Go(func() { r.watchMedia(ctx) })
	}
	if r.cfg.QualifyInterval > 0 {
		wg.Go(func() { r.qualifyLoop(ctx) })
	}
	r.log.Info("registrar listening", "udp", udp.LocalAddr().String(), "tcp", tcp.Addr().String(), "realm", r.cfg.Realm)
	close(r.ready)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		runErr = fmt.Errorf("SIP listener stopped: %w", err)
	}
	cancel()
	readers.Close()
	tcp.Close()
	if tlsL != nil {
		tlsL.Close()
	}
	r.ws.Close()
	r.spawnMu.Lock()
	r.stopping = true
	r.spawnMu.Unlock()
	r.workers.Wait()
	r.ua.Close()
	wg.Wait()
	return runErr
}

// spawn runs f in a worker that Run waits for before it returns. Once Run is stopping f does not
// run: a handler called late (a browser's WebSocket closing as Run stops ends its calls, which
// would send BYEs) starts nothing that outlives Run.
func (r *Registrar) spawn(f func()) {
	r.spawnMu.Lock()
	defer r.spawnMu.Unlock()
	if !r.stopping {
		r.workers.Go(f)
	}
}

// udpReadBuffer is the UDP socket's receive buffer asked for, as Kamailio raises its own: the
// default (about 200 KB, 90 small datagrams as the kernel counts them) drops part of a burst of
// REGISTERs (phones re-registering after a power cut, 200 at once in the bench), which then
// wait for the phone's retransmission half a second later.
const udpReadBuffer = 4 << 20

func (r *Registrar) listen() (net.PacketConn, net.Listener, error) {
	host, portStr, err := net.SplitHostPort(r.cfg.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("registrar listen address %q: %w", r.cfg.Listen, err)
	}
	udpNet, tcpNet := "udp4", "tcp4"
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		udpNet, tcpNet = "udp6", "tcp6"
	}
	for attempt := 0; attempt < 10; attempt++ {
		udp, err := net.ListenPacket(udpNet, r.cfg.Listen)
		if err != nil {
			return nil, nil, fmt.Errorf("registrar cannot listen on UDP %s (is another SIP server running?): %w", r.cfg.Listen, err)
		}
		if uc, ok := udp.(*net.UDPConn); ok {
			_ = uc.SetReadBuffer(udpReadBuffer) // the kernel caps it at net.core.rmem_max
		}
		port := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.Listen(tcpNet, net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			udp.Close()
			if portStr == "0" {
				continue // the kernel's free UDP port is taken on TCP: try another
			}
			return nil, nil, fmt.Errorf("registrar cannot listen on TCP %s: %w", r.cfg.Listen, err)
		}
		r.mu.Lock()
		r.listenPort = port
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
			r.listenIP = ip
		}
		r.mu.Unlock()
		return udp, tcp, nil
	}
	return nil, nil, fmt.Errorf("registrar found no port free on both UDP and TCP")
}

// housekeeping expires bindings, forgets idle sources and notices new local addresses.
func (r *Registrar) housekeeping(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if r.loc.expire(r.clock.Now()) {
			r.store.saveLater()
		}
		r.guard.sweep()
		r.nonces.expire(r.clock.Now())
		if n++; n%12 == 0 {
			r.refreshLocalIPs()
		}
	}
}

func (r *Registrar) refreshLocalIPs() {
	ips := map[netip.Addr]bool{}
	all, _ := lanaddr.All()
	for _, a := range all {
		ips[a] = true
	}
	r.mu.Lock()
	r.localIPs, r.localIPsAt = ips, time.Now()
	r.routeFrom = nil // addresses may have changed
	r.mu.Unlock()
}

// ownsHost reports whether host names this registrar: its realm, hostname, configured domains,
// loopback, or one of the machine's IP addresses.
func (r *Registrar) ownsHost(host string) bool {
	h := strings.ToLower(strings.Trim(host, "[]"))
	if r.domains[h] {
		return true
	}
	ip, err := netip.ParseAddr(h)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	if ip.IsLoopback() {
		return true
	}
	r.mu.Lock()
	known, stale := r.localIPs[ip], time.Since(r.localIPsAt) >= time.Second
	r.mu.Unlock()
	if known || !stale {
		return known
	}
	// Perhaps an address this machine got since (a DHCP lease after the service started): look
	// again, at most once a second.
	r.refreshLocalIPs()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.localIPs[ip]
}

// Bindings lists every current binding for the status API.
func (r *Registrar) Bindings() []BindingStatus {
	now := r.clock.Now()
	var out []BindingStatus
	for _, b := range r.loc.all() {
		if !b.Expires.After(now) {
			continue
		}
		out = append(out, BindingStatus{
			AOR: b.AOR, Extension: b.Extension, Contact: b.Contact, Source: b.Source,
			Transport: b.Transport, ExpiresIn: b.Expires.Sub(now).Truncate(time.Second),
			ExpiresSeconds: int(b.Expires.Sub(now) / time.Second),
			Reachable:      b.Reachable, UserAgent: b.UserAgent,
		})
	}
	return out
}

// Stats are counters for the status API and tests.
type Stats struct {
	Bindings        int    `json:"bindings"`
	Nonces          int    `json:"nonces"` // nonces answered correctly and still live (their nonce-counts are kept)
	BannedSources   int    `json:"banned_sources"`
	Bans            uint64 `json:"bans"`             // since start
	DroppedUnparsed uint64 `json:"dropped_unparsed"` // packets from banned or flooding sources dropped before parsing
}

// Stats returns the current counters.
func (r *Registrar) Stats() Stats {
	bs, _ := r.loc.snapshot()
	return Stats{
		Bindings: len(bs), Nonces: r.nonces.size(), BannedSources: r.guard.bannedCount(),
		Bans: r.guard.bans.Load(), DroppedUnparsed: r.guard.dropped.Load(),
	}
}

// tcpConns is the TCP listener while Run serves, else nil.
func (r *Registrar) tcpConns() *tcpListener {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tcp
}

// connListener is a listener of connection-oriented SIP that closes idle connections: it is told
// of every complete request (the connection is alive) and of registrations over a connection.
type connListener interface {
	request(src string)
	registered(src string, d time.Duration)
}

// noConns stands for UDP, which has no connections to keep.
type noConns struct{}

func (noConns) request(string)                   {}
func (noConns) registered(string, time.Duration) {}

// streamConns is the listener whose connections carry transport (TCP, TLS or a WebSocket).
func (r *Registrar) streamConns(transport string) connListener {
	tcp, tls := strings.EqualFold(transport, "TCP"), strings.EqualFold(transport, "TLS")
	switch {
	case isWS(transport):
		return r.ws
	case !tcp && !tls:
		return noConns{} // UDP: no lock on every datagram
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if tcp {
		return r.tcp // nil-safe: its methods do nothing before Run
	}
	return r.tls
}

func (r *Registrar) context() context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.runCtx == nil {
		return context.Background()
	}
	return r.runCtx
}
