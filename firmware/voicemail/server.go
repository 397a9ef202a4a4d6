package voicemail

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/firmware/accounts"
	"github.com/deskphone/deskphone/firmware/lanaddr"
	"github.com/deskphone/deskphone/firmware/media"
)

// Config is the voicemail's configuration.
type Config struct {
	Dir        string        // where the mailboxes live (data_dir/voicemail)
	Listen     string        // the SIP endpoint's UDP address, reached only by the registrar ("127.0.0.1:0")
	Language   string        // default prompts: "en", "fr" or "de" (LanguageFor(tone_country))
	NoAnswer   time.Duration // ring time before an unanswered call goes to voicemail (20 s)
	MaxMessage time.Duration // longest message (120 s)
	Silence    time.Duration // a message ends after this much silence (8 s)
	Quota      int64         // bytes for all mailboxes together (64 MiB)
	Media      media.Config  // RTP ports and codecs; LocalIP is chosen per call
	ServerName string        // User-Agent ("deskphone")
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{Listen: "127.0.0.1:0", Language: "en", NoAnswer: 20 * time.Second, MaxMessage: 120 * time.Second,
		Silence: 8 * time.Second, Quota: 64 << 20, Media: media.DefaultConfig(), ServerName: "deskphone"}
}

// Mailboxes finds an account by username or extension: every account has a mailbox, named by
// its extension. *accounts.Directory satisfies it.
type Mailboxes interface {
	Lookup(user string) (accounts.Account, bool)
}

// mailboxOf names the mailbox of user (a username or an extension).
func (s *Server) mailboxOf(user string) (string, bool) {
	a, ok := s.boxes.Lookup(user)
	if !ok || !validExt(a.Extension) {
		return "", false
	}
	return a.Extension, true
}

// Server is the voicemail: a SIP endpoint inside the service, to which the registrar sends the
// calls its phones do not answer (deposit), the *97 calls (retrieval) and the message-summary
// subscriptions; it stores the messages in a Store and tells the phones how many are waiting.
type Server struct {
	cfg    Config
	log    *slog.Logger
	store  *Store
	boxes  Mailboxes
	prompt *prompts

	conn    net.PacketConn
	addr    netip.AddrPort
	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	client  *sipgo.Client
	dialogs *sipgo.DialogServerCache

	mu      sync.Mutex
	proxy   netip.AddrPort // the registrar: the only source of requests, the hop for NOTIFY
	runCtx  context.Context
	subs    map[string]*subscription // by dialog ID
	workers sync.WaitGroup
}

// New opens the mailboxes and binds the SIP endpoint. Run serves it.
func New(cfg Config, boxes Mailboxes, log *slog.Logger) (*Server, error) {
	d := DefaultConfig()
	cfg.Listen = cmp.Or(cfg.Listen, d.Listen)
	cfg.Language = cmp.Or(cfg.Language, d.Language)
	cfg.NoAnswer = cmp.Or(cfg.NoAnswer, d.NoAnswer)
	cfg.MaxMessage = cmp.Or(cfg.MaxMessage, d.MaxMessage)
	cfg.Silence = cmp.Or(cfg.Silence, d.Silence)
	cfg.Quota = cmp.Or(cfg.Quota, d.Quota)
	cfg.ServerName = cmp.Or(cfg.ServerName, d.ServerName)
	if len(cfg.Media.Codecs) == 0 {
		cfg.Media = d.Media
	}
	if cfg.Dir == "" {
		return nil, errors.New("voicemail needs a directory (data_dir)")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	store, err := OpenStore(cfg.Dir, cfg.Quota, log)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenPacket("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("voicemail SIP endpoint %s: %w", cfg.Listen, err)
	}
	addr := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	s := &Server{cfg: cfg, log: log, store: store, boxes: boxes, prompt: newPrompts(cfg.Language),
		conn: conn, addr: netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port()), subs: map[string]*subscription{}}
	quiet := slog.New(slog.DiscardHandler)
	s.ua, err = sipgo.NewUA(sipgo.WithUserAgent(cfg.ServerName),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(quiet)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(quiet)))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("voicemail SIP stack: %w", err)
	}
	if s.srv, err = sipgo.NewServer(s.ua, sipgo.WithServerLogger(quiet)); err == nil {
		s.client, err = sipgo.NewClient(s.ua, sipgo.WithClientLogger(quiet),
			sipgo.WithClientHostname(s.addr.Addr().String()), sipgo.WithClientConnectionAddr(s.addr.String()))
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("voicemail SIP stack: %w", err)
	}
	s.dialogs = sipgo.NewDialogServerCache(s.client, sip.ContactHeader{
		Address: sip.Uri{Scheme: "sip", User: "voicemail", Host: s.addr.Addr().String(), Port: int(s.addr.Port())}})
	s.srv.OnInvite(s.onInvite)
	s.srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = s.dialogs.ReadAck(req, tx) })
	s.srv.OnBye(s.onBye)
	s.srv.OnSubscribe(s.onSubscribe)
	s.srv.OnCancel(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
	})
	s.store.Watch(s.changed)
	return s, nil
}

// Store is the mailboxes, for the web pages and the console.
func (s *Server) Store() *Store { return s.store }

// Addr is the voicemail's SIP address.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// SetProxy names the registrar (its UDP address): only it may send requests here, and
// unsolicited NOTIFYs go through it to the phones.
func (s *Server) SetProxy(ap netip.AddrPort) {
	if ap.Addr().IsUnspecified() {
		ap = netip.AddrPortFrom(s.addr.Addr(), ap.Port())
	}
	s.mu.Lock()
	s.proxy = ap
	s.mu.Unlock()
}

