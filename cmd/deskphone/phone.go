package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/deskphone/deskphone/firmware/accounts"
	"github.com/deskphone/deskphone/firmware/atomicfile"
	"github.com/deskphone/deskphone/firmware/calllog"
	"github.com/deskphone/deskphone/firmware/config"
	"github.com/deskphone/deskphone/firmware/media"
	"github.com/deskphone/deskphone/firmware/phone"
	"github.com/deskphone/deskphone/firmware/sipua"
	"github.com/deskphone/deskphone/firmware/tones"
	"github.com/deskphone/deskphone/firmware/web"
)

// Phone is the running phone as other components see it: the web server to mount handlers and
// status sections on, and the phone to press buttons on (nil when [phone] is disabled).
type Phone struct {
	Web   *web.Server
	Phone *phone.Phone
}

// newPhone builds the HTTP API and, when [phone] is enabled, the Pi's own phone: SIP user agent,
// media sessions, the audio loop on the [audio] backend, the call state machine and the call log.
// Everything is started in g and stops when ctx ends. The web port is bound before it returns, so
// a taken port is reported at once. registered is called each time the registrar answers the
// phone's REGISTER.
func newPhone(ctx context.Context, g *errgroup.Group, f *config.File, lca *laterCA, registered func(), webAfter <-chan struct{}, log *slog.Logger) (*Phone, error) {
	if !f.Phone.Enabled {
		ca, err := lca.get(ctx)
		if err != nil {
			return nil, err
		}
		srv, err := newWeb(f, ca, nil, nil, log)
		if err != nil {
			return nil, err
		}
		g.Go(func() error { return srv.Run(ctx) })
		return &Phone{Web: srv}, nil
	}
	p := f.Phone

	// The sound card opens once the phone has registered (webAfter): at boot its driver loads
	// only then, and ALSA's start would slow the registration down on a busy core.
	audioAfter := make(chan struct{})
	g.Go(func() error {
		awaitFirstRegistration(ctx, webAfter)
		close(audioAfter)
		return nil
	})
	dev, err := openAudio(f, audioAfter, log)
	if err != nil {
		return nil, err
	}
	closeDev := func() { dev.Close() }
	aud := media.NewAudio(dev, log.With("component", "audio"))
	aud.SetTonePlan(tonePlan(f))

	mcfg := p.Media() // media.DefaultConfig with the [phone] settings; checked by config
	mlog := log.With("component", "media")
	newMedia := func(localIP string) (sipua.MediaSession, error) {
		c := mcfg
		c.LocalIP = localIP
		return media.NewSession(c, mlog)
	}

	registrarAddr, realm := p.Registrar, p.Realm
	if f.Registrar.Enabled && realm == "" {
		realm = f.Realm()
	}
	if registrarAddr == "" && f.Registrar.Enabled {
		_, port, _ := net.SplitHostPort(f.Registrar.Listen)
		registrarAddr = net.JoinHostPort("127.0.0.1", port)
	}
	listen := p.Listen
	if listen == "" {
		listen = "0.0.0.0:5062"
	}

	calls, err := calllog.Open(f.DataDir, 0)
	if err != nil {
		closeDev()
		return nil, err
	}
	ev := &phoneEvents{registered: registered}
	ua, err := sipua.New(sipua.Config{
		Listen: listen, Transport: p.Transport, TLSCAFile: ownRegistrarCA(f, registrarAddr), TLSFingerprint: p.TLSFingerprint, Registrar: registrarAddr, BackupRegistrar: p.BackupRegistrar,
		Extension: p.Extension, Username: p.Username, Password: p.Password, DisplayName: p.DisplayName,
		Realm: realm, Expires: p.Expires.Duration, UserAgent: "deskphone/" + version, NewMedia: newMedia,
	}, ev, log.With("component", "sipua"))
	if err != nil {
		closeDev()
		return nil, err
	}
	snd := &sound{aud: aud, ua: ua}
	meter := &qualityMeter{session: snd.session}
	ph := phone.New(phone.Config{CallWaiting: p.CallWaiting, DND: p.DND, AutoAnswer: p.AutoAnswer, SpeedDial: p.SpeedDial},
		ua, snd, ringerOf(dev), callRecorder{calls, log, meter, strings.ToUpper(f.Phone.Transport)}, log.With("component", "phone"))
	ev.p = ph

	// Start order: the phone loop first (it takes the events), then the user agent and audio —
	// before the web pages, whose first start (a generated password, hashed) must not delay the
	// phone's registration.
	g.Go(func() error { return ph.Run(ctx) })
	g.Go(func() error {
		err := aud.Run(ctx)
		closeDev()
		if err != nil {
			return fmt.Errorf("audio: %w", err)
		}
		return nil
	})
	g.Go(func() error { return ua.Run(ctx) })

	awaitFirstRegistration(ctx, webAfter) // the pages start once the phone has registered
	ca, err := lca.get(ctx)
	if err != nil {
		closeDev()
		return nil, err
	}
	srv, err := newWeb(f, ca, ph, calls, log)
	if err != nil {
		closeDev()
		return nil, err
	}
	srv.AddStatus("sip", func() any {
		return map[string]any{"address": ua.Addr(), "registrar": registrarAddr, "extension": p.Extension}
	})
	srv.AddStatus("media", func() any { return snd.stats() })
	if st := audioStatus(dev); st != nil {
		srv.AddStatus("audio", st) // the sound card's devices and counters (hw/README.md)
	}
	vol := &volumes{cur: web.Levels{Speaker: f.Audio.SpeakerVolume, Ringer: f.Audio.RingerVolume, Mic: f.Audio.MicGain}}
	vol.card, _ = dev.(mixer)
	srv.SetVolumes(vol)
	g.Go(func() error { return meter.run(ctx) })
	g.Go(func() error { return srv.Run(ctx) })
	log.Info("phone ready", "sip", ua.Addr(), "extension", p.Extension, "registrar", registrarAddr, "web", srv.Addr())
	return &Phone{Web: srv, Phone: ph}, nil
}

