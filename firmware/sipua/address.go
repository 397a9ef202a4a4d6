package sipua

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
)

// The phone's own address can come after the service starts (at boot the DHCP lease is still
// being asked for) and can change (a new lease). While the registrar cannot be reached from any
// address the phone does not register; as soon as an address exists it registers, and when the
// address changes it registers again with the new Contact.

// addressPoll is how often a phone listening on every interface looks at its address.
const addressPoll = time.Second

// address is the phone's current address, shared by the registration and the calls.
type address struct {
	ip  atomic.Pointer[string]
	dua atomic.Pointer[sipgo.DialogUA] // its Contact carries ip
}

// ip is the address peers reach the phone on now (the one it started with until it moved).
func (u *UA) ip() string {
	if p := u.addr.ip.Load(); p != nil {
		return *p
	}
	return u.localIP
}

// dialogs is the dialog user agent whose Contact carries the current address.
func (u *UA) dialogs() *sipgo.DialogUA { return u.addr.dua.Load() }

// setIP makes ip the phone's address for new requests, dialogs and SDP.
func (u *UA) setIP(ip string) {
	u.addr.ip.Store(&ip)
	u.addr.dua.Store(&sipgo.DialogUA{Client: u.client, ContactHDR: u.contact()})
}

// routeToRegistrar is the address the kernel would send from towards the registrar, and whether
// there is such a route at all (the loopback fallback is no route unless the registrar is local).
func (u *UA) routeToRegistrar(registrar string) (string, bool) {
	ip := localIPFor(u.conn.LocalAddr().(*net.UDPAddr).IP, registrar)
	if !net.ParseIP(ip).IsLoopback() {
		return ip, true
	}
	host, _, _ := net.SplitHostPort(registrar)
	h := net.ParseIP(host)
	return ip, host == "localhost" || (h != nil && h.IsLoopback())
}

// followAddress brings the phone's address up to date for registrar; it reports whether the
// registrar can be reached and whether the address changed.
func (u *UA) followAddress(registrar string) (reachable, changed bool) {
	if !u.boundAll {
		return true, false
	}
	ip, ok := u.route(registrar)
	if ok && ip != u.ip() {
		u.log.Info("phone address changed", "from", u.ip(), "to", ip)
		u.setIP(ip)
		changed = true
	}
	return ok, changed
}

// awaitAddress waits until the registrar can be reached from some address (it returns true), or
// until ctx ends (false).
func (u *UA) awaitAddress(ctx context.Context, registrar string) bool {
	if ok, _ := u.followAddress(registrar); ok {
		return true
	}
	u.log.Info("waiting for a network address to register", "registrar", registrar)
	u.setReg("registering", "waiting for a network address")
	t := time.NewTicker(addressPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			if ok, _ := u.followAddress(registrar); ok {
				return true
			}
		}
	}
}

// pause waits d (the refresh or the backoff) and reports true early when the phone's address
// changed meanwhile, so that the registration follows it at once.
func (u *UA) pause(ctx context.Context, d time.Duration, registrar string) (moved bool) {
	var poll <-chan time.Time
	if u.boundAll {
		t := time.NewTicker(addressPoll)
		defer t.Stop()
		poll = t.C
	}
	after := time.NewTimer(d)
	defer after.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-after.C:
			return false
		case <-poll:
			if _, changed := u.followAddress(registrar); changed {
				return true
			}
		}
	}
}
