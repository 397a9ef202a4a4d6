// Package sipua is the desk phone's SIP user agent on sipgo: registration with refresh and
// failover, calls in both directions, hold, transfer and DTMF, reported to the phone as events.
//
// Each call has one goroutine that owns its state (call.go); SIP requests, the phone's requests,
// transaction results and timers reach it as events, in order. The files follow RFC 3261:
//
//	ua.go        the user agent: sockets, addresses, Run
//	register.go  REGISTER and its refresh/backoff schedule (§10); auth.go digest answers (§22)
//	call.go      one call: its goroutine, its end, hang-up
//	uac.go       an INVITE we send (§13.2): CANCEL, early media, the ACK
//	uas.go       an INVITE we get (§13.3): 180, 2xx retransmitted until the ACK, refusals
//	dialog.go    in-dialog requests (§12, §14, §15): BYE, re-INVITE and its glare, UPDATE, hold
//	transfer.go  REFER and NOTIFY in both roles (RFC 3515, RFC 5589)
//	dtmf.go      DTMF: RFC 4733 through the media, SIP INFO received
//
// Implemented: RFC 3261 §10 (REGISTER, refreshed on the granted expiry), §13–15 (INVITE, ACK,
// CANCEL, BYE, re-INVITE; a 2xx is retransmitted until its ACK, §13.3.1.4; a re-INVITE crossing
// ours gets 491 and ours is retried after the §14.1 pause), late offer (an INVITE without SDP gets
// our offer in the 200 OK and the answer comes in the ACK, RFC 3264 §5), RFC 3311 UPDATE answered
// (a new offer, or a session refresh without a body), §22 digest authentication answered only
// to the configured registrar and realm (the FreeSWITCH CVE-2021-41158 class of leak), RFC 3264
// offer/answer hold (sendonly/inactive), RFC 3515 + RFC 5589 blind transfer (REFER, NOTIFY with
// message/sipfrag) in both roles, a refused transfer reported with the far end's status, SIP
// INFO DTMF (application/dtmf-relay) received.
package sipua
