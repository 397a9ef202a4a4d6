package sipua

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deskphone/deskphone/firmware/sipid"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// MediaSession is one call's RTP session (offer/answer, hold, DTMF). media.Session satisfies it.
type MediaSession interface {
	Offer() ([]byte, error)
	AcceptOffer(remote []byte) ([]byte, error)
	AcceptAnswer(remote []byte) error
	Update(remote []byte) ([]byte, error)
	Hold(on bool) ([]byte, error)
	SendDTMF(digits string) error
	ReceiveSIPInfoDTMF(r rune)
	DTMF() <-chan rune
	// Silence says how long the far end has sent no media while it should, and whether that is
	// past the RTP timeout (never on hold).
	Silence() (silent time.Duration, timedOut bool)
	Close() error
}

// Listener receives what happens to calls and to the registration. Calls must not block long.
type Listener interface {
	CallIncoming(id, peer string)
	CallProgress(id string, earlyMedia bool)
	CallAnswered(id string)
	// CallEnded reports the end of a call: reason is bye, hangup, cancelled, rejected, failed,
	// transferred or replaced; code is the SIP status of a failed call (0 otherwise).
	CallEnded(id, reason string, code int)
	CallRemoteHold(id string, on bool)
	// CallSilent reports an established call whose far end sent no RTP or RTCP for silent,
	// past the RTP timeout, while not on hold: it vanished without a BYE. Once per silence.
	CallSilent(id string, silent time.Duration)
	CallReferred(id, to string)
	// CallReplaced reports an incoming call (answered at once) that takes the place of the call
	// old (INVITE with Replaces, RFC 3891: we are the target of an attended transfer); old then
	// ends with reason replaced.
	CallReplaced(id, old, peer string)
	DTMFReceived(id string, digit rune)
	// TransferFailed reports a transfer of ours that did not happen (refused or no result); the
	// call goes on.
	TransferFailed(id, detail string)
	RegistrationChanged(state, detail string)
}

// Config is the user agent's account and addresses.
type Config struct {
	Listen    string // "0.0.0.0:5062"; port 0 picks one
	Transport string // udp | tcp | tls
	// With Transport "tls": trust a pinned SHA-256 certificate fingerprint, or the authorities of
	// a PEM file, or (both empty) the system's (tls.go).
	TLSFingerprint, TLSCAFile string
	Registrar                 string // host:port; empty: no registration, calls go to the number's host
	BackupRegistrar           string
	Extension                 string // the user part of our address of record
	Username                  string // digest user name (defaults to Extension)
	Password                  string
	DisplayName               string
	Realm                     string        // realm credentials may go to; empty: the registrar's first challenge
	Expires                   time.Duration // asked registration time (3600s)
	UserAgent                 string        // User-Agent header
	// NewMedia opens a media session whose SDP carries localIP.
	NewMedia func(localIP string) (MediaSession, error)
	// Backoff between failed registrations: from BackoffMin doubling to BackoffMax (1s, 5m).
	BackoffMin, BackoffMax time.Duration
}

// UA is the user agent. Build it with New, run it with Run.
type UA struct {
	cfg Config
	log *slog.Logger
	lis Listener

	ua     *sipgo.UserAgent
	client *sipgo.Client
	server *sipgo.Server

	conn     net.PacketConn // UDP listener
	tcp      net.Listener
	localIP  string  // the address when the phone started (Call-IDs); ip() is the current one
	addr     address // the current address
	route    func(registrar string) (ip string, ok bool)
	boundAll bool // the SIP socket listens on every interface
	port     int
	realm    string // learned from the registrar's first challenge when not configured
	regState string

	mu       sync.Mutex       // guards the call index and the registration fields, never a call's state
	calls    map[string]*call // by our call ID
	byCallID map[string]*call // by SIP Call-ID
	seq      int
	regAddr  string // the registrar currently used (primary or backup)

	ready  chan struct{}   // closed once the SIP socket is served
	ctx    context.Context // lives until Run's context ends
	stop   context.CancelFunc
	wg     sync.WaitGroup // the SIP listeners
	callWG sync.WaitGroup // the calls' goroutines and their transactions
}

// ErrNoRegistrar is returned when a number without a host is dialled and no registrar is set.
var ErrNoRegistrar = errors.New("no registrar configured to route the call")

