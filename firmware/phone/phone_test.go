package phone

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// recorder is a fake Signalling, Sound, Ringer and Recorder that logs every call as a line.
type recorder struct {
	mu    sync.Mutex
	lines []string
	added chan struct{}
}

func newRecorder() *recorder { return &recorder{added: make(chan struct{}, 100)} }

func (r *recorder) add(f string, a ...any) {
	r.mu.Lock()
	r.lines = append(r.lines, fmt.Sprintf(f, a...))
	r.mu.Unlock()
	select {
	case r.added <- struct{}{}:
	default:
	}
}

func (r *recorder) Dial(id, to, of string)        { r.add("dial %s %s", id, to) }
func (r *recorder) Alert(id string)               { r.add("alert %s", id) }
func (r *recorder) Answer(id string)              { r.add("answer %s", id) }
func (r *recorder) Reject(id string, code int)    { r.add("reject %s %d", id, code) }
func (r *recorder) Hangup(id string)              { r.add("hangup %s", id) }
func (r *recorder) Hold(id string, on bool)       { r.add("hold %s %v", id, on) }
func (r *recorder) SendDTMF(id, d string)         { r.add("dtmf %s %s", id, d) }
func (r *recorder) Transfer(id, to string)        { r.add("transfer %s %s", id, to) }
func (r *recorder) AttendedTransfer(id, w string) { r.add("transfer %s to the far end of %s", id, w) }
func (r *recorder) PlayTone(t Tone)               { r.add("tone %s", t) }
func (r *recorder) ConnectCall(id string)         { r.add("audio %q", id) }
func (r *recorder) Ring(on bool)                  { r.add("ring %v", on) }
func (r *recorder) Record(c Record) {
	r.add("record %s %s %s %s", c.Direction, c.Peer, c.Outcome, c.Duration)
}

// wait blocks until a line equal to want was recorded.
func (r *recorder) wait(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		for _, l := range r.lines {
			if l == want {
				r.mu.Unlock()
				return
			}
		}
		got := strings.Join(r.lines, "\n")
		r.mu.Unlock()
		select {
		case <-r.added:
		case <-deadline:
			t.Fatalf("never recorded %q; got:\n%s", want, got)
		}
	}
}

// runPhone starts a phone; inside a synctest bubble its timers follow the bubble's clock.
func runPhone(t *testing.T, cfg Config) (*Phone, *recorder) {
	t.Helper()
	r := newRecorder()
	p := New(cfg, r, r, r, r, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return p, r
}

// has tells whether a line equal to want was recorded.
func (r *recorder) has(want string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.lines {
		if l == want {
			return true
		}
	}
	return false
}

// Off hook with no digits: dial tone, then after OffHookTimeout the busy tone, not before.
func TestRunOffHookTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, r := runPhone(t, Config{})
		p.Press(HookOff)
		r.wait(t, "tone dial")
		time.Sleep(OffHookTimeout - time.Second)
		synctest.Wait()
		if r.has("tone busy") {
			t.Fatal("busy tone before the off-hook timeout")
		}
		time.Sleep(time.Second)
		r.wait(t, "tone busy")
		p.Press(HookOn)
		r.wait(t, "tone none")
	})
}

// Digits typed off hook are dialled after the inter-digit pause; a digit restarts the pause.
func TestRunDigitsDialAfterPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, r := runPhone(t, Config{})
		ctx := context.Background()
		p.Press(HookOff)
		r.wait(t, "tone dial")
		if err := p.DTMF(ctx, "50"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(InterDigitTimeout - time.Second)
		if err := p.DTMF(ctx, "01"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(InterDigitTimeout - time.Second) // the first timer was replaced: nothing yet
		synctest.Wait()
		if st := p.Status(); st.Call != "dialing" || st.State != "dialing" {
			t.Fatalf("dialled too early: %+v", st)
		}
		time.Sleep(time.Second)
		r.wait(t, "dial out-1 5001")
		if st := p.Status(); st.State != "calling" || st.Peer != "5001" {
			t.Fatalf("status %+v", st)
		}
	})
}

// A full incoming call through Post and the API: ring, answer, remote hang-up, call log with the
// talk time; the status shows the running duration, refreshed every second.
func TestRunIncomingCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, r := runPhone(t, Config{})
		ctx := context.Background()
		p.Post(Event{Kind: EvIncoming, ID: "in-1", Peer: "5001"})
		r.wait(t, "alert in-1")
		r.wait(t, "ring true")
		if err := p.Hold(ctx); !errors.Is(err, ErrNotNow) {
			t.Fatalf("hold while ringing: %v", err)
		}
		if err := p.Answer(ctx); err != nil {
			t.Fatal(err)
		}
		r.wait(t, "answer in-1")
		r.wait(t, `audio "in-1"`)
		time.Sleep(42 * time.Second)
		synctest.Wait()
		if d := p.Status().Duration; d != 42 {
			t.Fatalf("status shows %vs talking after 42s", d)
		}
		p.Post(Event{Kind: EvEnded, ID: "in-1", Reason: "bye"})
		r.wait(t, "record in 5001 answered 42s")
		ch, stop := p.Subscribe()
		defer stop()
		for sn := range ch {
			if sn.Call == "idle" {
				if sn.Counters.Incoming != 1 || sn.Counters.Answered != 1 {
					t.Fatalf("counters %+v", sn.Counters)
				}
				break
			}
		}
	})
}

func TestRunRejectsBadNumbers(t *testing.T) {
	p, r := runPhone(t, Config{})
	if err := p.Dial(context.Background(), "5001\r\nVia: evil"); !errors.Is(err, ErrBadNumber) {
		t.Fatalf("Dial with CRLF: %v", err)
	}
	if err := p.DTMF(context.Background(), "12x"); !errors.Is(err, ErrBadNumber) {
		t.Fatalf("DTMF x: %v", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lines) != 0 {
		t.Fatalf("bad input reached the phone: %v", r.lines)
	}
}

// A transfer request waits for the far end's verdict: a refusal comes back to the caller as
// ErrTransferFailed in the far end's words and the call goes on; a transfer that went through
// returns nil.
func TestRunTransferReportsTheVerdict(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, r := runPhone(t, Config{})
		ctx := context.Background()
		p.Post(Event{Kind: EvIncoming, ID: "in-1", Peer: "5001"})
		r.wait(t, "alert in-1")
		if err := p.Answer(ctx); err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() { errc <- p.Transfer(ctx, "5004") }()
		r.wait(t, "transfer in-1 5004")
		synctest.Wait()
		select {
		case err := <-errc:
			t.Fatalf("Transfer returned %v before the far end said anything", err)
		default:
		}
		p.Post(Event{Kind: EvTransferFailed, ID: "in-1", Reason: "refused by the far end (400 Bad Request)"})
		if err := <-errc; !errors.Is(err, ErrTransferFailed) || !strings.Contains(err.Error(), "(400 Bad Request)") {
			t.Fatalf("refused transfer: %v", err)
		}
		if st := p.Status(); st.Call != "in_call" {
			t.Fatalf("the call did not go on: %+v", st)
		}
		go func() { errc <- p.Transfer(ctx, "5004") }()
		synctest.Wait()
		p.Post(Event{Kind: EvEnded, ID: "in-1", Reason: "transferred"})
		if err := <-errc; err != nil {
			t.Fatalf("transfer that went through: %v", err)
		}
	})
}
