package registrar

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/firmware/accounts"
)

// RetrievalCode is dialled from any phone to hear one's own voicemail.
const RetrievalCode = "*97"

// Voicemail takes the calls an account's phones do not answer, the *97 calls and the
// message-summary subscriptions (firmware/voicemail's Server). Its URIs are UDP addresses on
// this machine; the calls are record-routed like any other.
type Voicemail interface {
	NoAnswer(extension string) time.Duration  // ring time before a call goes to the mailbox
	Deposit(extension string) (sip.Uri, bool) // where to leave a message for extension
	Retrieve(user string) (sip.Uri, bool)     // where user hears its own messages
	Summary(user string) (sip.Uri, bool)      // where user's message-summary SUBSCRIBE goes
	IsVoicemail(src string) bool              // the request comes from the voicemail itself
}

// WithVoicemail sends unanswered, busy and do-not-disturb calls to v, and *97 and MWI
// subscriptions too.
func WithVoicemail(v Voicemail) Option { return func(r *Registrar) { r.vm = v } }

// ringTimeout is how long a call to callee rings before it fails or goes to voicemail.
func (r *Registrar) ringTimeout(callee accounts.Account) time.Duration {
	if r.vm != nil {
		if _, ok := r.vm.Deposit(callee.Extension); ok {
			return r.vm.NoAnswer(callee.Extension)
		}
	}
	return r.cfg.RingTimeout
}

// unanswered says why a call whose best final response was best goes to voicemail: busy (486,
// also a phone in do-not-disturb), unavailable (480), declined (603), or no answer at all.
func unanswered(best *sip.Response) (string, bool) {
	if best == nil {
		return "no phone answered", true
	}
	switch best.StatusCode {
	case 486:
		return "busy", true
	case 480:
		return "unavailable", true
	case 603:
		return "declined", true
	}
	return "", false
}

// toVoicemail sends an unanswered INVITE to callee's mailbox; false when callee has none.
func (r *Registrar) toVoicemail(req *sip.Request, tx sip.ServerTransaction, caller, callee accounts.Account, why string) bool {
	if r.vm == nil || !req.IsInvite() {
		return false
	}
	u, ok := r.vm.Deposit(callee.Extension)
	if !ok {
		return false
	}
	r.log.Info("call to voicemail", "caller", caller.Extension, "callee", callee.Extension, "why", why, "call_id", req.CallID().Value())
	r.toEndpoint(req, tx, u, true)
	return true
}

// toEndpoint relays req to the voicemail at u (in the background when async).
func (r *Registrar) toEndpoint(req *sip.Request, tx sip.ServerTransaction, u sip.Uri, async bool) {
	dest := net.JoinHostPort(u.Host, strconv.Itoa(u.Port))
	fwd := r.forwardCopy(req, u, dest, "UDP", req.IsInvite() || req.Method == sip.SUBSCRIBE)
	// A browser's call reaches the voicemail's plain RTP through the media bridge.
	var media dialogMedia
	if req.IsInvite() {
		media = r.dialogMedia(req, fwd)
	}
	if _, browser := media.(webrtcMedia); browser && r.bridgeSDP(fwd, true, true) != nil {
		r.reply(tx, req, 488, "Not Acceptable Here")
		return
	}
	if async {
		r.spawn(func() { r.relay(req, tx, fwd, media) })
		return
	}
	r.relay(req, tx, fwd, media)
}

// onVoicemailRequest takes what belongs to the voicemail: *97 calls, message-summary
// SUBSCRIBEs and the voicemail's own unsolicited NOTIFYs to the phones. false: not for it.
func (r *Registrar) onVoicemailRequest(req *sip.Request, tx sip.ServerTransaction) bool {
	if r.vm == nil || req.To() == nil || req.To().Params.Has("tag") {
		return false
	}
	switch {
	case req.Method == sip.NOTIFY && r.vm.IsVoicemail(req.Source()):
		acct, ok := r.accts.Lookup(req.Recipient.User)
		if !ok {
			r.reply(tx, req, 404, "Not Found")
			return true
		}
		var targets []Binding
		for _, b := range r.loc.get(acct.Username) {
			if b.Reachable && b.Expires.After(r.clock.Now()) {
				targets = append(targets, b)
			}
		}
		r.notifyPhones(req, tx, targets)
		return true
	case req.IsInvite() && req.Recipient.User == RetrievalCode,
		req.Method == sip.SUBSCRIBE && strings.EqualFold(eventPackage(req), "message-summary"):
		caller, ok := r.authorize(req, tx, true)
		if !ok {
			return true
		}
		var u sip.Uri
		if req.IsInvite() {
			u, ok = r.vm.Retrieve(caller.Username)
		} else {
			// Only one's own mailbox: the Request-URI (or To) names it.
			box, found := r.accts.Lookup(req.Recipient.User)
			if !found || box.Extension != caller.Extension {
				r.reply(tx, req, 403, "Forbidden")
				return true
			}
			u, ok = r.vm.Summary(caller.Username)
		}
		if !ok {
			r.reply(tx, req, 404, "Not Found")
			return true
		}
		r.markReceived(req)
		r.log.Info("to voicemail", "method", string(req.Method), "user", caller.Extension, "call_id", req.CallID().Value())
		r.toEndpoint(req, tx, u, false)
		return true
	}
	return false
}

// notifyPhones forwards the voicemail's unsolicited NOTIFY to every reachable phone of the
// account at once and answers 200 if one took it, else 480. It logs nothing above debug: the
// voicemail repeats these every few minutes.
func (r *Registrar) notifyPhones(req *sip.Request, tx sip.ServerTransaction, targets []Binding) {
	ctx, cancel := context.WithTimeout(r.context(), 32*time.Second)
	defer cancel()
	taken := make(chan bool, len(targets))
	for _, b := range targets {
		var target sip.Uri
		if err := sip.ParseUri(b.Contact, &target); err != nil {
			taken <- false
			continue
		}
		fwd := r.forwardCopy(req, target, b.Source, b.Transport, false)
		r.spawn(func() {
			res, err := r.client.Do(ctx, fwd, asBuilt)
			if err != nil {
				r.log.Debug("message-summary NOTIFY not answered", "contact", b.Contact, "err", err)
			}
			taken <- err == nil && res.StatusCode < 300
		})
	}
	for range targets {
		if <-taken {
			r.reply(tx, req, 200, "OK")
			return
		}
	}
	r.reply(tx, req, 480, "Temporarily Unavailable")
}

func eventPackage(req *sip.Request) string {
	h := req.GetHeader("Event")
	if h == nil {
		return ""
	}
	p, _, _ := strings.Cut(h.Value(), ";")
	return strings.TrimSpace(p)
}
