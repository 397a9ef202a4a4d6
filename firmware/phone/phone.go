package phone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"
)

// Signalling places and controls calls (the SIP user agent). Every method returns at once; results
// come back as events through Post.
type Signalling interface {
	Dial(id, to, referredBy string)
	Alert(id string)
	Answer(id string)
	Reject(id string, code int)
	Hangup(id string)
	Hold(id string, on bool)
	SendDTMF(id, digits string)
	Transfer(id, to string)
	AttendedTransfer(id, with string)
}

// Sound plays call-progress tones and connects a call's audio to the handset.
type Sound interface {
	PlayTone(t Tone)
	ConnectCall(id string) // "" disconnects
}

// Ringer rings the bell (or the ringer device).
type Ringer interface {
	Ring(on bool)
}

// Recorder keeps finished calls (the call log).
type Recorder interface {
	Record(r Record)
}

// ErrNotNow is returned by a request that does not apply in the current state.
var ErrNotNow = errors.New("not possible now")

// ErrStopped is returned by requests made after the phone stopped.
var ErrStopped = errors.New("phone stopped")

// ErrTransferFailed is returned by Transfer when the far end refused the transfer or never said
// how it went; the call goes on.
var ErrTransferFailed = errors.New("transfer failed")

// ErrBadNumber is returned for a number with characters a SIP URI user part cannot take.
var ErrBadNumber = errors.New("bad number")

// Button is a physical key or the hook switch.
type Button struct {
	Kind EventKind // EvHookOff, EvHookOn, EvAnswerKey, EvHangupKey, EvRedialKey, EvSpeedDialKey
	N    int       // speed-dial slot, from 1
}

// Buttons.
var (
	HookOff   = Button{Kind: EvHookOff}
	HookOn    = Button{Kind: EvHookOn}
	AnswerKey = Button{Kind: EvAnswerKey}
	HangupKey = Button{Kind: EvHangupKey}
	RedialKey = Button{Kind: EvRedialKey}
)

// SpeedDialKey is speed-dial button n (from 1).
func SpeedDialKey(n int) Button { return Button{Kind: EvSpeedDialKey, N: n} }

// Config is the phone's call policy.
type Config struct {
	CallWaiting bool
	DND         bool
	AutoAnswer  bool
	SpeedDial   []string
}

// Snapshot is what observers see after each change.
type Snapshot struct {
	Registration string    `json:"registration"`
	RegDetail    string    `json:"registration_detail,omitempty"`
	Call         string    `json:"call"`  // idle, dialing, ringing, in_call, held
	State        string    `json:"state"` // like call, with "calling" for an unanswered outgoing call
	Peer         string    `json:"peer,omitempty"`
	Direction    Direction `json:"direction,omitempty"`
	Duration     float64   `json:"duration"` // seconds talking, 0 when not answered
	Answered     time.Time `json:"-"`
	RemoteHold   bool      `json:"remote_hold,omitempty"`
	Waiting      string    `json:"waiting,omitempty"`       // the caller of a waiting or parked call
	DTMFReceived string    `json:"dtmf_received,omitempty"` // digits the far end sent in this call
	OffHook      bool      `json:"off_hook"`
	DND          bool      `json:"dnd"`
	Counters     Counters  `json:"counters"`
}

type request struct {
	ev    Event
	reply chan error
}

// Phone owns the call state; Run is its loop.
type Phone struct {
	sig   Signalling
	sound Sound
	ring  Ringer
	rec   Recorder
	log   *slog.Logger

	events chan request
	done   chan struct{} // closed when Run returns

	mu   sync.Mutex
	snap Snapshot
	subs map[chan Snapshot]struct{}
	init State

	timers map[TimerKind]func() bool
	gen    map[TimerKind]int
}

// New builds a phone; a nil sound, ringer or recorder is skipped. Its timers are the time
// package's, so tests run it inside a testing/synctest bubble.
func New(cfg Config, sig Signalling, sound Sound, ring Ringer, rec Recorder, log *slog.Logger) *Phone {
	s := State{Call: CallIdle, Registration: RegDisabled, CallWaiting: cfg.CallWaiting, DND: cfg.DND,
		AutoAnswer: cfg.AutoAnswer, SpeedDial: cfg.SpeedDial}
	p := &Phone{sig: sig, sound: sound, ring: ring, rec: rec, log: log,
		events: make(chan request, 64), done: make(chan struct{}), subs: map[chan Snapshot]struct{}{}, init: s,
		timers: map[TimerKind]func() bool{}, gen: map[TimerKind]int{}}
	p.snap = snapshot(s, time.Now())
	return p
}

