// Package lanaddr answers the two address questions every part of the phone asks: which of this
// machine's addresses reaches a given peer (for SDP, Via and Record-Route), and which addresses
// the machine has on its LAN (for the console, the status page and the Alcatel's files).
package lanaddr

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// testNet is TEST-NET-1 (RFC 5737): asking for a route there picks the default route's address.
const testNet = "192.0.2.1:9"

// Toward returns the local address the kernel would use to send to hostport ("host:port"; a
// host name is resolved). No packet is sent: connecting a UDP socket only picks a route.
func Toward(hostport string) (netip.Addr, error) {
	c, err := net.Dial("udp", hostport)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("no route from this machine to %s: %w", hostport, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// Default returns the address of the default route: the one a LAN peer most likely reaches.
func Default() (netip.Addr, error) { return Toward(testNet) }

// Own lists the machine's addresses on interfaces that are up, IPv4 first, leaving out loopback,
// link-local addresses and container bridges (docker*, veth*), which no phone on the LAN reaches.
func Own() ([]netip.Addr, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list network interfaces: %w", err)
	}
	var v4, v6 []netip.Addr
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 ||
			strings.HasPrefix(ifc.Name, "docker") || strings.HasPrefix(ifc.Name, "veth") {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(n.IP)
			if !ok {
				continue
			}
			switch ip = ip.Unmap(); {
			case ip.IsLoopback(), ip.IsLinkLocalUnicast():
			case ip.Is4():
				v4 = append(v4, ip)
			default:
				v6 = append(v6, ip)
			}
		}
	}
	return append(v4, v6...), nil
}

// All lists every address of the machine, loopback included: what "this host" means when a SIP
// URI names one of them.
func All() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list network addresses: %w", err)
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out, nil
}

// Strings formats addrs for logs and JSON.
func Strings(addrs []netip.Addr) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

// OwnIPv4 is Own without the IPv6 addresses: what an Alcatel IP Touch, which speaks IPv4 only, and
// a console line telling a user where to point a phone can use.
func OwnIPv4() ([]netip.Addr, error) {
	addrs, err := Own()
	v4 := addrs[:0]
	for _, a := range addrs {
		if a.Is4() {
			v4 = append(v4, a)
		}
	}
	return v4, err
}
