package sipua

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// transferWait is how long the transferor waits for the final NOTIFY before keeping the call.
const transferWait = 32 * time.Second

// transfer is a REFER of ours the far end accepted: we wait for its final NOTIFY.
type transfer struct {
	to   string
	stop func() bool // stops the transferWait timer
}

// Transfer hands the call to another number (blind transfer, RFC 5589 §6): REFER, then BYE once
// the far end reports (NOTIFY, message/sipfrag) that the new call was answered. A refusal (of the
// REFER or in the NOTIFY) keeps the call and is reported with TransferFailed.
func (u *UA) Transfer(id, to string) {
	u.do(id, func(c *call) {
		uri, _, err := u.targetURI(to)
		if err != nil {
			c.transferFailed(err.Error())
			return
		}
		// The far end sends its INVITE wherever Refer-To says: name the registrar's port too.
		if reg := u.registrarAddr(); reg != "" && uri.Port == 0 {
			if h, p, err := net.SplitHostPort(reg); err == nil && h == uri.Host {
				uri.Port, _ = strconv.Atoi(p)
			}
		}
		c.request(func() { c.refer("<" + uri.String() + ">") })
	})
}

// refer sends REFER with referTo (a name-addr) and waits for the NOTIFYs, which may come before
// the REFER's 202 (RFC 3515 §2.4.4).
func (c *call) refer(referTo string) {
	req := c.newRequest(sip.REFER)
	req.AppendHeader(sip.NewHeader("Refer-To", referTo))
	req.AppendHeader(sip.NewHeader("Referred-By", "<"+aorString(c.u.aor())+">"))
	t := &transfer{to: referTo}
	t.stop = c.after(transferWait, func() {
		if c.transfer == t {
			c.transfer = nil
			c.transferFailed("no result from the far end within " + transferWait.String())
		}
	})
	c.transfer = t
	c.transact(req, func(res *sip.Response, err error) {
		if c.transfer != t {
			return // a NOTIFY already settled it
		}
		switch {
		case err != nil:
			c.transferFailed("the far end did not answer the REFER: " + err.Error())
		case !res.IsSuccess():
			c.transferFailed("refused by the far end (" + statusText(res) + ")")
		default:
			c.log.Info("transfer accepted", "refer_to", referTo)
			return
		}
		t.stop()
		c.transfer = nil
	})
}

// transferFailed logs and reports a transfer that did not happen; the call goes on.
func (c *call) transferFailed(detail string) {
	c.log.Warn("transfer failed; keeping the call", "detail", detail)
	c.u.lis.TransferFailed(c.id, detail)
}

// onNotify takes the progress reports of a transfer we asked for (RFC 3515 §2.4.5).
func (u *UA) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	c := u.bySIP(req)
	if c == nil {
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	c.serve(req, tx, func() {
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		if !strings.HasPrefix(strings.ToLower(headerValue(req, "Event")), "refer") || c.transfer == nil {
			return
		}
		code, status := sipfragStatus(req.Body())
		switch {
		case code < 200:
			return
		case code >= 300:
			c.transfer.stop()
			c.transfer = nil
			c.transferFailed("refused by the far end (" + status + ")")
		default:
			c.transfer.stop()
			c.transfer = nil
			c.log.Info("transfer done")
			c.bye()
			c.end("transferred", 0)
		}
	})
}

// sipfragStatus reads "SIP/2.0 200 OK" from a message/sipfrag body (RFC 3420): the code and
// "200 OK".
func sipfragStatus(body []byte) (int, string) {
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(f[0], "SIP/") {
		return 0, ""
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 100 || n > 699 {
		return 0, ""
	}
	return n, strings.Join(f[1:], " ")
}

// onRefer accepts a transfer from the far end (RFC 3515): 202, a NOTIFY "100 Trying", and the
// phone places the new call; referDone reports its result.
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
	to := sip.Uri{Scheme: "sip", User: target.User, Host: target.Host, Port: target.Port}
	c.serve(req, tx, func() {
		if c.phase != phaseEstablished {
			tx.Respond(sip.NewResponseFromRequest(req, 491, "Request Pending", nil))
			return
		}
		if err := tx.Respond(sip.NewResponseFromRequest(req, 202, "Accepted", nil)); err != nil {
			return
		}
		c.log.Info("far end transfers us", "to", to.String())
		c.request(func() { c.notifyRefer(100, "Trying", false, nil) })
		c.u.lis.CallReferred(c.id, to.String())
	})
}

// referDone reports the result of the call made for a REFER to the call that asked for it, then
// hangs that one up.
func (u *UA) referDone(oldID string, code int) {
	reason := "OK"
	if code >= 300 {
		reason = reasonOf(code)
	}
	u.do(oldID, func(old *call) {
		old.request(func() {
			old.notifyRefer(code, reason, true, func() {
				old.bye()
				old.end("transferred", 0)
			})
		})
	})
}

// notifyRefer sends a NOTIFY with the sipfrag of the referred call's status, then runs then.
func (c *call) notifyRefer(code int, reason string, final bool, then func()) {
	req := c.newRequest(sip.NOTIFY)
	req.AppendHeader(sip.NewHeader("Event", "refer"))
	if final {
		req.AppendHeader(sip.NewHeader("Subscription-State", "terminated;reason=noresource"))
	} else {
		req.AppendHeader(sip.NewHeader("Subscription-State", "active;expires=60"))
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	req.SetBody([]byte("SIP/2.0 " + strconv.Itoa(code) + " " + reason + "\r\n"))
	c.transact(req, func(res *sip.Response, err error) {
		if err != nil {
			c.log.Debug("NOTIFY", "err", err)
		} else if !res.IsSuccess() {
			c.log.Debug("NOTIFY refused", "response", statusText(res))
		}
		if then != nil {
			then()
		}
	})
}
