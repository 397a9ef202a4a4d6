package sipua

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// transferWait is how long the transferor waits for the final NOTIFY before keeping the call.
const transferWait = 32 * time.Second

// Transfer hands the call to another number (blind transfer, RFC 5589 §6): REFER, then BYE once the
// far end reports (NOTIFY, message/sipfrag) that the new call was answered.
func (u *UA) Transfer(id, to string) {
	c := u.get(id)
	if c == nil {
		return
	}
	u.spawn(func() {
		uri, _, err := u.targetURI(to)
		if err != nil {
			u.log.Warn("transfer", "id", id, "err", err)
			return
		}
		// The far end sends its INVITE wherever Refer-To says: name the registrar's port too.
		if reg := u.registrarAddr(); reg != "" && uri.Port == 0 {
			if h, p, err := net.SplitHostPort(reg); err == nil && h == uri.Host {
				uri.Port, _ = strconv.Atoi(p)
			}
		}
		if !c.waitEstablished(u.ctx) {
			return
		}
		c.mu.Lock()
		d := c.dialog()
		if d == nil {
			c.mu.Unlock()
			return
		}
		c.notify = make(chan int, 8)
		notify := c.notify
		req := sip.NewRequest(sip.REFER, c.remoteTarget())
		req.AppendHeader(sip.NewHeader("Refer-To", "<"+uri.String()+">"))
		req.AppendHeader(sip.NewHeader("Referred-By", "<"+aorString(u.aor())+">"))
		ctx, cancel := context.WithTimeout(u.ctx, 10*time.Second)
		res, err := d.Do(ctx, req)
		cancel()
		c.mu.Unlock()
		if err != nil || !res.IsSuccess() {
			if err == nil {
				u.log.Warn("transfer refused", "id", id, "response", statusText(res))
			} else {
				u.log.Warn("transfer failed", "id", id, "err", err)
			}
			return
		}
		u.log.Info("transfer accepted", "id", id, "to", uri.String())
		t := time.NewTimer(transferWait)
		defer t.Stop()
		for {
			select {
			case code := <-notify:
				if code < 200 {
					continue
				}
				if code >= 300 {
					u.log.Warn("transfer target did not answer; keeping the call", "id", id, "code", code)
					return
				}
				u.bye(c)
				u.endCall(c, "transferred", 0)
				return
			case <-c.done:
				return
			case <-t.C:
				u.log.Warn("no transfer result; keeping the call", "id", id)
				return
			case <-u.ctx.Done():
				return
			}
		}
	})
}

// onNotify takes the progress reports of a transfer we asked for (RFC 3515 §2.4.5).
func (u *UA) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	c := u.bySIP(req)
	if c == nil {
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	if !strings.HasPrefix(strings.ToLower(headerValue(req, "Event")), "refer") {
		return
	}
	code := sipfragStatus(req.Body())
	c.mu.Lock()
	ch := c.notify
	c.mu.Unlock()
	if ch != nil && code > 0 {
		select {
		case ch <- code:
		default:
		}
	}
}

// sipfragStatus reads "SIP/2.0 200 OK" from a message/sipfrag body (RFC 3420).
func sipfragStatus(body []byte) int {
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(f[0], "SIP/") {
		return 0
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 100 || n > 699 {
		return 0
	}
	return n
}

// onRefer accepts a blind transfer from the far end (RFC 3515): 202, a NOTIFY "100 Trying", and
// the phone places the new call; referDone reports its result.
func (u *UA) onRefer(req *sip.Request, tx sip.ServerTransaction) {
	c := u.bySIP(req)
	if c == nil {
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	h := req.GetHeader("Refer-To")
	var target sip.Uri
	params := sip.NewParams()
	if h == nil {
		tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request (no Refer-To)", nil))
		return
	}
	if _, err := sip.ParseAddressValue(h.Value(), &target, &params); err != nil || target.Host == "" {
		tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request (unreadable Refer-To)", nil))
		return
	}
	if target.Headers != nil && target.Headers.Has("Replaces") {
		tx.Respond(sip.NewResponseFromRequest(req, 501, "Not Implemented (attended transfer)", nil))
		return
	}
	c.mu.Lock()
	answered := c.answered
	c.mu.Unlock()
	if !answered {
		tx.Respond(sip.NewResponseFromRequest(req, 491, "Request Pending", nil))
		return
	}
	if err := tx.Respond(sip.NewResponseFromRequest(req, 202, "Accepted", nil)); err != nil {
		return
	}
	to := sip.Uri{Scheme: "sip", User: target.User, Host: target.Host, Port: target.Port}
	u.log.Info("far end transfers us", "id", c.id, "to", to.String())
	u.spawn(func() { u.notifyRefer(c, 100, "Trying", false) })
	u.lis.CallReferred(c.id, to.String())
}

// referDone reports the result of the call made for a REFER, then hangs up the referring call.
func (u *UA) referDone(oldID string, code int) {
	old := u.get(oldID)
	if old == nil {
		return
	}
	reason := "OK"
	if code >= 300 {
		reason = reasonOf(code)
	}
	u.notifyRefer(old, code, reason, true)
	u.bye(old)
	u.endCall(old, "transferred", 0)
}

func (u *UA) notifyRefer(c *call, code int, reason string, final bool) {
	if !c.waitEstablished(u.ctx) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.dialog()
	if d == nil {
		return
	}
	req := sip.NewRequest(sip.NOTIFY, c.remoteTarget())
	req.AppendHeader(sip.NewHeader("Event", "refer"))
	if final {
		req.AppendHeader(sip.NewHeader("Subscription-State", "terminated;reason=noresource"))
	} else {
		req.AppendHeader(sip.NewHeader("Subscription-State", "active;expires=60"))
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	req.SetBody([]byte("SIP/2.0 " + strconv.Itoa(code) + " " + reason + "\r\n"))
	ctx, cancel := context.WithTimeout(u.ctx, 5*time.Second)
	defer cancel()
	if res, err := d.Do(ctx, req); err != nil {
		u.log.Debug("NOTIFY", "id", c.id, "err", err)
	} else if !res.IsSuccess() {
		u.log.Debug("NOTIFY refused", "id", c.id, "response", statusText(res))
	}
}
