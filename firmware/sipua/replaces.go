package sipua

import (
	"strings"

	"github.com/emiago/sipgo/sip"
)

// replaces is a Replaces header (RFC 3891 §6.1): the dialog an INVITE takes over.
type replaces struct {
	callID, toTag, fromTag string
	earlyOnly              bool
}

// parseReplaces reads "call-id;to-tag=a;from-tag=b[;early-only]".
func parseReplaces(v string) (replaces, bool) {
	parts := strings.Split(v, ";")
	r := replaces{callID: strings.TrimSpace(parts[0])}
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "to-tag":
			r.toTag = strings.TrimSpace(val)
		case "from-tag":
			r.fromTag = strings.TrimSpace(val)
		case "early-only":
			r.earlyOnly = true
		}
	}
	return r, r.callID != "" && r.toTag != "" && r.fromTag != ""
}

// tags are the call's local and remote dialog tags.
func (c *call) tags() (local, remote string) {
	switch {
	case c.cs != nil:
		local, _ = c.cs.InviteRequest.From().Params.Get("tag")
		remote, _ = c.cs.InviteResponse.To().Params.Get("tag")
	case c.ss != nil:
		local, _ = c.ss.InviteRequest.To().Params.Get("tag")
		remote, _ = c.ss.InviteRequest.From().Params.Get("tag")
	}
	return local, remote
}

// query runs f on the call's goroutine and waits for it; false when the call ended first.
func (c *call) query(f func()) bool {
	ran := make(chan struct{})
	if !c.post(func() { defer close(ran); f() }) {
		return false
	}
	select {
	case <-ran:
		return true
	case <-c.exited:
		select {
		case <-ran:
			return true
		default:
			return false
		}
	}
}

// onReplacingInvite takes an INVITE with Replaces (RFC 3891): the new call takes over one of our
// established calls, answered at once, and the old one gets BYE. This is how an attended transfer
// reaches its target. The dialog identifiers (Call-ID and both tags) only the parties of that
// call know are what lets such an INVITE in, also straight from the transferee rather than through
// the registrar (RFC 3891 §7).
func (u *UA) onReplacingInvite(req *sip.Request, tx sip.ServerTransaction, value string) {
	rep, ok := parseReplaces(value)
	if !ok {
		tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request (unreadable Replaces)", nil))
		return
	}
	u.mu.Lock()
	old := u.byCallID[rep.callID]
	u.mu.Unlock()
	code, reason := 481, "Call/Transaction Does Not Exist"
	if old != nil {
		old.query(func() {
			local, remote := old.tags()
			switch {
			case local != rep.toTag || remote != rep.fromTag:
			case old.phase != phaseEstablished:
				// RFC 3891 §3: an early dialog we did not start is not ours to replace.
			case rep.earlyOnly:
				code, reason = 486, "Busy Here (the call is answered)"
			default:
				code = 0
			}
		})
	}
	if code != 0 {
		u.log.Info("INVITE with Replaces refused", "replaces", rep.callID, "code", code)
		tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil))
		return
	}
	c, cancelled := u.newIncoming(req, tx)
	if c == nil {
		return
	}
	c.log.Info("call replaces another (attended transfer)", "replaces", old.id)
	u.start(c, func() {
		u.lis.CallReplaced(c.id, old.id, c.peer)
		c.answerWith()
		old.post(func() {
			old.log.Info("call replaced", "by", c.id)
			old.bye()
			old.end("replaced", 0)
		})
	})
	c.holdInvite(cancelled)
}