// Run is the loop that owns the state. It returns when ctx ends.
func (p *Phone) Run(ctx context.Context) error {
	s := p.init
	var transfer *pendingTransfer
	defer close(p.done)
	tick := time.NewTicker(time.Second) // refreshes the duration for observers
	defer tick.Stop()
	defer func() {
		for _, stop := range p.timers {
			stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if s.Call == CallInCall || s.Call == CallHeld {
				p.publish(s)
			}
		case r := <-p.events:
			if r.ev.Kind == EvTimer && r.ev.N != p.gen[r.ev.Timer] {
				continue // stopped or restarted since
			}
			if r.ev.Kind == EvTransfer && transfer != nil {
				r.reply <- fmt.Errorf("%w: a transfer is under way", ErrNotNow)
				continue
			}
			r.ev.At = time.Now()
			ns, acts := next(s, r.ev)
			var err error
			if len(acts) == 0 && reflect.DeepEqual(ns, s) && r.ev.Kind != EvSetDND {
				err = fmt.Errorf("%w: %s while %s", ErrNotNow, r.ev.Kind, s.Call)
			}
			p.log.Debug("event", "event", r.ev.Kind.String(), "id", r.ev.ID, "from", s.Call.String(), "to", ns.Call.String())
			s = ns
			for _, a := range acts {
				p.do(a)
			}
			p.publish(s)
			if r.ev.Kind == EvTransfer && err == nil {
				// The caller hears how the transfer went, not only that it started.
				transfer, r.reply = &pendingTransfer{id: acts[0].ID, reply: r.reply}, nil
			}
			if transfer != nil && transfer.settledBy(r.ev) {
				transfer = nil
			}
			if r.reply != nil {
				r.reply <- err // after publish: the caller's next Status shows the new state
			}
		}
	}
}

// pendingTransfer is a Transfer request waiting for the far end's verdict.
type pendingTransfer struct {
	id    string     // the call being transferred
	reply chan error // the caller's; nil for a transfer not asked through the API
}

// settledBy answers the caller when ev ends the transfer: the call left (transferred, or ended
// otherwise) or the transfer failed.
func (t *pendingTransfer) settledBy(ev Event) bool {
	if ev.ID != t.id {
		return false
	}
	var err error
	switch {
	case ev.Kind == EvTransferFailed:
		err = fmt.Errorf("%w: %s", ErrTransferFailed, ev.Reason)
	case ev.Kind == EvEnded && ev.Reason == "transferred":
	case ev.Kind == EvEnded:
		err = fmt.Errorf("%w: the call ended (%s)", ErrTransferFailed, ev.Reason)
	default:
		return false
	}
	if t.reply != nil {
		t.reply <- err
	}
	return true
}

func (p *Phone) do(a Action) {
	switch a.Kind {
	case ActDial:
		p.sig.Dial(a.ID, a.To, a.Of)
	case ActAlert:
		p.sig.Alert(a.ID)
	case ActAnswer:
		p.sig.Answer(a.ID)
	case ActReject:
		p.sig.Reject(a.ID, a.Code)
	case ActHangup:
		p.sig.Hangup(a.ID)
	case ActHold:
		p.sig.Hold(a.ID, a.On)
	case ActDTMF:
		p.sig.SendDTMF(a.ID, a.Digits)
	case ActTransfer:
		if a.With != "" {
			p.sig.AttendedTransfer(a.ID, a.With)
		} else {
			p.sig.Transfer(a.ID, a.To)
		}
	case ActTone:
		if p.sound != nil {
			p.sound.PlayTone(a.Tone)
		}
	case ActAudio:
		if p.sound != nil {
			p.sound.ConnectCall(a.ID)
		}
	case ActRing:
		if p.ring != nil {
			p.ring.Ring(a.On)
		}
	case ActRecord:
		p.log.Info("call ended", "direction", string(a.Record.Direction), "peer", a.Record.Peer,
			"outcome", a.Record.Outcome, "duration", a.Record.Duration.Round(time.Millisecond).String())
		if p.rec != nil {
			p.rec.Record(a.Record)
		}
	case ActStartTimer:
		if stop := p.timers[a.Timer]; stop != nil {
			stop()
		}
		p.gen[a.Timer]++
		ev := Event{Kind: EvTimer, Timer: a.Timer, N: p.gen[a.Timer]}
		p.timers[a.Timer] = time.AfterFunc(a.After, func() { p.post(ev) }).Stop
	case ActStopTimer:
		if stop := p.timers[a.Timer]; stop != nil {
			stop()
			delete(p.timers, a.Timer)
		}
		p.gen[a.Timer]++
	}
}

func snapshot(s State, now time.Time) Snapshot {
	sn := Snapshot{Registration: string(s.Registration), RegDetail: s.RegDetail, Call: s.Call.Public(),
		State: s.Call.String(), Peer: s.Active.Peer, Direction: s.Active.Direction,
		Answered: s.Active.Answered, RemoteHold: s.Active.RemoteHeld, Waiting: s.Other.Peer,
		DTMFReceived: s.Active.Received, OffHook: s.OffHook, DND: s.DND, Counters: s.Counters}
	if !s.Active.Answered.IsZero() {
		sn.Duration = now.Sub(s.Active.Answered).Round(time.Second).Seconds()
	}
	return sn
}

