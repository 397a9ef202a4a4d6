package provisioning

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/deskphone/deskphone/firmware/accounts"
	"github.com/deskphone/deskphone/firmware/lanaddr"
)

// Config is the provisioning server's settings. Durations are plain time.Duration.
type Config struct {
	// Pairing is how unknown phones get an account: PairingButton (a window opened by the API, the
	// `deskphone ctl pair` command or the pair button), PairingOpen (always) or PairingOff (never).
	Pairing PairingMode
	// PairingWindow is how long a window stays open when opened without a duration (5 min).
	PairingWindow time.Duration
	// MaxPhones caps how many phones can be paired at all (100), so that pairing = "open" on a
	// hostile LAN cannot fill the extension range and the state file.
	MaxPhones int
	// FirmwareDir is the folder the user fills with noesip4018 and datsip4018 (never shipped).
	FirmwareDir string
	// FirstExtension is where paired phones' extensions start ("5001").
	FirstExtension string
	// StatePath is the JSON file of bound addresses and handset passwords; "" keeps them in memory.
	StatePath string
	// Listen is the HTTP address phones reach ("0.0.0.0:80"): the status page shows its port as the
	// phone's "DL port".
	Listen string

	// SIPHost is the registrar address written in the files; "" = the address the phone reached
	// over HTTP, so the file always points at the interface the phone can talk to.
	SIPHost string
	SIPPort int    // registrar port (5060)
	Realm   string // registrar digest realm; "" = the SIP host, as the registrar's default
	// Voicemail: the registrar has mailboxes; the phones' message key dials *97 and they
	// subscribe to their own mailbox (voice_mail_uri, message_waiting_indication_uri).
	Voicemail bool
	// Codecs in order of preference (PCMA, PCMU, G729, G723); others are skipped.
	Codecs []string
	// ToneCountry: fr, de, it, es, nl, pt, uk, us.
	ToneCountry string
	// DTMFPayloadType is the RTP payload type of RFC 2833 telephone-events the phone offers. 96, the
	// phone's own default: the Pi's SIP phone answers with the payload type offered to it, and offers
	// 96 to this phone as well when configured so (see docs/alcatel.md).
	DTMFPayloadType int
	NTPServer       string        // sntp_addr; "" = the Pi
	DNSServer       string        // dns_addr; "" = the Pi (the files hold only addresses)
	PollMinutes     int           // config_polling_timer, 5–65535 (60)
	RegisterExpires time.Duration // register_expire (10 min: a restarted Pi is found again soon)
	Timezone        string        // IANA zone ("Europe/Paris"); "" = UTC

	// Guessing protection: BanThreshold distinct unknown MACs (or 4× that many refusals) from one
	// source within BanWindow bans it for BanTime.
	BanThreshold int           // 5
	BanWindow    time.Duration // 1 min
	BanTime      time.Duration // 15 min
	// AllowPublicSources serves phones outside loopback, private and link-local addresses.
	AllowPublicSources bool
}

// DefaultConfig returns the settings used for fields left at their zero value.
func DefaultConfig() Config {
	return Config{
		Pairing:         PairingButton,
		PairingWindow:   5 * time.Minute,
		MaxPhones:       100,
		FirmwareDir:     "/boot/alcatel",
		FirstExtension:  "5001",
		Listen:          "0.0.0.0:80",
		SIPPort:         5060,
		Codecs:          []string{"PCMA", "PCMU"},
		ToneCountry:     "fr",
		DTMFPayloadType: 96,
		PollMinutes:     60,
		RegisterExpires: 10 * time.Minute,
		BanThreshold:    5,
		BanWindow:       time.Minute,
		BanTime:         15 * time.Minute,
	}
}

// Directory is the account store the registrar authenticates against; *accounts.Directory is one.
type Directory interface {
	ByMAC(mac string) (accounts.Account, bool)
	All() []accounts.Account
	Add(a accounts.Account) error
	Remove(ext string) error
	NextFreeExtension(start string) (string, error)
}

// Option changes a test seam of the Server.
type Option func(*Server)

// WithClock replaces time.Now.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithInterfaceAddrs replaces the lookup of the Pi's own LAN addresses shown on the status page.
func WithInterfaceAddrs(f func() ([]netip.Addr, error)) Option {
	return func(s *Server) { s.ifaceAddrs = f }
}

// Server answers the phones' HTTP requests (ServeHTTP) and the pairing API (APIHandler).
type Server struct {
	cfg        Config
	dir        Directory
	log        *slog.Logger
	loc        *time.Location
	now        func() time.Time
	ifaceAddrs func() ([]netip.Addr, error)

	mu          sync.Mutex
	phones      map[string]*phoneState // by MAC
	windowUntil time.Time              // pairing window (PairingButton); zero = closed
	guard       *guard
}

