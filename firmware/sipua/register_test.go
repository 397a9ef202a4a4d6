package sipua

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// fakeRegistrar answers each REGISTER it gets on a loopback UDP socket with answer's response.
func fakeRegistrar(t *testing.T, answer func(n int, req *sip.Request) *sip.Response) string {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { conn.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 8192)
		for n := 1; ; n++ {
			k, src, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			msg, err := sip.ParseMessage(buf[:k])
			if err != nil {
				continue
			}
			if req, ok := msg.(*sip.Request); ok && req.Method == sip.REGISTER {
				conn.WriteToUDP([]byte(answer(n, req).String()), src)
			}
		}
	}()
	return conn.LocalAddr().String()
}

// registerWith runs a user agent named user against registrar and returns its first
// registration failure.
func registerWith(t *testing.T, user, registrar string) string {
	t.Helper()
	ev := newEvents()
	runUA(t, Config{Listen: "127.0.0.1:0", Extension: user, Password: "pw", Registrar: registrar,
		BackoffMin: time.Hour, NewMedia: func(string) (MediaSession, error) { return nil, errors.New("no media") }}, ev)
	return strings.TrimPrefix(ev.want(t, "reg failed "), "reg failed ")
}

// A refused registration says which user and realm were refused and what the registrar answered:
// a registrar that does not know the endpoint (404) is not "a wrong password", and one that
// challenges again after our credentials (as Asterisk does for unknown endpoints) is told apart
// by its status. A non-digit user part (Asterisk's "rpi") goes out as it is.
func TestRegistrationRefusalSaysWhat(t *testing.T) {
	challenge := func(req *sip.Request) *sip.Response {
		res := sip.NewResponseFromRequest(req, 401, "Unauthorized", nil)
		res.AppendHeader(sip.NewHeader("WWW-Authenticate", `Digest realm="asterisk", nonce="n1", algorithm=MD5`))
		return res
	}
	users := make(chan string, 10)
	unknown := fakeRegistrar(t, func(n int, req *sip.Request) *sip.Response {
		users <- req.From().Address.User
		return sip.NewResponseFromRequest(req, 404, "Not Found", nil)
	})
	got := registerWith(t, "rpi", unknown)
	if !strings.Contains(got, `refused user "rpi"`) || !strings.Contains(got, "404 Not Found") || strings.Contains(got, "password") {
		t.Errorf("404 reported as %q", got)
	}
	if user := <-users; user != "rpi" {
		t.Errorf("REGISTER from user %q, want rpi", user)
	}

	again := fakeRegistrar(t, func(n int, req *sip.Request) *sip.Response { return challenge(req) })
	got = registerWith(t, "rpi", again)
	for _, want := range []string{`user "rpi"`, `realm "asterisk"`, "401 Unauthorized", "no such account, or another password"} {
		if !strings.Contains(got, want) {
			t.Errorf("second 401 reported as %q: no %q", got, want)
		}
	}

	forbidden := fakeRegistrar(t, func(n int, req *sip.Request) *sip.Response {
		if n == 1 {
			return challenge(req)
		}
		return sip.NewResponseFromRequest(req, 403, "Forbidden (endpoint disabled)", nil)
	})
	got = registerWith(t, "rpi", forbidden)
	if !strings.Contains(got, `realm "asterisk": 403 Forbidden (endpoint disabled)`) {
		t.Errorf("403 after credentials reported as %q", got)
	}
}
