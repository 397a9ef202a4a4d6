package config

// Web is the HTTP API (and later the web page).
type Web struct {
	Listen string `toml:"listen"` // "0.0.0.0:80"
	// Token is required from hosts other than loopback (Authorization: Bearer <token>).
	// Empty: generated on first start and stored in data_dir.
	Token string `toml:"token"`
}

func defaultWeb() Web { return Web{Listen: "0.0.0.0:80"} }

func (w Web) validate(c *checker) {
	c.listen("web.listen", w.Listen, true)
	if w.Token != "" && (len(w.Token) < 16 || hasControl(w.Token)) {
		c.bad("web.token", "must be at least 16 printable characters (or empty to generate one)")
	}
}