// ErrConfig wraps a setting New cannot work with.
var ErrConfig = errors.New("provisioning setting")

// New checks cfg (zero fields take DefaultConfig's values), loads the state file and reports a missing
// firmware folder in the log.
func New(cfg Config, dir Directory, log *slog.Logger, opts ...Option) (*Server, error) {
	if dir == nil {
		return nil, fmt.Errorf("%w: no account directory", ErrConfig)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = withDefaults(cfg)
	if err := cfg.check(); err != nil {
		return nil, err
	}
	loc := time.UTC
	if cfg.Timezone != "" {
		l, err := time.LoadLocation(cfg.Timezone)
		if err != nil {
			return nil, fmt.Errorf("%w: timezone %q is not an IANA zone name such as \"Europe/Paris\": %w", ErrConfig, cfg.Timezone, err)
		}
		loc = l
	}
	phones, err := loadState(cfg.StatePath)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:        cfg,
		dir:        dir,
		log:        log,
		loc:        loc,
		now:        time.Now,
		ifaceAddrs: lanaddr.OwnIPv4,
		phones:     phones,
		guard:      newGuard(cfg.BanThreshold, cfg.BanWindow, cfg.BanTime),
	}
	for _, o := range opts {
		o(s)
	}
	if _, ok := toneCountryCode(cfg.ToneCountry); !ok {
		log.Warn("the Alcatel has no tones for this country (it knows fr, de, it, es, nl, pt, uk, us): it plays English tones", "tone_country", cfg.ToneCountry)
	}
	if fw := s.firmwareStatus(); !fw.OK {
		log.Warn(fw.Message, "firmware_dir", cfg.FirmwareDir)
	}
	return s, nil
}

func withDefaults(c Config) Config {
	d := DefaultConfig()
	c.Pairing = cmp.Or(c.Pairing, d.Pairing)
	if c.PairingWindow <= 0 {
		c.PairingWindow = d.PairingWindow
	}
	c.FirstExtension = cmp.Or(c.FirstExtension, d.FirstExtension)
	c.MaxPhones = cmp.Or(c.MaxPhones, d.MaxPhones)
	c.Listen = cmp.Or(c.Listen, d.Listen)
	c.SIPPort = cmp.Or(c.SIPPort, d.SIPPort)
	c.ToneCountry = cmp.Or(c.ToneCountry, d.ToneCountry)
	c.DTMFPayloadType = cmp.Or(c.DTMFPayloadType, d.DTMFPayloadType)
	c.PollMinutes = cmp.Or(c.PollMinutes, d.PollMinutes)
	c.RegisterExpires = cmp.Or(c.RegisterExpires, d.RegisterExpires)
	c.BanThreshold = cmp.Or(c.BanThreshold, d.BanThreshold)
	c.BanWindow = cmp.Or(c.BanWindow, d.BanWindow)
	c.BanTime = cmp.Or(c.BanTime, d.BanTime)
	return c
}

