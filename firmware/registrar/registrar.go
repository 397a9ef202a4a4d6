package registrar

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/firmware/accounts"
	"github.com/deskphone/deskphone/firmware/sipcheck"
)

// AccountSource finds an account by username or extension. *accounts.Directory satisfies it.
type AccountSource interface {
	Lookup(user string) (accounts.Account, bool)
}

// Option is a test seam for New.
type Option func(*Registrar)

// WithClock replaces the wall clock used for binding expiry, nonce lifetime and bans.
func WithClock(c Clock) Option { return func(r *Registrar) { r.clock = c } }

// Registrar is the SIP registrar and proxy. Create it with New and start it with Run.
type Registrar struct {
	cfg     Config
	accts   AccountSource
	log     *slog.Logger
	clock   Clock
	vm      Voicemail // nil: no voicemail
	loc     *location
	store   *store
	nonces  *nonceTable
	guard   *guard
	opaque  string
	secret  string // keys the Record-Route tokens of this run's dialogs
	domains map[string]bool

	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client
	parser *sip.Parser

	mu         sync.Mutex
	localIPs   map[netip.Addr]bool
	udp        net.PacketConn
	listenIP   net.IP // nil when listening on every address
	listenPort int
	routeFrom  map[netip.Addr]string // local address used to reach a peer (localHost)

	ready   chan struct{}
	runCtx  context.Context
	workers sync.WaitGroup // calls, cancels and qualify probes started by handlers
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
		opaque: randomToken(12),
		secret: randomToken(24),
		ready:  make(chan struct{}),
		parser: sip.NewParser(),
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
	r.nonces = newNonceTable(cfg.NonceLifetime, cfg.MaxNonces)
	r.guard = newGuard(cfg, r.clock, log)
	r.guard.known = func(ip netip.Addr) bool { return r.loc.hasSourceIP(ip.String()) }
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
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerLogger(quiet),
			sip.WithTransportLayerReadFilter(r.guard.readFilter(cfg.MaxMessageSize, r.tooBig)),
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

// Run listens on UDP and TCP and serves until ctx ends, then stops its goroutines, saves the
// bindings and returns.
func (r *Registrar) Run(ctx context.Context) error {
	udp, tcp, err := r.listen()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.mu.Lock()
	r.udp = udp
	r.runCtx = ctx
	r.mu.Unlock()

	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Go(func() { errc <- r.srv.ServeUDP(udp) })
	wg.Go(func() { errc <- r.srv.ServeTCP(newBannedListener(tcp, r.guard, ctx.Done())) })
	wg.Go(func() { r.store.run(ctx) })
	wg.Go(func() { r.housekeeping(ctx) })
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
	udp.Close()
	tcp.Close()
	r.workers.Wait()
	r.ua.Close()
	wg.Wait()
	return runErr
}

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
		if n++; n%12 == 0 {
			r.refreshLocalIPs()
		}
	}
}

func (r *Registrar) refreshLocalIPs() {
	ips := map[netip.Addr]bool{}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				ips[p.Addr().Unmap()] = true
			}
		}
	}
	r.mu.Lock()
	r.localIPs = ips
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
	Nonces          int    `json:"nonces"` // outstanding digest challenges
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

// wrap is the common front of every handler: recover from bugs, drop scanners, check sanity.
func (r *Registrar) wrap(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		defer func() {
			if p := recover(); p != nil {
				r.log.Error("request handling failed; the request is refused and the service continues", "panic", fmt.Sprint(p), "method", string(req.Method), "src", req.Source())
				if !req.IsAck() {
					r.reply(tx, req, 500, "Server Internal Error")
				}
			}
		}()
		ip := sourceIP(req)
		if uaHdr := req.GetHeader("User-Agent"); uaHdr != nil && isScanner(uaHdr.Value()) {
			r.guard.ban(ip, "scanner User-Agent")
			return
		}
		if err := sipcheck.Request(req, sipcheck.Limits{}); err != nil {
			r.log.Debug("malformed request refused", "src", req.Source(), "status", err.Status, "why", err.Detail)
			if !req.IsAck() {
				r.reply(tx, req, err.Status, err.Reason)
			}
			return
		}
		if !req.IsAck() && !req.IsCancel() {
			// RFC 3261 §16.3 step 4 (Proxy-Require) and §8.2.2.3 (Require, for what this server
			// answers itself): no extension is supported.
			un := sipcheck.Unsupported(req, "Proxy-Require")
			if req.Method == sip.REGISTER || req.Method == sip.OPTIONS && !req.To().Params.Has("tag") {
				un = append(un, sipcheck.Unsupported(req, "Require")...)
			}
			if len(un) > 0 {
				r.reply(tx, req, 420, "Bad Extension", sip.NewHeader("Unsupported", strings.Join(un, ", ")))
				return
			}
		}
		h(req, tx)
	}
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
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	res.SipVersion = "SIP/2.0" // even to a request in another version (505)
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
	msg, err := r.parser.ParseSIP(data)
	if err != nil {
		return
	}
	req, ok := msg.(*sip.Request)
	if !ok || req.IsAck() {
		return
	}
	req.SetSource(from.String())
	res := sip.NewResponseFromRequest(req, 513, "Message Too Large", nil)
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
	_, _ = udp.WriteTo([]byte(res.String()), dst)
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

