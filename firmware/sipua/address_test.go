package sipua

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// At boot the phone starts before it has an address: it must not register (nor back off) until
// one exists, then register at once, and register again with the new Contact when the address
// changes (a new DHCP lease).
func TestRegistrationFollowsTheAddress(t *testing.T) {
	reg, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	contacts := make(chan string, 10)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, src, err := reg.ReadFromUDP(buf)
			if err != nil {
				return
			}
			msg, err := sip.ParseMessage(buf[:n])
			if err != nil {
				continue
			}
			req := msg.(*sip.Request)
			contacts <- req.Contact().Address.Host
			res := sip.NewResponseFromRequest(req, 200, "OK", nil)
			res.AppendHeader(sip.NewHeader("Expires", "3600"))
			reg.WriteToUDP([]byte(res.String()), src)
		}
	}()

	var route atomic.Pointer[string] // nil: no route to the registrar yet
	ev := newEvents()
	u, err := New(Config{Listen: "0.0.0.0:0", Extension: "5002", Password: "pw", Registrar: reg.LocalAddr().String(),
		NewMedia: func(string) (MediaSession, error) { return nil, errors.New("no media") }}, ev, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	u.route = func(string) (string, bool) {
		if ip := route.Load(); ip != nil {
			return *ip, true
		}
		return "127.0.0.1", false
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { u.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	select {
	case c := <-contacts:
		t.Fatalf("registered (Contact %s) without an address", c)
	case <-time.After(1500 * time.Millisecond):
	}
	first := "127.0.0.1"
	route.Store(&first)
	wantContact := func(host string) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case c := <-contacts:
				if c == host {
					return
				}
			case <-deadline:
				t.Fatalf("no REGISTER with Contact host %s", host)
			}
		}
	}
	wantContact(first)
	ev.want(t, "reg registered")
	moved := "127.0.0.2"
	route.Store(&moved)
	wantContact(moved)
	if host, _, _ := net.SplitHostPort(u.Addr()); host != moved {
		t.Fatalf("the phone's address is %s after the move to %s", u.Addr(), moved)
	}
}
