package phone

import (
	"strconv"
	"strings"
	"time"
)

// next is the whole call policy. It is pure: no I/O, no clock (the event carries its time), no
// goroutines. An event that does not apply returns the state unchanged and no actions.
func next(s State, ev Event) (State, []Action) {
	switch ev.Kind {
	case EvHookOff:
		return hookOff(s, ev)
	case EvHookOn:
		return hookOn(s, ev)
	case EvAnswerKey, EvAnswer:
		return answer(s, ev)
	case EvHangupKey, EvHangup:
		return hangup(s, ev)
	case EvDial:
		return dial(s, ev, ev.To)
	case EvRedialKey:
		return dial(s, ev, s.LastDialed)
	case EvSpeedDialKey:
		if ev.N < 1 || ev.N > len(s.SpeedDial) {
			return s, nil
		}
		return dial(s, ev, s.SpeedDial[ev.N-1])
	case EvHold:
		return hold(s, true)
	case EvResume:
		return hold(s, false)
	case EvDTMF:
		return dtmf(s, ev)
	case EvTransfer:
		return transfer(s, ev)
	case EvSetDND:
		s.DND = ev.On
		return s, nil
	case EvIncoming:
		return incoming(s, ev)
	case EvProgress:
		return progress(s, ev)
	case EvAnswered:
		return answered(s, ev)
	case EvEnded:
		return ended(s, ev)
	case EvRemoteHold:
		switch ev.ID {
		case s.Active.ID:
			s.Active.RemoteHeld = ev.On
		case s.Other.ID:
			s.Other.RemoteHeld = ev.On
		}
		return s, nil
	case EvReferred:
		return referred(s, ev)
	case EvReplaced:
		return replaced(s, ev)
	case EvNoMedia:
		return noMedia(s, ev)
	case EvRemoteDTMF:
		if ev.ID == s.Active.ID && ev.ID != "" {
			r := s.Active.Received + ev.Digits
			if len(r) > 32 {
				r = r[len(r)-32:]
			}
			s.Active.Received = r
		}
		return s, nil
	case EvRegistration:
		s.Registration, s.RegDetail = ev.Reg, ev.Reason
		return s, nil
	case EvTimer:
		return timer(s, ev)
	}
	return s, nil
}

func hookOff(s State, ev Event) (State, []Action) {
	if s.OffHook {
		return s, nil
	}
	s.OffHook = true
	switch s.Call {
	case CallRinging:
		return answer(s, ev)
	case CallIdle:
		s.Call, s.Digits = CallDialing, ""
		return s, []Action{tone(ToneDial), {Kind: ActStartTimer, Timer: TimerOffHook, After: OffHookTimeout}}
	}
	// A call started from the API continues on the handset.
	return s, nil
}

func hookOn(s State, ev Event) (State, []Action) {
	if !s.OffHook {
		return s, nil
	}
	s.OffHook = false
	switch s.Call {
	case CallDialing, CallIdle:
		s.Call, s.Digits = CallIdle, ""
		return s, []Action{tone(ToneNone), stopTimer(TimerOffHook), stopTimer(TimerInterDigit)}
	case CallCalling, CallInCall, CallHeld:
		return hangup(s, ev)
	}
	return s, nil
}

func answer(s State, ev Event) (State, []Action) {
	switch s.Call {
	case CallRinging:
		s.Call = CallInCall
		s.Active.Answered = ev.At
		s.Counters.Answered++
		return s, []Action{{Kind: ActRing}, {Kind: ActAnswer, ID: s.Active.ID}, tone(ToneNone),
			{Kind: ActAudio, ID: s.Active.ID}}
	case CallInCall, CallHeld:
		if !s.Other.exists() || !s.Other.Answered.IsZero() {
			return s, nil
		}
		// Call waiting: the current call goes on hold, the waiting one is answered.
		var acts []Action
		if !s.Active.Held {
			acts = append(acts, Action{Kind: ActHold, ID: s.Active.ID, On: true})
		}
		parked := s.Active
		parked.Held = true
		s.Active, s.Other = s.Other, parked
		s.Active.Answered = ev.At
		s.Call = CallInCall
		s.Counters.Answered++
		return s, append(acts, tone(ToneNone), Action{Kind: ActAnswer, ID: s.Active.ID},
			Action{Kind: ActAudio, ID: s.Active.ID})
	}
	return s, nil
}

