package registrar

import (
	"strings"
	"sync"
	"time"
)

// Media protection of one leg of a call, as the call list shows it.
const (
	MediaSRTP     = "SRTP"      // SDES-keyed SRTP (a=crypto, on TLS)
	MediaDTLSSRTP = "DTLS-SRTP" // a browser's WebRTC media
	MediaRTP      = "RTP"       // plain RTP: readable on the LAN
)

// Bridges a call's media may go through.
const (
	BridgeSRTP   = "srtp"   // the Pi decrypts SRTP on one leg and sends plain RTP on the other
	BridgeWebRTC = "webrtc" // the Pi joins a browser's WebRTC media to a plain RTP phone
)

// CallRecord is one call the proxy set up, as the web pages show it: who called whom, over
// which signalling transport on each leg, and how each leg's media was protected.
type CallRecord struct {
	Start           time.Time `json:"start"`
	Caller          string    `json:"caller"` // extension
	Callee          string    `json:"callee"`
	CallerTransport string    `json:"caller_transport"` // UDP, TCP, TLS or WSS
	CalleeTransport string    `json:"callee_transport"` // of the phone that answered ("" before)
	CallerMedia     string    `json:"caller_media"`     // SRTP, DTLS-SRTP or RTP ("" before the answer)
	CalleeMedia     string    `json:"callee_media"`
	Bridge          string    `json:"bridge,omitempty"` // srtp or webrtc: the Pi relays the media
	State           string    `json:"state"`            // ringing, answered, ended, failed
	Status          int       `json:"status,omitempty"` // final failure status (486, 488, …)
	Reason          string    `json:"reason,omitempty"` // why it failed, or why the Pi ended it
	Duration        float64   `json:"duration"`         // seconds answered
	Protection      string    `json:"protection"`       // one sentence for people
	callID          string
	answered        time.Time
}

// maxCallRecords is how many recent calls the registrar remembers (in memory only).
const maxCallRecords = 100

// callRecords is the bounded list of recent proxied calls, newest last.
type callRecords struct {
	mu   sync.Mutex
	list []*CallRecord
}

func (c *callRecords) find(callID string) *CallRecord {
	for i := len(c.list) - 1; i >= 0; i-- {
		if c.list[i].callID == callID {
			return c.list[i]
		}
	}
	return nil
}

// begin records a new call, or returns the one of the same Call-ID still ringing (an INVITE
// sent again with credentials).
func (c *callRecords) begin(callID, caller, callee, transport string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rec := c.find(callID); rec != nil && rec.State == "ringing" {
		return
	}
	if len(c.list) >= maxCallRecords {
		c.list = append(c.list[:0], c.list[1:]...)
	}
	c.list = append(c.list, &CallRecord{Start: now, Caller: caller, Callee: callee, CallerTransport: wireName(transport), State: "ringing", callID: callID})
}

// answered records the answer: the answering phone's transport, each leg's media as its answer
// shows it (toCaller what the caller got, fromCallee what the callee sent), and the bridge.
func (c *callRecords) answered(callID, calleeTransport string, toCaller, fromCallee []byte, bridge string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec := c.find(callID)
	if rec == nil || rec.State != "ringing" {
		return
	}
	rec.State, rec.answered = "answered", now
	rec.CalleeTransport, rec.Bridge = wireName(calleeTransport), bridge
	rec.CallerMedia, rec.CalleeMedia = mediaOf(toCaller), mediaOf(fromCallee)
	rec.Protection = protection(rec)
}

// failed records a call that was not answered.
func (c *callRecords) failed(callID string, status int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rec := c.find(callID); rec != nil && rec.State == "ringing" {
		rec.State, rec.Status, rec.Reason = "failed", status, reason
		rec.Protection = "no media (not answered)"
	}
}

// ended records the BYE of an answered call.
func (c *callRecords) ended(callID string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rec := c.find(callID); rec != nil && rec.State == "answered" {
		rec.State = "ended"
		rec.Duration = now.Sub(rec.answered).Round(time.Second).Seconds()
	}
}

// endedBy records the end of an answered call the Pi itself hung up, and why.
func (c *callRecords) endedBy(callID, why string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rec := c.find(callID); rec != nil && rec.State == "answered" {
		rec.State, rec.Reason = "ended", why
		rec.Duration = now.Sub(rec.answered).Round(time.Second).Seconds()
	}
}

// recent returns copies of the calls, newest first.
func (c *callRecords) recent(now time.Time) []CallRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]CallRecord, 0, len(c.list))
	for i := len(c.list) - 1; i >= 0; i-- {
		rec := *c.list[i]
		if rec.State == "answered" {
			rec.Duration = now.Sub(rec.answered).Round(time.Second).Seconds()
		}
		out = append(out, rec)
	}
	return out
}

// RecentCalls lists the last calls the proxy set up (at most 100, newest first, since start),
// with each leg's transport and media protection.
func (r *Registrar) RecentCalls() []CallRecord { return r.calls.recent(r.clock.Now()) }

// wireName is a transport as people know it: a browser's WebSocket is WSS.
func wireName(transport string) string {
	if isWS(transport) {
		return "WSS"
	}
	return strings.ToUpper(transport)
}

// mediaOf is the protection an SDP answer agreed on: a key or a fingerprint in the answer means
// the offer's encryption was accepted.
func mediaOf(answer []byte) string {
	s := string(answer)
	switch {
	case len(s) == 0:
		return ""
	case strings.Contains(s, "a=fingerprint:") && strings.Contains(s, "SAVPF"):
		return MediaDTLSSRTP
	case strings.Contains(s, "a=crypto:"):
		return MediaSRTP
	}
	return MediaRTP
}

// protection says in one sentence how a call's audio was protected.
func protection(rec *CallRecord) string {
	enc := func(m string) bool { return m == MediaSRTP || m == MediaDTLSSRTP }
	switch {
	case rec.CallerMedia == "" || rec.CalleeMedia == "":
		return "unknown (no SDP)"
	case rec.Bridge != "" && enc(rec.CallerMedia) && !enc(rec.CalleeMedia):
		return rec.CallerMedia + " on " + rec.Caller + "'s leg, plain RTP to " + rec.Callee + " (bridged by the Pi)"
	case rec.Bridge != "" && !enc(rec.CallerMedia) && enc(rec.CalleeMedia):
		return "plain RTP from " + rec.Caller + ", " + rec.CalleeMedia + " on " + rec.Callee + "'s leg (bridged by the Pi)"
	case enc(rec.CallerMedia) && enc(rec.CalleeMedia) && rec.Bridge != "":
		return "encrypted on both legs (" + rec.CallerMedia + " / " + rec.CalleeMedia + ", bridged by the Pi)"
	case enc(rec.CallerMedia) && enc(rec.CalleeMedia):
		return rec.CallerMedia + " end to end"
	}
	return "plain RTP (not encrypted)"
}