func (c Config) check() error {
	switch c.Pairing {
	case PairingButton, PairingOpen, PairingOff:
	default:
		return fmt.Errorf("%w: pairing = %q: use \"button\", \"open\" or \"off\"", ErrConfig, c.Pairing)
	}
	if _, err := fmt.Sscan(c.FirstExtension, new(uint)); err != nil || strings.TrimLeft(c.FirstExtension, "0123456789") != "" {
		return fmt.Errorf("%w: first_extension = %q: use digits, such as \"5001\"", ErrConfig, c.FirstExtension)
	}
	if c.PollMinutes < 5 || c.PollMinutes > 65535 {
		return fmt.Errorf("%w: poll_minutes = %d: the phone accepts 5 to 65535", ErrConfig, c.PollMinutes)
	}
	if c.DTMFPayloadType < 96 || c.DTMFPayloadType > 127 {
		return fmt.Errorf("%w: DTMF payload type %d: use a dynamic type, 96 to 127 (RFC 3551 §3)", ErrConfig, c.DTMFPayloadType)
	}
	if c.SIPPort < 1 || c.SIPPort > 65535 {
		return fmt.Errorf("%w: SIP port %d", ErrConfig, c.SIPPort)
	}
	for _, v := range []string{c.SIPHost, c.Realm, c.NTPServer, c.DNSServer} {
		if err := checkValue(v); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	return nil
}

// ServeHTTP answers a phone's request for sipconfig.txt, sipconfig-<MAC>.txt or a firmware file, and
// logs it with the phone's User-Agent. Everything else, and every refusal, is the same 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	src := sourceAddr(r.RemoteAddr)
	rt := parsePath(r.URL.EscapedPath())
	log := s.log.With("path", truncate(r.URL.EscapedPath(), maxPathLen), "src", src.String(), "user_agent", truncate(r.UserAgent(), 80))

	s.mu.Lock()
	if !src.IsValid() || s.guard.banned(src, now) {
		s.mu.Unlock()
		log.Debug("alcatel request from a banned source refused")
		refuse(w)
		return
	}
	if !s.cfg.AllowPublicSources && !localSource(src) {
		s.mu.Unlock()
		log.Warn("alcatel request refused: phones are only provisioned on the local network")
		refuse(w)
		return
	}
	if (r.Method != http.MethodGet && r.Method != http.MethodHead) || rt.kind == kindNone {
		s.refusedLocked(log, src, "", now)
		s.mu.Unlock()
		level := slog.LevelDebug // a browser's /favicon.ico
		if parseUserAgent(r.UserAgent()).known {
			level = slog.LevelInfo
		}
		log.Log(r.Context(), level, "alcatel request refused: not a file phones ask for", "method", r.Method)
		refuse(w)
		return
	}
	s.mu.Unlock()

	switch rt.kind {
	case kindFirmware:
		s.serveFirmware(w, r, rt.file, log)
	case kindGlobal:
		s.serveGlobal(w, r, log)
	case kindPhone:
		s.servePhone(w, r, rt.mac, src, now, log)
	}
}

// refusedLocked counts a refusal towards src's ban and logs the ban once.
func (s *Server) refusedLocked(log *slog.Logger, src netip.Addr, mac string, now time.Time) {
	if s.guard.refused(src, mac, now) {
		log.Warn("source banned from provisioning: it asked for configurations it may not have (MAC guessing?)",
			"ban", s.cfg.BanTime.String())
	}
}

// hostFor is the address written in the files: the configured one, else the local address of the
// connection the phone opened.
func (s *Server) hostFor(r *http.Request) (string, bool) {
	if s.cfg.SIPHost != "" {
		return s.cfg.SIPHost, true
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ip := sourceAddr(a.String()); ip.IsValid() && !ip.IsUnspecified() {
			return ip.String(), true
		}
	}
	return "", false
}

func (s *Server) siteFor(r *http.Request, fw firmware, log *slog.Logger) (site, bool) {
	host, ok := s.hostFor(r)
	if !ok {
		log.Error("cannot tell which of the Pi's addresses the phone reached; set the SIP host in the provisioning settings")
		return site{}, false
	}
	tz, err := AlcatelTimezone(s.loc, s.now())
	if err != nil {
		log.Warn("the phone's clock will not follow daylight saving time this year", "err", err)
	}
	tone, _ := toneCountryCode(s.cfg.ToneCountry)
	timeFormat := 0
	if tone == 0 && strings.EqualFold(s.cfg.ToneCountry, "us") {
		timeFormat = 1
	}
	if !fw.known {
		log.Warn("unrecognised User-Agent: application_mode left out of the file (the phone keeps its mode)")
	}
	return site{
		Host:            host,
		SIPPort:         s.cfg.SIPPort,
		Realm:           s.cfg.Realm,
		DNS:             s.cfg.DNSServer,
		NTP:             s.cfg.NTPServer,
		Timezone:        tz,
		ToneCountry:     tone,
		Vocoders:        preferredVocoders(s.cfg.Codecs, s.cfg.ToneCountry),
		DTMFPayloadType: s.cfg.DTMFPayloadType,
		RegisterExpires: int(s.cfg.RegisterExpires / time.Second),
		PollMinutes:     s.cfg.PollMinutes,
		AppMode:         fw.applicationMode(),
		TimeFormat:      timeFormat,
		Voicemail:       s.cfg.Voicemail,
	}, true
}

func (s *Server) serveGlobal(w http.ResponseWriter, r *http.Request, log *slog.Logger) {
	st, ok := s.siteFor(r, parseUserAgent(r.UserAgent()), log)
	if !ok {
		refuse(w)
		return
	}
	s.serveFile(w, r, renderGlobal(st), log)
	log.Info("alcatel global configuration served")
}

func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, f File, log *slog.Logger) bool {
	b, err := f.Marshal()
	if err != nil {
		log.Error("cannot write the phone's configuration", "err", err)
		refuse(w)
		return false
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
