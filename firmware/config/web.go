package config

import "strings"

// Web is the web pages and the HTTP API.
type Web struct {
	Listen      string   `toml:"listen"`       // "0.0.0.0:80": phones' files, /ca.crt, redirect to HTTPS
	HTTPSListen string   `toml:"https_listen"` // "0.0.0.0:443": pages and API
	Names       []string `toml:"names"`        // extra host names the Pi answers to (DNS rebinding allow-list)
	// Token is required from hosts other than loopback (Authorization: Bearer <token>).
	// Empty: generated on first start and stored in data_dir.
	Token string `toml:"token"`
}

func defaultWeb() Web { return Web{Listen: "0.0.0.0:80", HTTPSListen: "0.0.0.0:443"} }

func (w Web) validate(c *checker) {
	c.listen("web.listen", w.Listen, true)
	c.listen("web.https_listen", w.HTTPSListen, false)
	if w.HTTPSListen != "" && samePort(w.Listen, w.HTTPSListen) {
		c.bad("web.https_listen", "must not use the port of web.listen")
	}
	for _, n := range w.Names {
		if n == "" || strings.ContainsAny(n, " /:@[]") || hasControl(n) {
			c.bad("web.names", "%q is not a host name", n)
		}
	}
	if w.Token != "" && (len(w.Token) < 16 || hasControl(w.Token)) {
		c.bad("web.token", "must be at least 16 printable characters (or empty to generate one)")
	}
}
