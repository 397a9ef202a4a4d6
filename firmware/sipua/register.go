package sipua

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/deskphone/deskphone/firmware/sipid"
	"github.com/emiago/sipgo/sip"
)

// registerTimeout bounds one REGISTER transaction, so a dead registrar is noticed before Timer F.
const registerTimeout = 8 * time.Second

// registerLoop keeps the phone registered (RFC 3261 §10.2): it refreshes before the expiry the
// registrar granted, and after a failure retries with a doubling backoff (BackoffMin to BackoffMax),
// alternating with the backup registrar when there is one. It never gives up; it returns when ctx
// ends, after removing the binding.
func (u *UA) registerLoop(ctx context.Context) {
	callID := sip.CallIDHeader(sipid.Token(12) + "@" + u.localIP)
	fromTag := sipid.Token(8)
	var cseq uint32
	u.keepRegistered(ctx, func(ctx context.Context, addr string, expires time.Duration) (time.Duration, error) {
		return u.register1(ctx, addr, expires, callID, fromTag, &cseq)
	})
}

// registerFunc makes one REGISTER to addr asking for expires (0 removes the binding) and returns
// the granted expiry.
type registerFunc func(ctx context.Context, addr string, expires time.Duration) (time.Duration, error)

// keepRegistered is registerLoop's schedule, with register making each REGISTER.
func (u *UA) keepRegistered(ctx context.Context, register registerFunc) {
	addrs := []string{u.cfg.Registrar}
	if u.cfg.BackupRegistrar != "" {
		addrs = append(addrs, u.cfg.BackupRegistrar)
	}
	backoff := u.cfg.BackoffMin
	idx := 0
	u.setReg("registering", addrs[0])
	registeredAt := ""
	for {
		addr := addrs[idx]
		if !u.awaitAddress(ctx, addr) {
			break
		}
		u.mu.Lock()
		u.regAddr = addr
		u.mu.Unlock()
		granted, err := register(ctx, addr, u.cfg.Expires)
		if ctx.Err() != nil {
			break
		}
		var wait time.Duration
		if err != nil {
			u.log.Warn("registration failed", "registrar", addr, "err", err, "retry_in", backoff.String())
			u.setReg("failed", err.Error())
			registeredAt = ""
			wait = backoff
			backoff = min(backoff*2, u.cfg.BackoffMax)
			idx = (idx + 1) % len(addrs)
		} else {
			if registeredAt != addr {
				u.log.Info("registered", "registrar", addr, "aor", aorString(u.aor()), "expires", granted.String())
				registeredAt = addr
			}
			u.setReg("registered", addr)
			backoff = u.cfg.BackoffMin
			wait = refreshAfter(granted)
		}
		if u.pause(ctx, wait, addr) {
			// A new address: register the new Contact now.
			registeredAt = ""
			backoff = u.cfg.BackoffMin
		}
		if ctx.Err() != nil {
			break
		}
	}
	if registeredAt != "" {
		uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := register(uctx, registeredAt, 0); err != nil {
			u.log.Debug("unregister", "err", err)
		}
	}
}

// refreshAfter is when to refresh a binding granted for d: well before it lapses.
func refreshAfter(d time.Duration) time.Duration {
	switch {
	case d <= 2*time.Second:
		return d / 2
	case d <= 64*time.Second:
		return d * 3 / 4
	}
	return d - 30*time.Second
}

// register1 makes one REGISTER (answering one digest challenge) and returns the granted expiry.
func (u *UA) register1(ctx context.Context, addr string, expires time.Duration, callID sip.CallIDHeader, fromTag string, cseq *uint32) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("registrar %q: %w", addr, err)
	}
	port, _ := strconv.Atoi(portStr)
	build := func() *sip.Request {
		*cseq++
		req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: host, Port: port})
		from := &sip.FromHeader{DisplayName: u.cfg.DisplayName, Address: u.aor(), Params: sip.NewParams()}
		from.Params.Add("tag", fromTag)
		to := &sip.ToHeader{DisplayName: u.cfg.DisplayName, Address: u.aor()}
		ct := u.contact()
		exp := sip.ExpiresHeader(uint32(expires / time.Second))
		cid := callID
		req.AppendHeader(from)
		req.AppendHeader(to)
		req.AppendHeader(&cid)
		req.AppendHeader(&sip.CSeqHeader{SeqNo: *cseq, MethodName: sip.REGISTER})
		req.AppendHeader(&ct)
		req.AppendHeader(&exp)
		req.AppendHeader(sip.NewHeader("Allow", allowed))
		req.AppendHeader(sip.NewHeader("User-Agent", u.cfg.UserAgent))
		req.SetTransport(u.cfg.Transport)
		req.SetDestination(addr)
		return req
	}
	req := build()
	res, err := u.client.Do(ctx, req)
	if err != nil {
		return 0, noAnswer(addr, err)
	}
	if res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired {
		areq := build()
		if err := u.authorize(areq, res); err != nil {
			return 0, err
		}
		res, err = u.client.Do(ctx, areq)
		if err != nil {
			return 0, fmt.Errorf("no answer from %s: %w", addr, err)
		}
		if res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired {
			return 0, u.refused(addr, res, "after our credentials: it has no such account, or another password for it")
		}
	}
	if res.StatusCode == sip.StatusIntervalToBrief {
		return 0, fmt.Errorf("%s wants a longer registration (%s, Min-Expires %s)", addr, statusText(res), headerValue(res, "Min-Expires"))
	}
	if !res.IsSuccess() {
		return 0, u.refused(addr, res, "")
	}
	if expires == 0 {
		return 0, nil
	}
	return u.granted(res, expires)
}

// granted reads the expiry the registrar gave our contact: its expires parameter, else the Expires
// header, else what we asked (RFC 3261 §10.2.4).
func (u *UA) granted(res *sip.Response, asked time.Duration) (time.Duration, error) {
	ours := u.contact()
	var first string
	found := false
	for _, h := range res.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			continue
		}
		v, has := c.Params.Get("expires")
		if !has {
			continue
		}
		if first == "" {
			first = v
		}
		if c.Address.User == ours.Address.User && c.Address.Port == ours.Address.Port && c.Address.Host == ours.Address.Host {
			first, found = v, true
			break
		}
	}
	_ = found
	if first == "" {
		first = headerValue(res, "Expires")
	}
	if first == "" {
		return asked, nil
	}
	n, err := strconv.Atoi(first)
	if err != nil || n < 0 {
		return 0, errors.New("registrar granted an unreadable expiry " + strconv.Quote(first))
	}
	if n == 0 {
		return 0, errors.New("registrar removed our binding (expires=0)")
	}
	return time.Duration(n) * time.Second, nil
}

func headerValue(m interface{ GetHeader(string) sip.Header }, name string) string {
	if h := m.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

// refused words a registrar's refusal of our REGISTER: which user, in which realm, and the
// registrar's own status and reason (a 404 or 403 is not a wrong password).
func (u *UA) refused(addr string, res *sip.Response, hint string) error {
	who := fmt.Sprintf("user %q", u.cfg.Username)
	if u.cfg.Extension != u.cfg.Username {
		who += fmt.Sprintf(" (for %q)", u.cfg.Extension)
	}
	u.mu.Lock()
	realm := u.cfg.Realm
	if realm == "" {
		realm = u.realm
	}
	u.mu.Unlock()
	if realm != "" {
		who += fmt.Sprintf(" in realm %q", realm)
	}
	if hint != "" {
		hint = " (" + hint + ")"
	}
	return fmt.Errorf("registrar %s refused %s: %s%s", addr, who, statusText(res), hint)
}