func hangup(s State, ev Event) (State, []Action) {
	var acts []Action
	switch s.Call {
	case CallRinging:
		acts = append(acts, Action{Kind: ActRing}, Action{Kind: ActReject, ID: s.Active.ID, Code: 603})
		s.Counters.Rejected++
		acts = append(acts, record(s.Active, ev.At, "rejected"))
	case CallCalling:
		acts = append(acts, Action{Kind: ActHangup, ID: s.Active.ID}, tone(ToneNone), Action{Kind: ActAudio},
			record(s.Active, ev.At, "cancelled"))
	case CallInCall, CallHeld:
		acts = append(acts, Action{Kind: ActHangup, ID: s.Active.ID}, Action{Kind: ActAudio},
			record(s.Active, ev.At, "answered"))
	case CallDialing:
		s.Call, s.Digits = CallIdle, ""
		return s, []Action{tone(ToneNone), stopTimer(TimerOffHook), stopTimer(TimerInterDigit)}
	default:
		return s, nil
	}
	s.Active = Call{}
	s, more := afterActiveGone(s, false)
	return s, append(acts, more...)
}

// afterActiveGone decides what the handset does once the active call is gone: a waiting call rings,
// a parked call comes back (still held), otherwise idle, with the busy tone if the far end left while
// the handset is up.
func afterActiveGone(s State, remote bool) (State, []Action) {
	if s.Other.exists() {
		s.Active, s.Other = s.Other, Call{}
		if s.Active.Answered.IsZero() {
			s.Call = CallRinging
			return s, []Action{tone(ToneNone), {Kind: ActRing, On: true}}
		}
		s.Call = CallHeld
		return s, []Action{tone(ToneNone)}
	}
	s.Call = CallIdle
	if remote && s.OffHook {
		return s, []Action{tone(ToneBusy)}
	}
	return s, []Action{tone(ToneNone)}
}

func dial(s State, ev Event, to string) (State, []Action) {
	if to == "" {
		return s, nil
	}
	switch {
	case s.Call == CallIdle || s.Call == CallDialing:
	case s.Call == CallHeld && !s.Other.exists():
		// A consultation call: the held call is parked meanwhile (and can be transferred to it).
		s.Other = s.Active
	default:
		return s, nil
	}
	s.seq++
	s.Active = Call{ID: "out-" + strconv.Itoa(s.seq), Peer: to, Direction: Outgoing, Start: ev.At}
	s.Call, s.Digits, s.LastDialed = CallCalling, "", to
	s.Counters.Outgoing++
	return s, []Action{stopTimer(TimerOffHook), stopTimer(TimerInterDigit), tone(ToneNone),
		{Kind: ActDial, ID: s.Active.ID, To: to}}
}

func hold(s State, on bool) (State, []Action) {
	switch {
	case on && s.Call == CallInCall:
		s.Call, s.Active.Held = CallHeld, true
	case !on && s.Call == CallHeld:
		s.Call, s.Active.Held = CallInCall, false
	default:
		return s, nil
	}
	return s, []Action{{Kind: ActHold, ID: s.Active.ID, On: on}}
}

func dtmf(s State, ev Event) (State, []Action) {
	switch s.Call {
	case CallInCall:
		return s, []Action{{Kind: ActDTMF, ID: s.Active.ID, Digits: ev.Digits}}
	case CallDialing:
		s.Digits += ev.Digits
		if strings.HasSuffix(s.Digits, "#") && len(s.Digits) > 1 {
			return dial(s, ev, strings.TrimSuffix(s.Digits, "#"))
		}
		return s, []Action{tone(ToneNone), stopTimer(TimerOffHook),
			{Kind: ActStartTimer, Timer: TimerInterDigit, After: InterDigitTimeout}}
	}
	return s, nil
}