// New checks the config and binds the SIP port.
func New(cfg Config, lis Listener, log *slog.Logger) (*UA, error) {
	if cfg.Transport == "" {
		cfg.Transport = "udp"
	}
	if cfg.Transport != "udp" && cfg.Transport != "tcp" && cfg.Transport != "tls" {
		return nil, fmt.Errorf("sip transport %q: use udp, tcp or tls", cfg.Transport)
	}
	if cfg.Username == "" {
		cfg.Username = cfg.Extension
	}
	if cfg.Extension == "" {
		cfg.Extension = cfg.Username
	}
	if cfg.Expires <= 0 {
		cfg.Expires = time.Hour
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 5 * time.Minute
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "deskphone"
	}
	if cfg.NewMedia == nil {
		return nil, errors.New("sipua: no media factory")
	}
	u := &UA{cfg: cfg, log: log, lis: lis, calls: map[string]*call{}, byCallID: map[string]*call{},
		regAddr: cfg.Registrar, ready: make(chan struct{})}
	u.ctx, u.stop = context.WithCancel(context.Background())

	conn, err := net.ListenPacket("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("phone SIP port %s: %w", cfg.Listen, err)
	}
	u.conn = conn
	u.port = conn.LocalAddr().(*net.UDPAddr).Port
	if cfg.Transport == "tcp" {
		host, _, _ := net.SplitHostPort(cfg.Listen)
		u.tcp, err = net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(u.port)))
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("phone SIP port %s/tcp: %w", cfg.Listen, err)
		}
	}
	u.localIP = localIPFor(conn.LocalAddr().(*net.UDPAddr).IP, cfg.Registrar)
	u.boundAll = conn.LocalAddr().(*net.UDPAddr).IP.IsUnspecified()

	uaOpts := []sipgo.UserAgentOption{sipgo.WithUserAgent(cfg.UserAgent), sipgo.WithUserAgentHostname(u.localIP)}
	if cfg.Transport == "tls" {
		conf, err := clientTLS(cmp.Or(cfg.Registrar, "127.0.0.1:5061"), cfg.TLSCAFile, cfg.TLSFingerprint)
		if err != nil {
			u.closeListeners()
			return nil, err
		}
		uaOpts = append(uaOpts, sipgo.WithUserAgenTLSConfig(conf))
	}
	u.ua, err = sipgo.NewUA(uaOpts...)
	if err != nil {
		u.closeListeners()
		return nil, fmt.Errorf("sip user agent: %w", err)
	}
	opts := []sipgo.ClientOption{sipgo.WithClientHostname(u.localIP), sipgo.WithClientPort(u.port),
		sipgo.WithClientLogger(log.With("sip", "client"))}
	if cfg.Transport == "udp" {
		// Send from the listening socket, so replies and in-dialog requests come back to it.
		opts = append(opts, sipgo.WithClientConnectionAddr(conn.LocalAddr().String()))
	}
	u.client, err = sipgo.NewClient(u.ua, opts...)
	if err != nil {
		u.closeListeners()
		return nil, fmt.Errorf("sip client: %w", err)
	}
	u.server, err = sipgo.NewServer(u.ua, sipgo.WithServerLogger(log.With("sip", "server")))
	if err != nil {
		u.closeListeners()
		return nil, fmt.Errorf("sip server: %w", err)
	}
	u.route = u.routeToRegistrar
	u.setIP(u.localIP)
	u.server.OnInvite(u.onInvite)
	u.server.OnAck(u.onAck)
	u.server.OnBye(u.onBye)
	u.server.OnCancel(u.onCancel)
	u.server.OnOptions(u.onOptions)
	u.server.OnRefer(u.onRefer)
	u.server.OnNotify(u.onNotify)
	u.server.OnInfo(u.onInfo)
	u.server.OnUpdate(u.onUpdate)
	return u, nil
}

func (u *UA) closeListeners() {
	u.conn.Close()
	if u.tcp != nil {
		u.tcp.Close()
	}
}

// Addr is the phone's SIP address (the bound host:port).
func (u *UA) Addr() string { return net.JoinHostPort(u.ip(), strconv.Itoa(u.port)) }

// localIPFor picks the address the peers should reach us on: the bound one, or when bound to all
// interfaces, the one the kernel would use towards the registrar.
func localIPFor(bound net.IP, registrar string) string {
	if bound != nil && !bound.IsUnspecified() {
		return bound.String()
	}
	target := registrar
	if target == "" {
		target = "192.0.2.1:5060" // no packet is sent: connecting a UDP socket only picks a route
	}
	if c, err := net.Dial("udp", target); err == nil {
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).IP.String()
	}
	return "127.0.0.1"
}

