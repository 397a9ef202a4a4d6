package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// webEnv is a running phone seen from a browser's side: the HTTPS base URL, a client trusting
// the CA fetched from /ca.crt (and nothing else), the page password from the console log.
type webEnv struct {
	*phoneEnv
	Base        string // https://127.0.0.1:port
	Plain       string // http://127.0.0.1:port
	CAPEM       []byte
	Fingerprint string
	Password    string
	Token       string
}

func startWeb(t *testing.T, o phoneOptions) *webEnv {
	t.Helper()
	e := &webEnv{phoneEnv: startPhone(t, o)}
	e.Plain = fmt.Sprintf("http://127.0.0.1:%d", e.WebPort)
	st := e.status(t)
	w, _ := st["web"].(map[string]any)
	e.Base, _ = w["url"].(string)
	e.Fingerprint, _ = w["ca_fingerprint_sha256"].(string)
	if !strings.HasPrefix(e.Base, "https://127.0.0.1:") || len(e.Fingerprint) != 95 {
		t.Fatalf("status has no HTTPS address or fingerprint: %v", w)
	}
	res, err := http.Get(e.Plain + "/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	e.CAPEM, _ = io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`msg="web password" user=admin password=(\S+)`).FindStringSubmatch(e.Logs())
	if m == nil {
		t.Fatalf("the console does not print the web password")
	}
	e.Password = m[1]
	tok, err := os.ReadFile(filepath.Join(e.DataDir, "web-token"))
	if err != nil {
		t.Fatal(err)
	}
	e.Token = strings.TrimSpace(string(tok))
	return e
}

// client trusts only the Pi's CA, keeps cookies, does not follow redirects, and connects from
// the loopback address src (127.0.0.1 when empty) so tests can play different LAN hosts.
func (e *webEnv) client(t *testing.T, src string) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(e.CAPEM) {
		t.Fatal("ca.crt is not a PEM certificate")
	}
	if src == "" {
		src = "127.0.0.1"
	}
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	jar := &cookieJar{}
	return &http.Client{
		Timeout:       10 * time.Second,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{DialContext: d.DialContext, TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
}

// cookieJar is a one-host jar (net/http/cookiejar refuses nothing we need to test here).
type cookieJar struct{ cookies []*http.Cookie }

func (j *cookieJar) SetCookies(u *url.URL, cs []*http.Cookie) { j.cookies = append(j.cookies, cs...) }
func (j *cookieJar) Cookies(u *url.URL) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range j.cookies {
		if c.MaxAge >= 0 && c.Value != "" {
			out = append(out, c)
		}
	}
	return out
}

// do sends one request and returns the status and body.
func do(t *testing.T, c *http.Client, method, u, body string, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