func incoming(s State, ev Event) (State, []Action) {
	c := Call{ID: ev.ID, Peer: ev.Peer, Direction: Incoming, Start: ev.At}
	s.Counters.Incoming++
	busy := func() (State, []Action) {
		s.Counters.Missed++
		return s, []Action{{Kind: ActReject, ID: c.ID, Code: 486}, record(c, ev.At, "missed")}
	}
	if s.DND {
		return busy()
	}
	switch s.Call {
	case CallIdle:
		if s.OffHook { // busy tone after the far end left: the handset is in use
			return busy()
		}
		s.Active = c
		if s.AutoAnswer {
			s.Call = CallRinging
			return answer(s, ev)
		}
		s.Call = CallRinging
		return s, []Action{{Kind: ActAlert, ID: c.ID}, {Kind: ActRing, On: true}}
	case CallInCall, CallHeld, CallCalling:
		if !s.CallWaiting || s.Other.exists() || s.Call == CallCalling {
			return busy()
		}
		s.Other = c
		return s, []Action{{Kind: ActAlert, ID: c.ID}, tone(ToneWaiting)}
	}
	return busy()
}

func progress(s State, ev Event) (State, []Action) {
	if s.Call != CallCalling || ev.ID != s.Active.ID {
		return s, nil
	}
	if ev.On {
		if s.Active.Early {
			return s, nil
		}
		s.Active.Early = true
		return s, []Action{tone(ToneNone), {Kind: ActAudio, ID: s.Active.ID}}
	}
	if s.Active.Early {
		return s, nil
	}
	return s, []Action{tone(ToneRingback)}
}

func answered(s State, ev Event) (State, []Action) {
	if s.Call != CallCalling || ev.ID != s.Active.ID {
		return s, nil
	}
	s.Call = CallInCall
	s.Active.Answered = ev.At
	s.Counters.Answered++
	return s, []Action{tone(ToneNone), {Kind: ActAudio, ID: s.Active.ID}}
}

func ended(s State, ev Event) (State, []Action) {
	switch {
	case ev.ID == "":
		return s, nil
	case ev.ID == s.Active.ID:
		c, was := s.Active, s.Call
		var acts []Action
		if was == CallRinging {
			acts = append(acts, Action{Kind: ActRing})
		}
		outcome := outcomeOf(c, ev)
		switch outcome {
		case "missed":
			s.Counters.Missed++
		case "failed", "busy", "rejected":
			if c.Direction == Outgoing {
				s.Counters.Failed++
			}
		}
		acts = append(acts, Action{Kind: ActAudio}, record(c, ev.At, outcome))
		s.Active = Call{}
		s, more := afterActiveGone(s, true)
		return s, append(acts, more...)
	case ev.ID == s.Other.ID:
		c := s.Other
		s.Other = Call{}
		outcome := outcomeOf(c, ev)
		if outcome == "missed" {
			s.Counters.Missed++
		}
		acts := []Action{record(c, ev.At, outcome)}
		if c.Answered.IsZero() {
			acts = append(acts, tone(ToneNone))
		}
		return s, acts
	}
	return s, nil
}

// outcomeOf names how a call ended, for the call log.
func outcomeOf(c Call, ev Event) string {
	switch {
	case ev.Reason == "transferred":
		return "transferred"
	case !c.Answered.IsZero():
		return "answered"
	case c.Direction == Incoming:
		return "missed"
	case ev.Code == 486 || ev.Code == 600:
		return "busy"
	case ev.Code == 603:
		return "rejected"
	case ev.Reason == "cancelled":
		return "cancelled"
	}
	return "failed"
}

func referred(s State, ev Event) (State, []Action) {
	if ev.ID != s.Active.ID || ev.To == "" || !(s.Call == CallInCall || s.Call == CallHeld) {
		return s, nil
	}
	old := s.Active
	acts := []Action{{Kind: ActAudio}, record(old, ev.At, "transferred")}
	s.Call = CallIdle
	s.Active = Call{}
	s, more := dial(s, ev, ev.To)
	// An attended transfer's target carries the call to replace ("sip:5004@pbx?Replaces=…"): the
	// INVITE needs it, the status and a redial do not.
	s.Active.Peer, _, _ = strings.Cut(ev.To, "?")
	s.LastDialed = s.Active.Peer
	acts = append(acts, more...)
	for i := range acts {
		if acts[i].Kind == ActDial {
			acts[i].Of = old.ID
		}
	}
	return s, acts
}

