package web

import (
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// SIPTrace keeps the last SIP messages sent and received while it is switched on, for the logs
// page. Its two methods are sipgo's tracer interface (sip.SIPDebugTracer); it stays silent, at
// the cost of one atomic load a message, while off.
type SIPTrace struct {
	on atomic.Bool

	mu   sync.Mutex
	msgs []TracedMessage
	next int
	full bool
}

// TracedMessage is one SIP message on the wire.
type TracedMessage struct {
	Time      time.Time `json:"time"`
	Direction string    `json:"direction"` // in | out
	Transport string    `json:"transport"`
	Local     string    `json:"local"`
	Remote    string    `json:"remote"`
	Text      string    `json:"text"`
}

// NewSIPTrace keeps the last n messages (each cut at 8 KiB).
func NewSIPTrace(n int) *SIPTrace { return &SIPTrace{msgs: make([]TracedMessage, n)} }

func (t *SIPTrace) SIPTraceRead(transport, laddr, raddr string, msg []byte) {
	t.add(time.Now(), "in", transport, laddr, raddr, msg)
}

func (t *SIPTrace) SIPTraceWrite(transport, laddr, raddr string, msg []byte) {
	t.add(time.Now(), "out", transport, laddr, raddr, msg)
}

// SIPTraceReadAt records a message received at a time: the registrar's UDP readers record a
// datagram they answered themselves once the answer is on its way, with the time it came, so
// that it is listed before its answer.
func (t *SIPTrace) SIPTraceReadAt(at time.Time, transport, laddr, raddr string, msg []byte) {
	t.add(at, "in", transport, laddr, raddr, msg)
}

func (t *SIPTrace) add(at time.Time, dir, transport, laddr, raddr string, msg []byte) {
	if !t.on.Load() {
		return
	}
	if len(msg) > 8<<10 {
		msg = msg[:8<<10]
	}
	m := TracedMessage{Time: at, Direction: dir, Transport: transport, Local: laddr, Remote: raddr, Text: string(msg)}
	t.mu.Lock()
	t.msgs[t.next] = m
	t.next = (t.next + 1) % len(t.msgs)
	t.full = t.full || t.next == 0
	t.mu.Unlock()
}

// SetOn switches the trace on or off; switching it on forgets older messages.
func (t *SIPTrace) SetOn(on bool) {
	if on && !t.on.Load() {
		t.mu.Lock()
		clear(t.msgs)
		t.next, t.full = 0, false
		t.mu.Unlock()
	}
	t.on.Store(on)
}

// On reports whether the trace records.
func (t *SIPTrace) On() bool { return t.on.Load() }

// Messages returns the kept messages, oldest first (by the time each was sent or received).
func (t *SIPTrace) Messages() []TracedMessage {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := []TracedMessage{}
	if t.full {
		out = append(out, t.msgs[t.next:]...)
	}
	out = append(out, t.msgs[:t.next]...)
	slices.SortStableFunc(out, func(a, b TracedMessage) int { return a.Time.Compare(b.Time) })
	return out
}

// SetSIPTrace enables the SIP trace toggle of the logs page.
func (s *Server) SetSIPTrace(t *SIPTrace) {
	s.mux.HandleFunc("GET /api/v1/sip-trace", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"on": t.on.Load(), "messages": t.Messages()})
	})
	s.mux.HandleFunc("POST /api/v1/sip-trace", func(w http.ResponseWriter, r *http.Request) {
		var b onBody
		if _, ok := decode(w, r, &b); !ok {
			return
		}
		if b.On == nil {
			writeError(w, http.StatusBadRequest, `send {"on":true} or {"on":false}`)
			return
		}
		t.SetOn(*b.On)
		s.log.Info("web: SIP trace", "on", *b.On)
		writeJSON(w, http.StatusOK, map[string]any{"on": *b.On})
	})
}
