package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/deskphone/deskphone/firmware/phone"
	"github.com/deskphone/deskphone/hw/gpio"
	"github.com/deskphone/deskphone/hw/gpio/gpiotest"
)

// recordingSIP is the phone's signalling, recording what the buttons made it do.
type recordingSIP struct {
	mu   sync.Mutex
	acts []string
	did  chan struct{}
}

func (r *recordingSIP) add(s string) {
	r.mu.Lock()
	r.acts = append(r.acts, s)
	r.mu.Unlock()
	select {
	case r.did <- struct{}{}:
	default:
	}
}

func (r *recordingSIP) wait(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		for _, a := range r.acts {
			if a == want {
				r.mu.Unlock()
				return
			}
		}
		got := append([]string(nil), r.acts...)
		r.mu.Unlock()
		select {
		case <-r.did:
		case <-deadline:
			t.Fatalf("the phone never did %q; it did %v", want, got)
		}
	}
}

func (r *recordingSIP) Dial(id, to, _ string)   { r.add("dial " + to) }
func (r *recordingSIP) Alert(id string)         { r.add("alert " + id) }
func (r *recordingSIP) Answer(id string)        { r.add("answer " + id) }
func (r *recordingSIP) Reject(id string, _ int) { r.add("reject " + id) }
func (r *recordingSIP) Hangup(id string)        { r.add("hangup " + id) }
func (r *recordingSIP) Hold(id string, on bool) {}
func (r *recordingSIP) SendDTMF(id, _ string)   {}
func (r *recordingSIP) Transfer(id, to string)  {}
func (r *recordingSIP) PlayTone(phone.Tone)     {}
func (r *recordingSIP) ConnectCall(id string)   {}

func (r *recordingSIP) AttendedTransfer(id, with string) {}

// The real call state machine behind the fake buttons: lifting the handset answers a ringing
// call, putting it down hangs up, and the ring LED follows.
func TestHandsetAnswersAndHangsUp(t *testing.T) {
	sip := &recordingSIP{did: make(chan struct{}, 1)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := phone.New(phone.Config{SpeedDial: []string{"5001"}}, sip, sip, nil, nil, log)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.Run(ctx) }()
	b := gpiotest.New()
	go func() { defer wg.Done(); bridgeHardware(ctx, b, p, nil, nil, log) }()
	defer func() { cancel(); wg.Wait() }()
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()

	p.Post(phone.Event{Kind: phone.EvIncoming, ID: "c1", Peer: "sip:5003@pbx"})
	if !b.WaitPattern(wctx, gpio.RingLED, gpio.RingBlink) {
		t.Fatal("ring LED does not blink for an incoming call")
	}
	b.HookOff()
	sip.wait(t, "answer c1")
	if !b.WaitPattern(wctx, gpio.RingLED, gpio.Off) {
		t.Error("ring LED still blinking after answering")
	}
	b.HookOn()
	sip.wait(t, "hangup c1")

	// Off hook while idle, then the speed-dial button dials its number.
	b.HookOff()
	b.SpeedDial(1)
	sip.wait(t, "dial 5001")
}
