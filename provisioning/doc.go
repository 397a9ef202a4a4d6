// Package provisioning serves Alcatel IP Touch 4008/4018 EE phones in SIP mode their configuration
// files and firmware over HTTP, generated from the built-in registrar's accounts, and pairs new phones.
//
// The phone, booted with "DL scheme: HTTP" and "DL address" set to the Pi, asks for (in this order)
// its firmware (noesip4018 and datsip4018, or the …4008 names), the network-wide sipconfig.txt and its
// own sipconfig-<MAC>.txt (Alcatel "IP Touch 4008/4018 EE SIP Phone Installation Guide" 8AL90824AAAA
// ed02, §3.3.1). The file format is INI-like UTF-8 ("[section]", "key=value", "#" comments), with the
// keys of the reference file "in line with 3AK_29000_0285_PEZZA_17" for SIP 2.00.81 and 2.00.90.
//
// A MAC address is not a secret, so a per-phone file (it holds the SIP and handset passwords) is only
// handed out to a phone the user paired (or wrote in the config file), from the address it first
// fetched from; every refusal is the same 404, and a source that guesses MACs is banned.
//
// Standards the generated files rely on: RTP payload types of RFC 3551 §6 (preferred_vocoder),
// telephone-events of RFC 4733 (formerly RFC 2833, dtmf_type=0) on a dynamic payload type, and PRACK
// (RFC 3262) turned off.
package provisioning
