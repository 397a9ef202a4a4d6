// Package sipua is the desk phone's SIP user agent on sipgo: registration with refresh and
// failover, calls in both directions, hold, transfer and DTMF, reported to the phone as events.
//
// Implemented: RFC 3261 §10 (REGISTER, refreshed on the granted expiry), §13–15 (INVITE, ACK,
// CANCEL, BYE, re-INVITE; a 2xx is retransmitted until its ACK, §13.3.1.4), late offer (an INVITE
// without SDP gets our offer in the 200 OK and the answer comes in the ACK, RFC 3264 §5), §22
// digest authentication answered only to the configured registrar and realm (the FreeSWITCH
// CVE-2021-41158 class of leak), RFC 3264 offer/answer hold (sendonly/inactive), RFC 3515 +
// RFC 5589 blind transfer (REFER, NOTIFY with message/sipfrag) in both roles, SIP INFO DTMF
// (application/dtmf-relay) received.
package sipua
