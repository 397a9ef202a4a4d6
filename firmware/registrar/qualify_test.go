package registrar

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// phoneSocket registers user from its own UDP socket; if answer is set it then answers every
// request with 200 OK, like a phone answering OPTIONS.
func phoneSocket(t *testing.T, r *Registrar, user, pass string, answer bool) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	host := r.Addr().String()
	send := func(cseq int, auth string) string {
		msg := fmt.Sprintf("REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKq%d\r\nFrom: <sip:%s@%s>;tag=q\r\nTo: <sip:%s@%s>\r\nCall-ID: q-%s\r\nCSeq: %d REGISTER\r\nContact: <sip:%s@%s>\r\nMax-Forwards: 70\r\n%sContent-Length: 0\r\n\r\n",
			host, c.LocalAddr(), cseq, user, host, user, host, c.LocalAddr(), cseq, user, c.LocalAddr(), auth)
		c.WriteTo([]byte(msg), r.Addr())
		buf := make([]byte, 4096)
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	res := send(1, "")
	nonce := res[strings.Index(res, `nonce="`)+7:]
	nonce = nonce[:strings.IndexByte(nonce, '"')]
	cred := credentials{Username: user, Realm: "deskphone", Nonce: nonce, URI: "sip:" + host, QOP: "auth", NC: "00000001", Cnonce: "c"}
	auth := fmt.Sprintf("Authorization: Digest username=\"%s\", realm=\"deskphone\", nonce=\"%s\", uri=\"sip:%s\", response=\"%s\", qop=auth, nc=00000001, cnonce=\"c\"\r\n",
		user, nonce, host, expectedResponse(cred, ha1(user, "deskphone", pass), "REGISTER"))
	if res := send(2, auth); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("register: %s", res)
	}
	c.SetReadDeadline(time.Time{})
	if answer {
		go func() {
			buf := make([]byte, 4096)
			for {
				n, from, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				m, err := sip.NewParser().ParseSIP(buf[:n])
				if req, ok := m.(*sip.Request); err == nil && ok {
					c.WriteTo([]byte(sip.NewResponseFromRequest(req, 200, "OK", nil).String()), from)
				}
			}
		}()
	}
	return c
}

// A phone that stops answering OPTIONS is marked unreachable and comes back when it answers.
func TestQualifyMarksSilentPhones(t *testing.T) {
	cfg := DefaultConfig()
	cfg.QualifyTimeout = 400 * time.Millisecond
	accts := mapAccounts{
		"alcatel": {Extension: "5001", Username: "alcatel", Password: "alcatel-secret-1"},
		"rpi":     {Extension: "5002", Username: "rpi", Password: "rpi-secret-22"},
	}
	r, _ := startTest(t, cfg, accts)
	phoneSocket(t, r, "alcatel", "alcatel-secret-1", true)
	phoneSocket(t, r, "rpi", "rpi-secret-22", false)

	r.qualifyAll(context.Background())
	got := map[string]bool{}
	for _, b := range r.Bindings() {
		got[b.Extension] = b.Reachable
	}
	if !got["5001"] || got["5002"] {
		t.Fatalf("reachable after qualify: %v; want 5001 reachable, 5002 not", got)
	}
}