// NoAnswer is how long a call rings before it goes to voicemail.
func (s *Server) NoAnswer(string) time.Duration { return s.cfg.NoAnswer }

// uri addresses this endpoint with a user part saying what to do.
func (s *Server) uri(user string) sip.Uri {
	return sip.Uri{Scheme: "sip", User: user, Host: s.addr.Addr().String(), Port: int(s.addr.Port())}
}

// Deposit returns where to send a call to ext's mailbox: false when ext has no mailbox.
func (s *Server) Deposit(ext string) (sip.Uri, bool) {
	box, ok := s.mailboxOf(ext)
	if !ok {
		return sip.Uri{}, false
	}
	return s.uri("deposit-" + box), true
}

// Retrieve returns where to send the *97 call of user to hear its own mailbox.
func (s *Server) Retrieve(user string) (sip.Uri, bool) {
	box, ok := s.mailboxOf(user)
	if !ok {
		return sip.Uri{}, false
	}
	return s.uri("retrieve-" + box), true
}

// Summary returns where to send user's SUBSCRIBE for message-summary (RFC 3842).
func (s *Server) Summary(user string) (sip.Uri, bool) {
	box, ok := s.mailboxOf(user)
	if !ok {
		return sip.Uri{}, false
	}
	return s.uri("mwi-" + box), true
}

// IsVoicemail tells the registrar whether a request comes from this endpoint.
func (s *Server) IsVoicemail(src string) bool {
	ap, err := netip.ParseAddrPort(src)
	return err == nil && netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) == s.addr
}

// Run serves until ctx ends, then hangs up the calls in progress (their recordings are kept).
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	s.runCtx = ctx
	s.mu.Unlock()
	errc := make(chan error, 1)
	go func() { errc <- s.srv.ServeUDP(s.conn) }()
	s.log.Info("voicemail ready", "mailboxes", s.cfg.Dir, "sip", s.addr.String(), "no_answer", s.cfg.NoAnswer.String(), "language", s.prompt.lang)
	s.workers.Go(func() { s.refreshLoop(ctx) })
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	s.workers.Wait()
	s.ua.Close()
	s.conn.Close()
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("voicemail: %w", err)
	}
	return nil
}

func (s *Server) context() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runCtx == nil {
		return context.Background()
	}
	return s.runCtx
}

// trusted: requests come only from the registrar, which authenticated the caller.
func (s *Server) trusted(req *sip.Request) bool {
	ap, err := netip.ParseAddrPort(req.Source())
	s.mu.Lock()
	proxy := s.proxy
	s.mu.Unlock()
	return err == nil && proxy.IsValid() && netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) == proxy
}

func respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string) {
	_ = tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil))
}

// target splits the Request-URI user ("deposit-5002") into what to do and the mailbox.
func target(req *sip.Request) (kind, box string) {
	kind, box, _ = strings.Cut(req.Recipient.User, "-")
	if !validExt(box) {
		return "", ""
	}
	return kind, box
}

func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if !s.trusted(req) {
		s.log.Warn("voicemail refused a request that did not come through the registrar", "src", req.Source())
		respond(tx, req, 403, "Forbidden")
		return
	}
	if req.To().Params.Has("tag") {
		respond(tx, req, 488, "Not Acceptable Here") // no re-INVITEs: the calls are short
		return
	}
	kind, box := target(req)
	if kind != "deposit" && kind != "retrieve" {
		respond(tx, req, 404, "Not Found")
		return
	}
	mcfg := s.cfg.Media
	mcfg.LocalIP = s.localIPFor(req.Body())
	sess, err := media.NewSession(mcfg, s.log.With("mailbox", box))
	if err != nil {
		s.log.Warn("voicemail cannot take the call", "mailbox", box, "err", err)
		respond(tx, req, 503, "Service Unavailable")
		return
	}
	answer, err := sess.AcceptOffer(req.Body())
	if err != nil {
		sess.Close()
		respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	dlg, err := s.dialogs.ReadInvite(req, tx)
	if err != nil {
		sess.Close()
		respond(tx, req, 500, "Server Internal Error")
		return
	}
	caller := ""
	if f := req.From(); f != nil {
		caller = f.Address.User
	}
	ctype := sip.ContentTypeHeader("application/sdp")
	if err := dlg.Respond(200, "OK", answer, &ctype); err != nil {
		sess.Close()
		dlg.Close()
		return
	}
	s.workers.Go(func() {
		defer dlg.Close()
		defer sess.Close()
		defer func() {
			if p := recover(); p != nil { // a defect must not stop the phone system
				s.log.Error("voicemail call failed", "panic", fmt.Sprint(p), "mailbox", box)
			}
		}()
		c := newCall(s, dlg, sess, box, caller)
		if kind == "deposit" {
			c.deposit()
		} else {
			c.retrieve()
		}
		c.end()
	})
}

func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	if err := s.dialogs.ReadBye(req, tx); err != nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
	}
}

// localIPFor is the address the caller's RTP reaches us on: the one routing to the c= address
// of its offer.
func (s *Server) localIPFor(sdp []byte) string {
	for line := range strings.SplitSeq(string(sdp), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "c=IN IP4 "); ok {
			if ip, err := netip.ParseAddr(strings.TrimSpace(v)); err == nil {
				if ip.IsLoopback() {
					return ip.String()
				}
				if lip, err := lanaddr.Toward(netip.AddrPortFrom(ip, 9).String()); err == nil {
					return lip.String()
				}
			}
		}
	}
	return s.addr.Addr().String()
}
