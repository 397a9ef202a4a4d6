package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// Network is applied by the image's init scripts (the service only reports it).
type Network struct {
	Mode     string   `toml:"mode"`    // dhcp | static
	Address  string   `toml:"address"` // static: "192.168.1.82/24"
	Gateway  string   `toml:"gateway"`
	DNS      []string `toml:"dns"`
	NTP      []string `toml:"ntp"`
	WifiSSID string   `toml:"wifi_ssid"`
	WifiPSK  string   `toml:"wifi_psk"`
}

func defaultNetwork() Network { return Network{Mode: "dhcp"} }

func (n Network) validate(c *checker) {
	switch n.Mode {
	case "dhcp":
	case "static":
		if _, err := netip.ParsePrefix(n.Address); err != nil {
			c.bad("network.address", "static mode needs an address with prefix such as \"192.168.1.82/24\"")
		}
	default:
		c.bad("network.mode", "must be dhcp or static (got %q)", n.Mode)
	}
	for i, d := range n.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			c.bad(fmt.Sprintf("network.dns.%d", i), "%q is not an IP address", d)
		}
	}
	if hasControl(n.WifiSSID) || hasControl(n.WifiPSK) || strings.ContainsAny(n.WifiSSID+n.WifiPSK, `"\`) {
		c.bad("network.wifi_ssid", "Wi-Fi name and key must not contain quotes, backslashes or control characters")
	}
	if n.WifiPSK != "" && (len(n.WifiPSK) < 8 || len(n.WifiPSK) > 63) {
		c.bad("network.wifi_psk", "a WPA key has 8-63 characters")
	}
}