// authenticate checks the request's digest credentials for our realm (RFC 3261 §22.4).
func (r *Registrar) authenticate(req *sip.Request, proxy bool) (accounts.Account, authResult) {
	name := "Authorization"
	if proxy {
		name = "Proxy-Authorization"
	}
	src := sourceIP(req).String()
	result := authNone
	for _, h := range req.GetHeaders(name) {
		c, err := parseCredentials(h.Value())
		if err != nil {
			result = authFailed
			continue
		}
		if c.Realm != r.cfg.Realm {
			continue
		}
		acct, known := r.accts.Lookup(c.Username)
		pass := acct.Password
		if !known {
			pass = dummyHA1 // hash anyway: unknown users cost the same as known ones
		}
		if !checkDigest(c, ha1(c.Username, r.cfg.Realm, pass), string(req.Method)) || !known {
			return accounts.Account{}, authFailed
		}
		switch r.nonces.use(c.Nonce, src, c.QOP, c.NC, r.clock.Now()) {
		case nonceOK:
			return acct, authOK
		case nonceStale:
			return accounts.Account{}, authStale
		default:
			return accounts.Account{}, authFailed
		}
	}
	return accounts.Account{}, result
}

// challenge answers 401 (REGISTER) or 407 (proxied requests) with a fresh nonce. Unknown users,
// wrong passwords and missing credentials all get exactly this response (field notes §1.6.1).
func (r *Registrar) challenge(req *sip.Request, tx sip.ServerTransaction, proxy, stale bool) {
	nonce := r.nonces.issue(sourceIP(req).String(), r.clock.Now())
	value := challenge(r.cfg.Realm, nonce, r.opaque, stale)
	if proxy {
		r.reply(tx, req, 407, "Proxy Authentication Required", sip.NewHeader("Proxy-Authenticate", value))
		return
	}
	r.reply(tx, req, 401, "Unauthorized", sip.NewHeader("WWW-Authenticate", value))
}

// authorize runs authenticate and answers the request itself unless the result is authOK.
func (r *Registrar) authorize(req *sip.Request, tx sip.ServerTransaction, proxy bool) (accounts.Account, bool) {
	acct, res := r.authenticate(req, proxy)
	switch res {
	case authOK:
		return acct, true
	case authFailed:
		user := ""
		if h := req.From(); h != nil {
			user = h.Address.User
		}
		r.log.Warn("authentication failed", "method", string(req.Method), "src", req.Source(), "from_user", user)
		if r.guard.authFailed(sourceIP(req)) {
			return acct, false // banned now: say nothing more
		}
	}
	r.challenge(req, tx, proxy, res == authStale)
	return acct, false
}

// onRegister is RFC 3261 §10.3.
func (r *Registrar) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	if !r.ownsHost(req.Recipient.Host) {
		r.reply(tx, req, 403, "Forbidden")
		return
	}
	acct, ok := r.authorize(req, tx, false)
	if !ok {
		return
	}
	aorUser := req.To().Address.User
	target, known := r.accts.Lookup(aorUser)
	if !known || target.Username != acct.Username || !r.ownsHost(req.To().Address.Host) {
		r.log.Warn("registration refused: credentials belong to another account", "auth_user", acct.Username, "aor", aorUser, "src", req.Source())
		r.reply(tx, req, 403, "Forbidden")
		return
	}

	u, status, reason, extra := r.parseRegister(req)
	if status != 0 {
		r.reply(tx, req, status, reason, extra...)
		return
	}
	now := r.clock.Now()
	var outcome registerOutcome
	var after []Binding
	var before []Binding
	version, changed := r.loc.update(acct.Username, func(cur []Binding) ([]Binding, bool) {
		before = cur
		next, ch, oc := applyRegister(cur, u, acct.Username, acct.Extension, r.cfg.MaxContacts, now)
		outcome, after = oc, next
		return next, ch
	})
	if outcome == registerOutOfOrder {
		r.reply(tx, req, 400, "Out Of Order CSeq")
		return
	}
	if changed {
		ctx := r.context()
		if err := r.store.saveNow(ctx, version); err != nil {
			r.log.Error("binding kept in memory only", "aor", acct.Username, "err", err)
		}
		r.logBindingChange(acct, before, after, req)
	} else {
		r.store.saveLater()
	}
	hdrs := make([]sip.Header, 0, len(after)+1)
	for _, b := range after {
		secs := int(b.Expires.Sub(now).Round(time.Second) / time.Second)
		hdrs = append(hdrs, sip.NewHeader("Contact", "<"+b.Contact+">;expires="+strconv.Itoa(secs)))
	}
	hdrs = append(hdrs, sip.NewHeader("Date", now.UTC().Format(time.RFC1123)))
	r.reply(tx, req, 200, "OK", hdrs...)
}

