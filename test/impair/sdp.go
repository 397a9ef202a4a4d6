package impair

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
)

// The lines RewriteSDP and AudioAddr touch.
const (
	connPattern  = `(?m)^c=IN IP[46] [^\r\n]+`
	audioPattern = `(?m)^(m=audio )(\d+)`
	rtcpPattern  = `(?m)^a=rtcp:[^\r\n]*\r?\n`
)

// RewriteSDP returns body with every c= line and the audio port pointing at addr (and any
// a=rtcp line removed, so RTCP goes to the port above), which is how a test puts a Relay face
// between two endpoints.
func RewriteSDP(body []byte, addr netip.AddrPort) []byte {
	typ := "IP4"
	if addr.Addr().Is6() {
		typ = "IP6"
	}
	connLine, audioLine, rtcpLine := regexp.MustCompile(connPattern), regexp.MustCompile(audioPattern), regexp.MustCompile(rtcpPattern)
	out := connLine.ReplaceAll(body, []byte(fmt.Sprintf("c=IN %s %s", typ, addr.Addr())))
	out = audioLine.ReplaceAll(out, []byte("${1}"+strconv.Itoa(int(addr.Port()))))
	return rtcpLine.ReplaceAll(out, nil)
}

// AudioAddr extracts the audio RTP address (first c= line and m=audio port) from an SDP body.
func AudioAddr(body []byte) (netip.AddrPort, error) {
	c := regexp.MustCompile(connPattern).Find(body)
	m := regexp.MustCompile(audioPattern).FindSubmatch(body)
	if c == nil || m == nil {
		return netip.AddrPort{}, fmt.Errorf("impair: no c= or m=audio line")
	}
	f := bytes.Fields(c)
	ip, err := netip.ParseAddr(string(f[len(f)-1]))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("impair: %w", err)
	}
	port, err := strconv.ParseUint(string(m[2]), 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("impair: %w", err)
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}
