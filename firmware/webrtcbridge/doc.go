// Package webrtcbridge anchors the media of a call between a browser (WebRTC) and a plain SIP
// phone: toward the browser it terminates ICE (lite) and DTLS-SRTP, toward the phone it speaks
// plain RTP, and it relays G.711 (PCMU/PCMA) and RFC 4733 telephone-events between the two
// without transcoding. No STUN or TURN server is involved: the browser reaches the bridge at its
// LAN host candidate.
//
// The bridge is made for a SIP proxy that sees SDP pass by (like Kamailio with rtpengine): for
// each SDP body it forwards between a WebRTC leg and a plain leg, the proxy hands the body to
// Offer or Answer and forwards what comes back instead. A call is keyed by its Call-ID and
// dialog tags; Close ends it on BYE, CANCEL, a failed INVITE or a timeout. Calls whose legs are
// both WebRTC or both plain never reach the bridge.
//
// A proxy uses it through an interface it declares itself, with no pion type in sight:
//
//	// MediaBridge anchors the media of calls between a WebRTC and a plain RTP leg.
//	type MediaBridge interface {
//		// Offer takes an SDP offer coming from one side (fromBrowser says which) and
//		// returns the offer to forward to the other side. toTag is "" for an initial INVITE.
//		Offer(ctx context.Context, callID, fromTag, toTag string, fromBrowser bool, sdp []byte) ([]byte, error)
//		// Answer takes the SDP answer coming back and returns the answer to forward.
//		Answer(ctx context.Context, callID, fromTag, toTag string, fromBrowser bool, sdp []byte) ([]byte, error)
//		// Close ends the call's media and frees its ports; unknown Call-IDs are ignored.
//		Close(callID string)
//	}
//
// fromTag and toTag are the tags of the From and To headers of the message that carries the SDP
// (a re-INVITE sent by the callee has them the other way round; the bridge matches either
// order). A call has one bridge: an INVITE forked to several browsers is not supported (the
// proxy should send it to one WebRTC contact), and when a forked INVITE from a browser is
// answered by several phones, the first answer's phone gets the media and later answers get the
// same SDP back.
//
// What the proxy does, message by message:
//
//   - INVITE with SDP between a browser and a phone: Offer (toTag "" for the initial INVITE);
//     forward the returned SDP. The 2xx (or a 183 with SDP) coming back: Answer; forward the
//     returned SDP. Retransmitted 2xx may be passed again: they get the same answer.
//   - An initial INVITE that fails (3xx–6xx, CANCEL, timeout): Close. One sent again with the
//     same Call-ID (after a 401/407 challenge) replaces the unanswered offer anyway.
//   - A re-INVITE that fails needs nothing: the same side's next offer replaces it. Offers from
//     both sides at once (glare) get an error for the later one; answer it 491.
//   - BYE, or the dialog's end for any reason: Close.
//   - An error from Offer or Answer: answer the request 488 (the error says why) and Close if
//     it was the initial INVITE.
//
// Re-INVITEs (hold, resume) renegotiate on the same peer connection and the same RTP port; the
// direction attributes are carried across. Late offers (an INVITE without SDP, the offer in
// the 2xx and the answer in the ACK) work the same way: Offer on the 2xx, Answer on the ACK.
//
// New binds the ICE port; Run owns the bridge until its context ends, then closes every call
// and the port. Calls whose offer is never answered are closed after Config.SetupTimeout.
package webrtcbridge