// mediaIP is the address our SDP carries (and RTP binds to) for a call whose far end's SDP names
// the offer body (nil for our own offer). Signalling to the built-in registrar goes over loopback,
// but the audio flows straight between the phones on the LAN: a loopback address in the SDP would
// leave a LAN peer mute. So when the phone listens on every interface and reaches its registrar
// over loopback, the SDP gets the address that routes towards the peer (or, for an offer, the
// default route's).
func (u *UA) mediaIP(offer []byte) string {
	own := u.ip()
	if !u.boundAll {
		return own
	}
	if ip := net.ParseIP(own); ip == nil || !ip.IsLoopback() {
		return own
	}
	target := "192.0.2.1:9" // TEST-NET-1: no packet is sent, connecting a UDP socket only picks a route
	if peer := sdpConnectionIP(offer); peer != nil {
		if peer.IsLoopback() || peer.IsUnspecified() {
			return own
		}
		target = net.JoinHostPort(peer.String(), "9")
	}
	c, err := net.Dial("udp", target)
	if err != nil {
		return own // no route off this machine: loopback is all there is
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String()
}

// sdpConnectionIP is the last connection address (c=) of an SDP body — the media-level one when
// there is one (RFC 8866 §5.7) — or nil.
func sdpConnectionIP(body []byte) net.IP {
	var ip net.IP
	for _, line := range strings.Split(string(body), "\n") {
		f := strings.Fields(strings.TrimSpace(line))
		if len(f) == 3 && (f[0] == "c=IN" && (f[1] == "IP4" || f[1] == "IP6")) {
			if p := net.ParseIP(f[2]); p != nil {
				ip = p
			}
		}
	}
	return ip
}

func (u *UA) contact() sip.ContactHeader {
	c := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: u.cfg.Extension, Host: u.ip(), Port: u.port}}
	if u.cfg.Transport != "udp" {
		c.Address.UriParams = sip.NewParams()
		c.Address.UriParams.Add("transport", u.cfg.Transport)
	}
	return c
}

// Run serves SIP and keeps the registration until ctx ends, then unregisters and hangs up.
func (u *UA) Run(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		u.stop()
	}()
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		if err := u.server.ServeUDP(u.conn); err != nil && ctx.Err() == nil {
			u.log.Error("SIP UDP listener stopped", "err", err)
		}
	}()
	if u.tcp != nil {
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			if err := u.server.ServeTCP(u.tcp); err != nil && ctx.Err() == nil {
				u.log.Error("SIP TCP listener stopped", "err", err)
			}
		}()
	}
	// sipgo adds the socket to its pool inside ServeUDP; requests sent before would bind another one.
	poll := time.NewTicker(5 * time.Millisecond)
	for i := 0; i < 200; i++ {
		if c, _ := u.ua.TransportLayer().GetConnection("udp", u.conn.LocalAddr().String()); c != nil {
			break
		}
		select {
		case <-poll.C:
		case <-ctx.Done():
		}
	}
	poll.Stop()
	close(u.ready)
	u.log.Info("phone SIP listening", "addr", u.Addr(), "transport", u.cfg.Transport)
	if u.cfg.Registrar == "" {
		u.setReg("disabled", "no registrar configured")
		<-ctx.Done()
	} else {
		u.registerLoop(ctx)
	}
	u.hangupAll()
	u.callWG.Wait() // the BYEs are out before the sockets close
	u.closeListeners()
	u.wg.Wait()
	u.ua.Close()
	return nil
}

func (u *UA) setReg(state, detail string) {
	u.mu.Lock()
	changed := state != u.regState
	u.regState = state
	u.mu.Unlock()
	if changed || state == "failed" {
		u.lis.RegistrationChanged(state, detail)
	}
}

// registrarAddr is the registrar currently in use (primary, or backup after a failure).
func (u *UA) registrarAddr() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.regAddr
}

// domain is the host part of our address of record.
func (u *UA) domain() string {
	addr := u.registrarAddr()
	if addr == "" {
		return u.ip()
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

func (u *UA) aor() sip.Uri {
	return sip.Uri{Scheme: "sip", User: u.cfg.Extension, Host: u.domain()}
}

func (u *UA) from() *sip.FromHeader {
	f := &sip.FromHeader{DisplayName: u.cfg.DisplayName, Address: u.aor(), Params: sip.NewParams()}
	f.Params.Add("tag", sipid.Token(8))
	return f
}

// targetURI turns a number or a SIP URI into a request URI and the address to send it to.
func (u *UA) targetURI(to string) (sip.Uri, string, error) {
	var uri sip.Uri
	s := strings.TrimSpace(strings.Trim(strings.TrimSpace(to), "<>"))
	if !strings.HasPrefix(s, "sip:") && !strings.HasPrefix(s, "sips:") {
		if strings.Contains(s, "@") {
			s = "sip:" + s
		} else {
			s = "sip:" + s + "@" + u.domain()
		}
	}
	if err := sip.ParseUri(s, &uri); err != nil {
		return uri, "", fmt.Errorf("number %q: %w", to, err)
	}
	uri.UriParams = nil
	uri.Headers = nil
	dest := u.registrarAddr()
	if dest == "" {
		port := uri.Port
		if port == 0 {
			port = 5060
		}
		dest = net.JoinHostPort(uri.Host, strconv.Itoa(port))
	}
	return uri, dest, nil
}

func (u *UA) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowed))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	tx.Respond(res)
}

const allowed = "INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, INFO, UPDATE"

// supported lists our SIP extensions: UPDATE outside offer/answer needs none, Replaces is RFC 3891.
const supported = "replaces"

func statusText(res *sip.Response) string {
	return strconv.Itoa(res.StatusCode) + " " + res.Reason
}

func aorString(uri sip.Uri) string { return uri.String() }
