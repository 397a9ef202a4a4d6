package phone

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

var (
	t0 = time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	t1 = t0.Add(30 * time.Second)
)

func idle() State { return State{Call: CallIdle, Registration: RegRegistered} }

func ringingIn() State {
	s := idle()
	s.Call = CallRinging
	s.Active = Call{ID: "in-1", Peer: "5001", Direction: Incoming, Start: t0}
	return s
}

func talking(dir Direction) State {
	s := idle()
	s.Call = CallInCall
	s.OffHook = true
	s.Active = Call{ID: "c1", Peer: "5001", Direction: dir, Start: t0, Answered: t0}
	return s
}

func calling() State {
	s := idle()
	s.Call = CallCalling
	s.OffHook = true
	s.Active = Call{ID: "out-1", Peer: "5001", Direction: Outgoing, Start: t0}
	s.seq = 1
	return s
}

func with(s State, f func(*State)) State { f(&s); return s }

func TestNext(t *testing.T) {
	waiting := Call{ID: "in-2", Peer: "5003", Direction: Incoming, Start: t0}
	cases := []struct {
		from  State
		ev    Event
		want  State
		wantA []Action
	}{
		// Off hook and dialing.
		{idle(), Event{Kind: EvHookOff},
			with(idle(), func(s *State) { s.Call, s.OffHook = CallDialing, true }),
			[]Action{tone(ToneDial), {Kind: ActStartTimer, Timer: TimerOffHook, After: OffHookTimeout}}},
		{with(idle(), func(s *State) { s.Call, s.OffHook = CallDialing, true }), Event{Kind: EvHookOn},
			idle(), []Action{tone(ToneNone), stopTimer(TimerOffHook), stopTimer(TimerInterDigit)}},
		{with(idle(), func(s *State) { s.Call, s.OffHook = CallDialing, true }), Event{Kind: EvDial, To: "5001", At: t0},
			with(calling(), func(s *State) { s.LastDialed = "5001"; s.Counters.Outgoing = 1 }),
			[]Action{stopTimer(TimerOffHook), stopTimer(TimerInterDigit), tone(ToneNone), {Kind: ActDial, ID: "out-1", To: "5001"}}},
		{with(idle(), func(s *State) { s.Call, s.OffHook = CallDialing, true }), Event{Kind: EvDTMF, Digits: "50"},
			with(idle(), func(s *State) { s.Call, s.OffHook, s.Digits = CallDialing, true, "50" }),
			[]Action{tone(ToneNone), stopTimer(TimerOffHook), {Kind: ActStartTimer, Timer: TimerInterDigit, After: InterDigitTimeout}}},
		{with(idle(), func(s *State) { s.Call, s.OffHook, s.Digits = CallDialing, true, "5001" }), Event{Kind: EvTimer, Timer: TimerInterDigit, At: t0},
			with(calling(), func(s *State) { s.LastDialed = "5001"; s.Counters.Outgoing = 1 }),
			[]Action{stopTimer(TimerOffHook), stopTimer(TimerInterDigit), tone(ToneNone), {Kind: ActDial, ID: "out-1", To: "5001"}}},
		{with(idle(), func(s *State) { s.Call, s.OffHook, s.Digits = CallDialing, true, "500" }), Event{Kind: EvDTMF, Digits: "1#", At: t0},
			with(calling(), func(s *State) { s.LastDialed = "5001"; s.Counters.Outgoing = 1 }),
			[]Action{stopTimer(TimerOffHook), stopTimer(TimerInterDigit), tone(ToneNone), {Kind: ActDial, ID: "out-1", To: "5001"}}},
		{with(idle(), func(s *State) { s.Call, s.OffHook = CallDialing, true }), Event{Kind: EvTimer, Timer: TimerOffHook},
			with(idle(), func(s *State) { s.OffHook = true }), []Action{tone(ToneBusy)}},
		{with(idle(), func(s *State) { s.LastDialed = "5001"; s.seq = 0 }), Event{Kind: EvRedialKey, At: t0},
			with(calling(), func(s *State) { s.OffHook = false; s.LastDialed = "5001"; s.Counters.Outgoing = 1 }),
			[]Action{stopTimer(TimerOffHook), stopTimer(TimerInterDigit), tone(ToneNone), {Kind: ActDial, ID: "out-1", To: "5001"}}},
		{idle(), Event{Kind: EvRedialKey}, idle(), nil},
		{with(idle(), func(s *State) { s.SpeedDial = []string{"5001", "5003"} }), Event{Kind: EvSpeedDialKey, N: 2, At: t0},
			with(calling(), func(s *State) {
				s.OffHook = false
				s.SpeedDial = []string{"5001", "5003"}
				s.Active.Peer, s.LastDialed, s.Counters.Outgoing = "5003", "5003", 1
			}),
			[]Action{stopTimer(TimerOffHook), stopTimer(TimerInterDigit), tone(ToneNone), {Kind: ActDial, ID: "out-1", To: "5003"}}},
		{with(idle(), func(s *State) { s.SpeedDial = []string{"5001"} }), Event{Kind: EvSpeedDialKey, N: 3},
			with(idle(), func(s *State) { s.SpeedDial = []string{"5001"} }), nil},

		// Outgoing call progress.
		{calling(), Event{Kind: EvProgress, ID: "out-1"}, calling(), []Action{tone(ToneRingback)}},
		{calling(), Event{Kind: EvProgress, ID: "out-1", On: true},
			with(calling(), func(s *State) { s.Active.Early = true }),
			[]Action{tone(ToneNone), {Kind: ActAudio, ID: "out-1"}}},
		{calling(), Event{Kind: EvProgress, ID: "other"}, calling(), nil},
		{calling(), Event{Kind: EvAnswered, ID: "out-1", At: t0},
			with(calling(), func(s *State) { s.Call, s.Active.Answered, s.Counters.Answered = CallInCall, t0, 1 }),
			[]Action{tone(ToneNone), {Kind: ActAudio, ID: "out-1"}}},
		{calling(), Event{Kind: EvEnded, ID: "out-1", Code: 486, At: t1},
			with(idle(), func(s *State) { s.OffHook, s.seq, s.Counters.Failed = true, 1, 1 }),
			[]Action{{Kind: ActAudio}, {Kind: ActRecord, Record: Record{Direction: Outgoing, Peer: "5001", Start: t0, Outcome: "busy"}}, tone(ToneBusy)}},
		{calling(), Event{Kind: EvHangup, At: t1},
			with(idle(), func(s *State) { s.OffHook, s.seq = true, 1 }),
			[]Action{{Kind: ActHangup, ID: "out-1"}, tone(ToneNone), {Kind: ActAudio},
				{Kind: ActRecord, Record: Record{Direction: Outgoing, Peer: "5001", Start: t0, Outcome: "cancelled"}}, tone(ToneNone)}},
		{calling(), Event{Kind: EvDial, To: "5003"}, calling(), nil},

		// Incoming.
		{idle(), Event{Kind: EvIncoming, ID: "in-1", Peer: "5001", At: t0},
			with(ringingIn(), func(s *State) { s.Counters.Incoming = 1 }),
			[]Action{{Kind: ActAlert, ID: "in-1"}, {Kind: ActRing, On: true}}},
		{with(idle(), func(s *State) { s.DND = true }), Event{Kind: EvIncoming, ID: "in-1", Peer: "5001", At: t0},
			with(idle(), func(s *State) { s.DND = true; s.Counters.Incoming, s.Counters.Missed = 1, 1 }),
			[]Action{{Kind: ActReject, ID: "in-1", Code: 486}, {Kind: ActRecord, Record: Record{Direction: Incoming, Peer: "5001", Start: t0, Outcome: "missed"}}}},
		{with(idle(), func(s *State) { s.AutoAnswer = true }), Event{Kind: EvIncoming, ID: "in-1", Peer: "5001", At: t0},
			with(ringingIn(), func(s *State) {
				s.AutoAnswer, s.Call, s.Active.Answered = true, CallInCall, t0
				s.Counters.Incoming, s.Counters.Answered = 1, 1
			}),
			[]Action{{Kind: ActRing}, {Kind: ActAnswer, ID: "in-1"}, tone(ToneNone), {Kind: ActAudio, ID: "in-1"}}},
		{ringingIn(), Event{Kind: EvHookOff, At: t0},
			with(ringingIn(), func(s *State) { s.OffHook, s.Call, s.Active.Answered, s.Counters.Answered = true, CallInCall, t0, 1 }),
			[]Action{{Kind: ActRing}, {Kind: ActAnswer, ID: "in-1"}, tone(ToneNone), {Kind: ActAudio, ID: "in-1"}}},
		{ringingIn(), Event{Kind: EvAnswer, At: t0},
			with(ringingIn(), func(s *State) { s.Call, s.Active.Answered, s.Counters.Answered = CallInCall, t0, 1 }),
			[]Action{{Kind: ActRing}, {Kind: ActAnswer, ID: "in-1"}, tone(ToneNone), {Kind: ActAudio, ID: "in-1"}}},
		{ringingIn(), Event{Kind: EvHangupKey, At: t1},
			with(idle(), func(s *State) { s.Counters.Rejected = 1 }),
			[]Action{{Kind: ActRing}, {Kind: ActReject, ID: "in-1", Code: 603},
				{Kind: ActRecord, Record: Record{Direction: Incoming, Peer: "5001", Start: t0, Outcome: "rejected"}}, tone(ToneNone)}},
		{ringingIn(), Event{Kind: EvEnded, ID: "in-1", Reason: "cancelled", At: t1},
			with(idle(), func(s *State) { s.Counters.Missed = 1 }),
			[]Action{{Kind: ActRing}, {Kind: ActAudio},
				{Kind: ActRecord, Record: Record{Direction: Incoming, Peer: "5001", Start: t0, Outcome: "missed"}}, tone(ToneNone)}},
		{ringingIn(), Event{Kind: EvIncoming, ID: "in-2", Peer: "5003", At: t0},
			with(ringingIn(), func(s *State) { s.Counters.Incoming, s.Counters.Missed = 1, 1 }),
			[]Action{{Kind: ActReject, ID: "in-2", Code: 486}, {Kind: ActRecord, Record: Record{Direction: Incoming, Peer: "5003", Start: t0, Outcome: "missed"}}}},
		{ringingIn(), Event{Kind: EvHold}, ringingIn(), nil},

		// In a call.
		{talking(Outgoing), Event{Kind: EvHookOn, At: t1},
			idle(),
			[]Action{{Kind: ActHangup, ID: "c1"}, {Kind: ActAudio},
				{Kind: ActRecord, Record: Record{Direction: Outgoing, Peer: "5001", Start: t0, Duration: 30 * time.Second, Outcome: "answered"}}, tone(ToneNone)}},
		{talking(Incoming), Event{Kind: EvEnded, ID: "c1", Reason: "bye", At: t1},
			with(idle(), func(s *State) { s.OffHook = true }),
			[]Action{{Kind: ActAudio},
				{Kind: ActRecord, Record: Record{Direction: Incoming, Peer: "5001", Start: t0, Duration: 30 * time.Second, Outcome: "answered"}}, tone(ToneBusy)}},
		{talking(Incoming), Event{Kind: EvHold},
			with(talking(Incoming), func(s *State) { s.Call, s.Active.Held = CallHeld, true }),
			[]Action{{Kind: ActHold, ID: "c1", On: true}}},
		{with(talking(Incoming), func(s *State) { s.Call, s.Active.Held = CallHeld, true }), Event{Kind: EvResume},
			talking(Incoming), []Action{{Kind: ActHold, ID: "c1", On: false}}},
		{talking(Incoming), Event{Kind: EvResume}, talking(Incoming), nil},
		{talking(Incoming), Event{Kind: EvDTMF, Digits: "12#"}, talking(Incoming), []Action{{Kind: ActDTMF, ID: "c1", Digits: "12#"}}},
		{talking(Incoming), Event{Kind: EvTransfer, To: "5003"}, talking(Incoming), []Action{{Kind: ActTransfer, ID: "c1", To: "5003"}}},
		{talking(Incoming), Event{Kind: EvRemoteHold, ID: "c1", On: true},
			with(talking(Incoming), func(s *State) { s.Active.RemoteHeld = true }), nil},
		{talking(Incoming), Event{Kind: EvEnded, ID: "c1", Reason: "transferred", At: t1},
			with(idle(), func(s *State) { s.OffHook = true }),
			[]Action{{Kind: ActAudio},
				{Kind: ActRecord, Record: Record{Direction: Incoming, Peer: "5001", Start: t0, Duration: 30 * time.Second, Outcome: "transferred"}}, tone(ToneBusy)}},
		{talking(Incoming), Event{Kind: EvReferred, ID: "c1", To: "sip:5003@pbx?Replaces=a%3Bto-tag%3Db%3Bfrom-tag%3Dc", At: t1},
			with(idle(), func(s *State) {
				s.OffHook, s.Call, s.seq, s.LastDialed, s.Counters.Outgoing = true, CallCalling, 1, "sip:5003@pbx", 1
				s.Active = Call{ID: "out-1", Peer: "sip:5003@pbx", Direction: Outgoing, Start: t1}
			}),
			[]Action{{Kind: ActAudio},
				{Kind: ActRecord, Record: Record{Direction: Incoming, Peer: "5001", Start: t0, Duration: 30 * time.Second, Outcome: "transferred"}},
				stopTimer(TimerOffHook), stopTimer(TimerInterDigit), tone(ToneNone),
				{Kind: ActDial, ID: "out-1", To: "sip:5003@pbx?Replaces=a%3Bto-tag%3Db%3Bfrom-tag%3Dc", Of: "c1"}}},
		{talking(Incoming), Event{Kind: EvReferred, ID: "c1", To: "5003", At: t1},
			with(idle(), func(s *State) {
				s.OffHook, s.Call, s.seq, s.LastDialed, s.Counters.Outgoing = true, CallCalling, 1, "5003", 1
				s.Active = Call{ID: "out-1", Peer: "5003", Direction: Outgoing, Start: t1}
			}),
			[]Action{{Kind: ActAudio},
				{Kind: ActRecord, Record: Record{Direction: Incoming, Peer: "5001", Start: t0, Duration: 30 * time.Second, Outcome: "transferred"}},
				stopTimer(TimerOffHook), stopTimer(TimerInterDigit), tone(ToneNone), {Kind: ActDial, ID: "out-1", To: "5003", Of: "c1"}}},

		{talking(Incoming), Event{Kind: EvRemoteDTMF, ID: "c1", Digits: "5"},
			with(talking(Incoming), func(s *State) { s.Active.Received = "5" }), nil},
		{talking(Incoming), Event{Kind: EvRemoteDTMF, ID: "other", Digits: "5"}, talking(Incoming), nil},

		// Call waiting.
		{talking(Incoming), Event{Kind: EvIncoming, ID: "in-2", Peer: "5003", At: t0},
			with(talking(Incoming), func(s *State) { s.Counters.Incoming, s.Counters.Missed = 1, 1 }),
			[]Action{{Kind: ActReject, ID: "in-2", Code: 486}, {Kind: ActRecord, Record: Record{Direction: Incoming, Peer: "5003", Start: t0, Outcome: "missed"}}}},
		{with(talking(Incoming), func(s *State) { s.CallWaiting = true }), Event{Kind: EvIncoming, ID: "in-2", Peer: "5003", At: t0},
			with(talking(Incoming), func(s *State) { s.CallWaiting, s.Other, s.Counters.Incoming = true, waiting, 1 }),
			[]Action{{Kind: ActAlert, ID: "in-2"}, tone(ToneWaiting)}},
		{with(talking(Incoming), func(s *State) { s.CallWaiting, s.Other = true, waiting }), Event{Kind: EvAnswer, At: t1},
			with(talking(Incoming), func(s *State) {
				s.CallWaiting, s.Counters.Answered = true, 1
				s.Active = waiting
				s.Active.Answered = t1
				s.Other = Call{ID: "c1", Peer: "5001", Direction: Incoming, Start: t0, Answered: t0, Held: true}
			}),
			[]Action{{Kind: ActHold, ID: "c1", On: true}, tone(ToneNone), {Kind: ActAnswer, ID: "in-2"}, {Kind: ActAudio, ID: "in-2"}}},
		{with(talking(Incoming), func(s *State) { s.CallWaiting, s.Other = true, waiting }), Event{Kind: EvEnded, ID: "in-2", Reason: "cancelled", At: t1},
			with(talking(Incoming), func(s *State) { s.CallWaiting, s.Counters.Missed = true, 1 }),
			[]Action{{Kind: ActRecord, Record: Record{Direction: Incoming, Peer: "5003", Start: t0, Outcome: "missed"}}, tone(ToneNone)}},
		{with(talking(Incoming), func(s *State) { s.CallWaiting, s.Other = true, waiting }), Event{Kind: EvHangup, At: t1},
			with(ringingIn(), func(s *State) { s.OffHook, s.CallWaiting, s.Active = true, true, waiting }),
			[]Action{{Kind: ActHangup, ID: "c1"}, {Kind: ActAudio},
				{Kind: ActRecord, Record: Record{Direction: Incoming, Peer: "5001", Start: t0, Duration: 30 * time.Second, Outcome: "answered"}},
				tone(ToneNone), {Kind: ActRing, On: true}}},

		// Attended transfer: a consultation call while the first is held, then the held call is
		// handed to the consulted party; and the other side, a call that replaces ours.
		{with(talking(Incoming), func(s *State) { s.Call, s.Active.Held = CallHeld, true }), Event{Kind: EvDial, To: "5004", At: t1},
			with(idle(), func(s *State) {
				s.Call, s.OffHook, s.LastDialed, s.seq, s.Counters.Outgoing = CallCalling, true, "5004", 1, 1
				s.Active = Call{ID: "out-1", Peer: "5004", Direction: Outgoing, Start: t1}
				s.Other = Call{ID: "c1", Peer: "5001", Direction: Incoming, Start: t0, Answered: t0, Held: true}
			}),
			[]Action{stopTimer(TimerOffHook), stopTimer(TimerInterDigit), tone(ToneNone), {Kind: ActDial, ID: "out-1", To: "5004"}}},
		{with(talking(Outgoing), func(s *State) { s.Other = Call{ID: "c0", Peer: "5003", Answered: t0, Held: true} }), Event{Kind: EvTransfer},
			with(talking(Outgoing), func(s *State) { s.Other = Call{ID: "c0", Peer: "5003", Answered: t0, Held: true} }),
			[]Action{{Kind: ActTransfer, ID: "c0", With: "c1"}}},
		{talking(Outgoing), Event{Kind: EvTransfer}, talking(Outgoing), nil}, // nothing parked to hand on
		{talking(Outgoing), Event{Kind: EvReplaced, ID: "in-9", Old: "c1", Peer: "5004", At: t1},
			with(talking(Outgoing), func(s *State) {
				s.Active = Call{ID: "in-9", Peer: "5004", Direction: Incoming, Start: t1, Answered: t1}
				s.Counters.Incoming, s.Counters.Answered = 1, 1
			}),
			[]Action{{Kind: ActRecord, Record: Record{Direction: Outgoing, Peer: "5001", Start: t0, Duration: 30 * time.Second, Outcome: "transferred"}},
				{Kind: ActAudio, ID: "in-9"}}},
		{talking(Outgoing), Event{Kind: EvReplaced, ID: "in-9", Old: "nosuch", Peer: "5004", At: t1},
			talking(Outgoing), []Action{{Kind: ActHangup, ID: "in-9"}}},

		// RTP timeout: the far end went silent without a BYE; the phone hangs up and says why,
		// but never while the call is on hold either way, nor for another call.
		{talking(Incoming), Event{Kind: EvNoMedia, ID: "c1", N: 60, At: t1},
			with(idle(), func(s *State) { s.OffHook = true }),
			[]Action{{Kind: ActHangup, ID: "c1"}, {Kind: ActAudio},
				{Kind: ActRecord, Record: Record{Direction: Incoming, Peer: "5001", Start: t0, Duration: 30 * time.Second, Outcome: "answered", Reason: ReasonNoMedia}},
				tone(ToneBusy)}},
		{with(talking(Outgoing), func(s *State) { s.OffHook = false }), Event{Kind: EvNoMedia, ID: "c1", At: t1},
			idle(),
			[]Action{{Kind: ActHangup, ID: "c1"}, {Kind: ActAudio},
				{Kind: ActRecord, Record: Record{Direction: Outgoing, Peer: "5001", Start: t0, Duration: 30 * time.Second, Outcome: "answered", Reason: ReasonNoMedia}},
				tone(ToneNone)}},
		{with(talking(Incoming), func(s *State) { s.Call, s.Active.Held = CallHeld, true }), Event{Kind: EvNoMedia, ID: "c1", At: t1},
			with(talking(Incoming), func(s *State) { s.Call, s.Active.Held = CallHeld, true }), nil},
		{with(talking(Incoming), func(s *State) { s.Active.RemoteHeld = true }), Event{Kind: EvNoMedia, ID: "c1", At: t1},
			with(talking(Incoming), func(s *State) { s.Active.RemoteHeld = true }), nil},
		{with(talking(Incoming), func(s *State) { s.Other = Call{ID: "c0", Peer: "5003", Answered: t0, Held: true} }), Event{Kind: EvNoMedia, ID: "c0", At: t1},
			with(talking(Incoming), func(s *State) { s.Other = Call{ID: "c0", Peer: "5003", Answered: t0, Held: true} }), nil},
		{ringingIn(), Event{Kind: EvNoMedia, ID: "in-1", At: t1}, ringingIn(), nil},
		{idle(), Event{Kind: EvNoMedia, ID: "gone", At: t1}, idle(), nil},

		// Misc.
		{idle(), Event{Kind: EvSetDND, On: true}, with(idle(), func(s *State) { s.DND = true }), nil},
		{idle(), Event{Kind: EvRegistration, Reg: RegFailed, Reason: "timeout"},
			with(idle(), func(s *State) { s.Registration, s.RegDetail = RegFailed, "timeout" }), nil},
		{idle(), Event{Kind: EvAnswer}, idle(), nil},
		{idle(), Event{Kind: EvHangup}, idle(), nil},
		{idle(), Event{Kind: EvEnded, ID: "gone"}, idle(), nil},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%s->%s->%s", c.from.Call, c.ev.Kind, c.want.Call)
		t.Run(name, func(t *testing.T) {
			got, acts := next(c.from, c.ev)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("state\n got %+v\nwant %+v", got, c.want)
			}
			if !reflect.DeepEqual(acts, c.wantA) {
				t.Errorf("actions\n got %+v\nwant %+v", acts, c.wantA)
			}
		})
	}
}

func TestCheckNumber(t *testing.T) {
	for _, ok := range []string{"5001", "+33123456789", "alice@example.org", "*97"} {
		if err := CheckNumber(ok); err != nil {
			t.Errorf("CheckNumber(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "50\r\n01", "50 01", "5001>", "a;b", string(make([]byte, 200))} {
		if err := CheckNumber(bad); err == nil {
			t.Errorf("CheckNumber(%q) accepted", bad)
		}
	}
}
