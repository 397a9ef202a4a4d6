// Package srtpbridge anchors the media of calls between an SRTP leg and a plain RTP leg: a
// softphone on SIP over TLS with SDES-keyed SRTP (RFC 4568, RFC 3711) calling a phone that only
// speaks plain RTP (the Alcatel IP Touch), or the other way round.
//
// For each call the bridge binds an RTP and RTCP port pair per leg, rewrites the SDP that crosses
// the proxy so each phone sends its media to the Pi (the Pi's address and ports; on the SRTP leg
// RTP/SAVP with the Pi's own a=crypto key, on the plain leg RTP/AVP without any), then relays
// every packet: decrypting and authenticating what the SRTP leg sends, encrypting what it
// receives. Codecs, payload types and telephone-event (DTMF) pass as negotiated end to end; RTCP
// becomes SRTCP on the SRTP leg and back.
//
// The registrar decides which calls go through it (firmware/registrar, srtp_bridge.go); the
// bridge knows nothing of SIP.
package srtpbridge
