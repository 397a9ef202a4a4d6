package sipua

import (
	"net"
	"net/url"
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

// AttendedTransfer hands the call id to the far end of the call with (attended transfer, RFC 5589
// §7): REFER to id's far end naming with's far end and, in Replaces (RFC 3891), the dialog it
// is to take over; with's far end then hangs that call up itself. Results as for Transfer.
func (u *UA) AttendedTransfer(id, with string) {
	c, w := u.get(id), u.get(with)
	switch {
	case c == nil:
		return
	case w == nil:
		c.post(func() { c.transferFailed("no call " + with + " to transfer to") })
		return
	}
	// Read with's dialog on its goroutine, then hand the REFER to id's: no call waits for another.
	w.post(func() {
		referTo, err := w.replacingURI()
		c.post(func() {
			if err != "" {
				c.transferFailed(err)
				return
			}
			c.request(func() { c.refer(referTo) })
		})
	})
}

// replacingURI is the Refer-To that makes the transferee call this call's far end and replace
// this call: "<sip:aor?Replaces=call-id%3Bto-tag%3D…%3Bfrom-tag%3D…>", or a reason why not.
func (c *call) replacingURI() (string, string) {
	if c.phase != phaseEstablished {
		return "", "the call to transfer to is not answered"
	}
	var aor sip.Uri
	if c.cs != nil {
		aor = c.cs.InviteRequest.Recipient
	} else {
		aor = c.ss.InviteRequest.From().Address
	}
	target := sip.Uri{Scheme: "sip", User: aor.User, Host: aor.Host, Port: aor.Port}
	if reg := c.u.registrarAddr(); reg != "" && target.Port == 0 {
		if h, p, err := net.SplitHostPort(reg); err == nil && h == target.Host {
			target.Port, _ = strconv.Atoi(p)
		}
	}
	local, remote := c.tags()
	rep := c.sipCallID + ";to-tag=" + remote + ";from-tag=" + local
	return "<" + target.String() + "?Replaces=" + url.QueryEscape(rep) + ">", ""
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
	c := u.callOf(req, tx)
	if c == nil {
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
	c := u.callOf(req, tx)
	if c == nil {
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
	to := sip.Uri{Scheme: "sip", User: target.User, Host: target.Host, Port: target.Port}
	referTo := to.String()
	if target.Headers != nil {
		// Attended transfer (RFC 5589 §7): the new call replaces one the target has with the
		// transferor; the phone dials this URI and the INVITE carries the Replaces header.
		if v, ok := target.Headers.Get("Replaces"); ok {
			rep, err := url.QueryUnescape(v)
			if _, ok := parseReplaces(rep); err != nil || !ok {
				tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request (unreadable Replaces in Refer-To)", nil))
				return
			}
			referTo += "?Replaces=" + url.QueryEscape(rep)
		}
	}
	c.serve(req, tx, func() {
		if c.phase != phaseEstablished {
			tx.Respond(sip.NewResponseFromRequest(req, 491, "Request Pending", nil))
			return
		}
		if err := tx.Respond(sip.NewResponseFromRequest(req, 202, "Accepted", nil)); err != nil {
			return
		}
		c.log.Info("far end transfers us", "refer_to", referTo)
		c.request(func() { c.notifyRefer(100, "Trying", false, nil) })
		c.u.lis.CallReferred(c.id, referTo)
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