// webToken is [web] token, or one generated on first start and kept in data_dir.
func webToken(f *config.File) (string, error) {
	if f.Web.Token != "" {
		return f.Web.Token, nil
	}
	path := filepath.Join(f.DataDir, "web-token")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return strings.TrimSpace(string(b)), nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read the API token: %w", err)
	}
	tok, err := accounts.GeneratePassword(32)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(f.DataDir, 0o750); err != nil {
		return "", fmt.Errorf("data_dir: %w", err)
	}
	if err := atomicfile.Write(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("store the API token: %w", err)
	}
	return tok, nil
}

// phoneEvents turns the user agent's reports into phone events.
type phoneEvents struct {
	p          *phone.Phone
	registered func()
}

func (e *phoneEvents) CallIncoming(id, peer string) {
	e.p.Post(phone.Event{Kind: phone.EvIncoming, ID: id, Peer: peer})
}
func (e *phoneEvents) CallProgress(id string, early bool) {
	e.p.Post(phone.Event{Kind: phone.EvProgress, ID: id, On: early})
}
func (e *phoneEvents) CallAnswered(id string) { e.p.Post(phone.Event{Kind: phone.EvAnswered, ID: id}) }
func (e *phoneEvents) CallEnded(id, reason string, code int) {
	e.p.Post(phone.Event{Kind: phone.EvEnded, ID: id, Reason: reason, Code: code})
}
func (e *phoneEvents) CallRemoteHold(id string, on bool) {
	e.p.Post(phone.Event{Kind: phone.EvRemoteHold, ID: id, On: on})
}
func (e *phoneEvents) CallSilent(id string, silent time.Duration) {
	e.p.Post(phone.Event{Kind: phone.EvNoMedia, ID: id, N: int(silent / time.Second)})
}
func (e *phoneEvents) CallReferred(id, to string) {
	e.p.Post(phone.Event{Kind: phone.EvReferred, ID: id, To: to})
}
func (e *phoneEvents) DTMFReceived(id string, d rune) {
	e.p.Post(phone.Event{Kind: phone.EvRemoteDTMF, ID: id, Digits: string(d)})
}
func (e *phoneEvents) CallReplaced(id, old, peer string) {
	e.p.Post(phone.Event{Kind: phone.EvReplaced, ID: id, Old: old, Peer: peer})
}
func (e *phoneEvents) TransferFailed(id, detail string) {
	e.p.Post(phone.Event{Kind: phone.EvTransferFailed, ID: id, Reason: detail})
}
func (e *phoneEvents) RegistrationChanged(state, detail string) {
	if state == "registered" && e.registered != nil {
		e.registered()
	}
	e.p.Post(phone.Event{Kind: phone.EvRegistration, Reg: phone.Registration(state), Reason: detail})
}

// sound plays the phone's tones and rings on the audio loop, and connects calls to it.
type sound struct {
	aud *media.Audio
	ua  *sipua.UA

	mu        sync.Mutex
	connected *media.Session
}

var toneOf = map[phone.Tone]tones.Tone{
	phone.ToneNone: tones.None, phone.ToneDial: tones.Dial, phone.ToneRingback: tones.Ringback,
	phone.ToneBusy: tones.Busy, phone.ToneWaiting: tones.CallWaiting,
}

func (s *sound) PlayTone(t phone.Tone) { s.aud.PlayTone(toneOf[t]) }

func (s *sound) ConnectCall(id string) {
	var ms *media.Session
	if id != "" {
		ms, _ = s.ua.Media(id).(*media.Session)
	}
	s.mu.Lock()
	s.connected = ms
	s.mu.Unlock()
	s.aud.Connect(ms)
}

// session is the connected call's media, nil between calls.
func (s *sound) session() *media.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected
}

func (s *sound) stats() any {
	s.mu.Lock()
	ms := s.connected
	s.mu.Unlock()
	if ms == nil {
		return nil
	}
	return mediaStatus{Stats: ms.Stats(), LocalPort: ms.LocalPort()}
}

// mediaStatus is the connected call's media as the status API shows it.
type mediaStatus struct {
	media.Stats
	LocalPort int `json:"local_port"`
}

// callRecorder writes finished calls to the call log.
type callRecorder struct {
	l         *calllog.Log
	log       *slog.Logger
	quality   *qualityMeter
	transport string // the phone's SIP transport, as the call log shows it
}

func (r callRecorder) Record(c phone.Record) {
	e := calllog.Entry{Direction: string(c.Direction), Peer: c.Peer, Start: c.Start,
		Duration: c.Duration.Round(time.Second).Seconds(), Outcome: c.Outcome, Reason: c.Reason}
	if q, protection := r.quality.take(); q != nil && c.Duration > 0 {
		e.Quality, e.Media, e.Transport = q, protection, r.transport
	}
	if err := r.l.Append(e); err != nil {
		r.log.Warn("call log", "err", err)
	}
}
