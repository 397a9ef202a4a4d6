// Package phone is the desk phone's call state machine: one loop owns the call state and drives the
// signalling, tones, ringer and call log through interfaces declared here.
//
// The policy lives in the pure function next(state, event) (state, []action); timer expiries reach it
// as events, so every transition is a row in a table test.
package phone