func (r *Registrar) context() context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.runCtx == nil {
		return context.Background()
	}
	return r.runCtx
}

func (r *Registrar) logBindingChange(acct accounts.Account, before, after []Binding, req *sip.Request) {
	had := map[string]bool{}
	for _, b := range before {
		had[contactKey(b.Contact)] = true
	}
	has := map[string]bool{}
	for _, b := range after {
		has[contactKey(b.Contact)] = true
		if !had[contactKey(b.Contact)] {
			r.log.Info("phone registered", "aor", acct.Username, "extension", acct.Extension, "contact", b.Contact,
				"src", b.Source, "transport", b.Transport, "expires_in", b.Expires.Sub(r.clock.Now()).Round(time.Second).String(), "user_agent", b.UserAgent)
		}
	}
	for _, b := range before {
		if !has[contactKey(b.Contact)] {
			r.log.Info("phone unregistered", "aor", acct.Username, "extension", acct.Extension, "contact", b.Contact, "src", req.Source())
		}
	}
}

// parseRegister turns the REGISTER's Contact and Expires headers into an update, or a status to
// refuse it with (400 for a bad wildcard, 423 with Min-Expires for a too short expiry).
func (r *Registrar) parseRegister(req *sip.Request) (registerUpdate, int, string, []sip.Header) {
	u := registerUpdate{
		CallID:    req.CallID().Value(),
		CSeq:      req.CSeq().SeqNo,
		Source:    req.Source(),
		Transport: strings.ToUpper(req.Transport()),
	}
	if h := req.GetHeader("User-Agent"); h != nil {
		u.UserAgent = h.Value()
		if len(u.UserAgent) > 128 {
			u.UserAgent = u.UserAgent[:128]
		}
	}
	headerExpires := -1
	if h := req.GetHeader("Expires"); h != nil {
		v, _ := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32) // sipcheck verified it
		headerExpires = int(min(v, 1<<31-1))
	}
	contacts := req.GetHeaders("Contact")
	const maxPerRequest = 16
	if len(contacts) > maxPerRequest {
		return u, 400, "Too Many Contacts", nil
	}
	for _, h := range contacts {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			return u, 400, "Bad Contact", nil
		}
		if c.Address.Wildcard {
			if len(contacts) != 1 || headerExpires != 0 {
				return u, 400, "Bad Wildcard Contact", nil // RFC 3261 §10.3 step 6
			}
			u.Wildcard = true
			return u, 0, "", nil
		}
		scheme := strings.ToLower(c.Address.Scheme)
		if scheme != "sip" && scheme != "sips" || c.Address.Host == "" {
			return u, 400, "Bad Contact", nil
		}
		uri := c.Address.String()
		if sipcheck.Text(uri) != nil || len(uri) > 512 {
			return u, 400, "Bad Contact", nil
		}
		exp := headerExpires
		if v, ok := c.Params.Get("expires"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil {
				return u, 400, "Bad Contact Expires", nil
			}
			exp = int(min(n, 1<<31-1))
		}
		d := r.cfg.DefaultExpires
		if exp >= 0 {
			d = time.Duration(exp) * time.Second
		}
		if d != 0 && d < r.cfg.MinExpires {
			return u, 423, "Interval Too Brief", []sip.Header{sip.NewHeader("Min-Expires", strconv.Itoa(int(r.cfg.MinExpires/time.Second)))}
		}
		if d > r.cfg.MaxExpires {
			d = r.cfg.MaxExpires
		}
		u.Contacts = append(u.Contacts, contactUpdate{URI: uri, Key: contactKey(uri), Expires: d})
	}
	return u, 0, "", nil
}