func (p *Phone) publish(s State) {
	sn := snapshot(s, time.Now())
	p.mu.Lock()
	defer p.mu.Unlock()
	p.snap = sn
	for ch := range p.subs {
		select {
		case ch <- sn:
		default: // a slow observer misses an intermediate state, never the loop
			select {
			case <-ch:
			default:
			}
			select {
			case ch <- sn:
			default:
			}
		}
	}
}

// Status returns the latest snapshot.
func (p *Phone) Status() Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.snap
}

// Subscribe returns a channel of snapshots (starting with the current one) and a function that ends
// the subscription.
func (p *Phone) Subscribe() (<-chan Snapshot, func()) {
	ch := make(chan Snapshot, 16)
	p.mu.Lock()
	p.subs[ch] = struct{}{}
	ch <- p.snap
	p.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			p.mu.Lock()
			delete(p.subs, ch)
			p.mu.Unlock()
		})
	}
}

// Post delivers an event from the signalling side (incoming call, answered, ended, registration…).
func (p *Phone) Post(ev Event) { p.post(ev) }

func (p *Phone) post(ev Event) {
	select {
	case p.events <- request{ev: ev}:
	case <-p.done:
	}
}

// ask delivers a request and waits for the loop to say whether it applied.
func (p *Phone) ask(ctx context.Context, ev Event) error {
	r := request{ev: ev, reply: make(chan error, 1)}
	select {
	case p.events <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.done:
		return ErrStopped
	}
	select {
	case err := <-r.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-p.done:
		return ErrStopped
	}
}

// Press feeds a button or the hook switch.
func (p *Phone) Press(b Button) {
	p.post(Event{Kind: b.Kind, N: b.N})
}

// Dial calls a number (idle or off hook with dial tone).
func (p *Phone) Dial(ctx context.Context, to string) error {
	if err := CheckNumber(to); err != nil {
		return err
	}
	return p.ask(ctx, Event{Kind: EvDial, To: to})
}

// Answer answers the ringing or waiting call.
func (p *Phone) Answer(ctx context.Context) error { return p.ask(ctx, Event{Kind: EvAnswer}) }

// Hangup ends, cancels or declines the current call.
func (p *Phone) Hangup(ctx context.Context) error { return p.ask(ctx, Event{Kind: EvHangup}) }

// Hold puts the current call on hold.
func (p *Phone) Hold(ctx context.Context) error { return p.ask(ctx, Event{Kind: EvHold}) }

// Resume takes the current call off hold.
func (p *Phone) Resume(ctx context.Context) error { return p.ask(ctx, Event{Kind: EvResume}) }

// DTMF sends digits in a call, or dials them while off hook.
func (p *Phone) DTMF(ctx context.Context, digits string) error {
	if err := CheckDigits(digits); err != nil {
		return err
	}
	return p.ask(ctx, Event{Kind: EvDTMF, Digits: digits})
}

// Transfer hands the current call to another number (blind transfer) and returns once the far
// end took it (nil), or refused it (ErrTransferFailed, and the call goes on).
func (p *Phone) Transfer(ctx context.Context, to string) error {
	if err := CheckNumber(to); err != nil {
		return err
	}
	return p.ask(ctx, Event{Kind: EvTransfer, To: to})
}

// TransferAttended hands the parked call to the far end of the active one (attended transfer:
// talk to the new party first, on a consultation call placed while the first was held), and
// returns as Transfer does.
func (p *Phone) TransferAttended(ctx context.Context) error {
	return p.ask(ctx, Event{Kind: EvTransfer})
}

// SetDND turns do-not-disturb on or off.
func (p *Phone) SetDND(ctx context.Context, on bool) error {
	return p.ask(ctx, Event{Kind: EvSetDND, On: on})
}

// CheckNumber accepts what can be a SIP URI user part or a full sip: URI without spaces or control
// characters.
func CheckNumber(to string) error {
	if to == "" {
		return fmt.Errorf("%w: empty", ErrBadNumber)
	}
	if len(to) > 128 {
		return fmt.Errorf("%w: longer than 128 characters", ErrBadNumber)
	}
	for _, r := range to {
		switch {
		case r >= '0' && r <= '9', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r == '*' || r == '#' || r == '+' || r == '.' || r == '-' || r == '_' || r == '@' || r == ':':
		default:
			return fmt.Errorf("%w: %q may not contain %q", ErrBadNumber, to, r)
		}
	}
	return nil
}

// CheckDigits accepts DTMF digits 0-9, *, #, A-D.
func CheckDigits(d string) error {
	if d == "" || len(d) > 64 {
		return fmt.Errorf("%w: DTMF digits must be 1 to 64 of 0-9 * # A-D", ErrBadNumber)
	}
	for _, r := range d {
		if !(r >= '0' && r <= '9' || r == '*' || r == '#' || r >= 'A' && r <= 'D') {
			return fmt.Errorf("%w: %q is not a DTMF digit (0-9 * # A-D)", ErrBadNumber, r)
		}
	}
	return nil
}
