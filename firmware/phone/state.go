package phone

import (
	"strconv"
	"time"
)

// CallState is what the handset is doing.
type CallState int

// Call states. The zero value is never valid.
const (
	CallUnknown CallState = iota
	CallIdle              // on hook (or off hook after the far end left), no call
	CallDialing           // off hook, dial tone, collecting digits
	CallCalling           // INVITE sent, waiting for the far end to answer
	CallRinging           // incoming call, ringer on
	CallInCall            // talking
	CallHeld              // the active call is on hold (by us)
)

var callStateNames = [...]string{"unknown", "idle", "dialing", "calling", "ringing", "in_call", "held"}

func (s CallState) String() string {
	if int(s) < len(callStateNames) {
		return callStateNames[s]
	}
	return "unknown"
}

// Public is the state as the HTTP API reports it: an outgoing call that is not answered yet is
// "dialing", like a handset that is still dialing.
func (s CallState) Public() string {
	if s == CallCalling {
		return "dialing"
	}
	return s.String()
}

// Direction says who placed a call.
type Direction string

// Call directions.
const (
	Incoming Direction = "in"
	Outgoing Direction = "out"
)

// Tone is a locally generated call-progress tone.
type Tone int

// Tones the phone asks for; ToneNone silences the tone generator.
const (
	ToneNone Tone = iota
	ToneDial
	ToneRingback
	ToneBusy
	ToneWaiting
)

var toneNames = [...]string{"none", "dial", "ringback", "busy", "call_waiting"}

func (t Tone) String() string {
	if int(t) < len(toneNames) {
		return toneNames[t]
	}
	return "unknown"
}

// TimerKind names one of the phone's timers.
type TimerKind int

// Timers.
const (
	TimerNone       TimerKind = iota
	TimerOffHook              // off hook without dialing: dial tone gives way to the busy tone
	TimerInterDigit           // digits collected and none came for a while: dial them
)

// Timer lengths used by next.
const (
	OffHookTimeout    = 20 * time.Second
	InterDigitTimeout = 4 * time.Second
)

// Call is one call the phone knows about.
type Call struct {
	ID         string
	Peer       string
	Direction  Direction
	Start      time.Time // INVITE sent or received
	Answered   time.Time // zero until answered
	Held       bool      // on hold by us
	RemoteHeld bool      // on hold by the far end
	Early      bool      // early media is playing (183 with SDP)
	Received   string    // DTMF digits the far end sent (the last 32)
}

func (c Call) exists() bool { return c.ID != "" }

// Counters are totals since start.
type Counters struct {
	Incoming int `json:"incoming"`
	Outgoing int `json:"outgoing"`
	Answered int `json:"answered"`
	Missed   int `json:"missed"`
	Rejected int `json:"rejected"`
	Failed   int `json:"failed"`
}

// Registration is the state of the phone's SIP registration.
type Registration string

// Registration states.
const (
	RegDisabled    Registration = "disabled"
	RegRegistering Registration = "registering"
	RegRegistered  Registration = "registered"
	RegFailed      Registration = "failed"
)

// State is everything next needs to decide. It is a value: next returns a modified copy.
type State struct {
	Call    CallState
	Active  Call // the call on the handset (ringing, calling, talking or held)
	Other   Call // a waiting incoming call (not answered) or a call parked on hold
	OffHook bool
	Digits  string // collected while dialing

	DND         bool
	CallWaiting bool
	AutoAnswer  bool
	LastDialed  string
	SpeedDial   []string

	Registration Registration
	RegDetail    string
	Counters     Counters

	seq int // numbers outgoing call IDs
}

// EventKind names an event.
type EventKind int

// Events: buttons, API requests, signalling reports, timers.
const (
	EvNone EventKind = iota
	// Buttons.
	EvHookOff
	EvHookOn
	EvAnswerKey
	EvHangupKey
	EvRedialKey
	EvSpeedDialKey
	// API requests.
	EvDial
	EvAnswer
	EvHangup
	EvHold
	EvResume
	EvDTMF
	EvTransfer
	EvSetDND
	// Signalling reports.
	EvIncoming       // ID, Peer
	EvProgress       // ID; On = early media
	EvAnswered       // ID
	EvEnded          // ID, Reason, Code
	EvRemoteHold     // ID, On
	EvReferred       // ID, To: the far end transfers us (REFER)
	EvRemoteDTMF     // ID, Digits: a digit the far end sent
	EvTransferFailed // ID, Reason: our transfer was refused or got no result; the call goes on
	EvReplaced       // ID, Peer, Old: a new call takes the place of call Old (RFC 3891 Replaces)
	EvNoMedia        // ID, N: the far end sent no RTP or RTCP for N seconds (RTP timeout)
	EvRegistration
	// Timers.
	EvTimer
)

// Names are snake_case, like the call states, in logs and in the API.
var eventNames = [...]string{"none", "hook_off", "hook_on", "answer_key", "hangup_key", "redial_key",
	"speed_dial_key", "dial", "answer", "hangup", "hold", "resume", "dtmf", "transfer", "set_dnd",
	"incoming", "progress", "answered", "ended", "remote_hold", "referred", "remote_dtmf", "transfer_failed", "replaced", "no_media", "registration", "timer"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "event_" + strconv.Itoa(int(k))
}

// Event is one input to next. Fields not used by a kind stay zero.
type Event struct {
	Kind   EventKind
	At     time.Time // stamped by the loop from its clock
	ID     string
	Peer   string
	To     string
	Digits string
	On     bool
	N      int // speed-dial slot; EvNoMedia: seconds of silence
	Code   int // SIP status of a failed call
	Reason string
	Timer  TimerKind
	Reg    Registration
	Old    string // EvReplaced: the call the new one replaces
}

// ActionKind names an action.
type ActionKind int

// Actions next asks the loop to perform.
const (
	ActNone       ActionKind = iota
	ActDial                  // ID, To
	ActAlert                 // ID: tell the caller we ring (180)
	ActAnswer                // ID
	ActReject                // ID, Code
	ActHangup                // ID: CANCEL or BYE
	ActHold                  // ID, On
	ActDTMF                  // ID, Digits
	ActTransfer              // ID, To; or ID, With: attended, to the far end of call With
	ActTone                  // Tone
	ActRing                  // On
	ActAudio                 // ID: connect this call's audio to the handset ("" disconnects)
	ActRecord                // Record
	ActStartTimer            // Timer, After
	ActStopTimer             // Timer
)

var actionNames = [...]string{"none", "dial", "alert", "answer", "reject", "hangup", "hold", "dtmf",
	"transfer", "tone", "ring", "audio", "record", "start_timer", "stop_timer"}

func (k ActionKind) String() string {
	if int(k) < len(actionNames) {
		return actionNames[k]
	}
	return "action_" + strconv.Itoa(int(k))
}

// Action is one effect of a transition.
type Action struct {
	Kind   ActionKind
	ID     string
	To     string
	Digits string
	On     bool
	Code   int
	Tone   Tone
	Timer  TimerKind
	After  time.Duration
	Record Record
	Of     string // ActDial: the call whose far end asked for this one (REFER)
	With   string // ActTransfer: attended transfer to the far end of this call
}

// Record is one finished call for the call log.
type Record struct {
	Direction Direction     `json:"direction"`
	Peer      string        `json:"peer"`
	Start     time.Time     `json:"start"`
	Duration  time.Duration `json:"duration"`         // talk time; 0 when never answered
	Outcome   string        `json:"outcome"`          // answered, missed, rejected, busy, failed, cancelled, transferred
	Reason    string        `json:"reason,omitempty"` // why the phone ended it ("no audio from the far end")
}