// ReasonNoMedia is what the call log says of a call hung up for its RTP timeout.
const ReasonNoMedia = "no audio from the far end"

// noMedia: the far end of the call on the handset sent nothing for the RTP timeout; it is gone
// (unplugged, killed, its network lost) without a BYE, so the phone hangs up, as when the far
// end hangs up. Not while the call is on hold either way (a held phone may send nothing), nor
// for a parked call (held by us).
func noMedia(s State, ev Event) (State, []Action) {
	if ev.ID == "" || ev.ID != s.Active.ID || s.Call != CallInCall || s.Active.Held || s.Active.RemoteHeld {
		return s, nil
	}
	rec := record(s.Active, ev.At, "answered")
	rec.Record.Reason = ReasonNoMedia
	acts := []Action{{Kind: ActHangup, ID: s.Active.ID}, {Kind: ActAudio}, rec}
	s.Active = Call{}
	s, more := afterActiveGone(s, true)
	return s, append(acts, more...)
}

func timer(s State, ev Event) (State, []Action) {
	switch ev.Timer {
	case TimerOffHook:
		if s.Call == CallDialing && s.Digits == "" {
			s.Call = CallIdle
			return s, []Action{tone(ToneBusy)}
		}
	case TimerInterDigit:
		if s.Call == CallDialing && s.Digits != "" {
			return dial(s, ev, s.Digits)
		}
	}
	return s, nil
}

func tone(t Tone) Action           { return Action{Kind: ActTone, Tone: t} }
func stopTimer(k TimerKind) Action { return Action{Kind: ActStopTimer, Timer: k} }
func record(c Call, at time.Time, outcome string) Action {
	r := Record{Direction: c.Direction, Peer: c.Peer, Start: c.Start, Outcome: outcome}
	if !c.Answered.IsZero() {
		r.Duration = at.Sub(c.Answered)
	}
	return Action{Kind: ActRecord, Record: r}
}

// transfer hands a call on: blind, the active call to ev.To; attended (ev.To empty), the parked
// call to the far end of the active one, which must be answered (RFC 5589 §7).
func transfer(s State, ev Event) (State, []Action) {
	switch {
	case ev.To != "" && (s.Call == CallInCall || s.Call == CallHeld):
		return s, []Action{{Kind: ActTransfer, ID: s.Active.ID, To: ev.To}}
	case ev.To == "" && s.Call == CallInCall && s.Other.exists() && !s.Other.Answered.IsZero():
		return s, []Action{{Kind: ActTransfer, ID: s.Other.ID, With: s.Active.ID}}
	}
	return s, nil
}

// replaced: a call came in that takes the place of one of ours (an INVITE with Replaces: the far
// end did an attended transfer to us). It is answered already; the old call is recorded as
// transferred and its end, which follows, concerns no call the phone knows any more.
func replaced(s State, ev Event) (State, []Action) {
	c := Call{ID: ev.ID, Peer: ev.Peer, Direction: Incoming, Start: ev.At, Answered: ev.At}
	var acts []Action
	switch {
	case ev.Old == "":
		return s, []Action{{Kind: ActHangup, ID: ev.ID}}
	case ev.Old == s.Active.ID && (s.Call == CallInCall || s.Call == CallHeld):
		acts = []Action{record(s.Active, ev.At, "transferred"), {Kind: ActAudio, ID: c.ID}}
		s.Active, s.Call = c, CallInCall
	case ev.Old == s.Other.ID && !s.Other.Answered.IsZero():
		c.Held = true // parked, as the call it replaces was
		acts = []Action{record(s.Other, ev.At, "transferred"), {Kind: ActHold, ID: c.ID, On: true}}
		s.Other = c
	default:
		return s, []Action{{Kind: ActHangup, ID: ev.ID}}
	}
	s.Counters.Incoming++
	s.Counters.Answered++
	return s, acts
}
