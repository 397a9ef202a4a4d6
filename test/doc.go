// Package e2e holds the end-to-end tests: they build the deskphone binary, run it from a config
// file on loopback ports, and talk to it with real SIP peers (SIPp, baresip, linphone, Kamailio)
// and, for the web pages, headless Chromium.
package e2e
