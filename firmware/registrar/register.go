package registrar

import (
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/firmware/accounts"
	"github.com/deskphone/deskphone/firmware/sipcheck"
)

// onRegister is RFC 3261 §10.3, for REGISTERs sipgo hands over (TCP, TLS, WebSocket).
func (r *Registrar) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	r.register(req, tx, false)
}

// register is RFC 3261 §10.3. The 200 OK is sent once the bindings are on disk: register waits
// for it, unless async is set (the UDP fast path, stateless.go, whose workers must not wait for
// a disk write), then the store's writer sends it. A refresh the disk holds already, near
// enough, is answered at once (location.coverLocked).
func (r *Registrar) register(req *sip.Request, tx responder, async bool) {
	if !r.ownsHost(req.Recipient.Host) {
		r.answer(tx, req, 403, "Forbidden")
		return
	}
	acct, auth := r.authorizeOrAgain(req, tx, false, true)
	if auth != authOK && auth != authAgain {
		return
	}
	aorUser := req.To().Address.User
	target, known := r.accts.Lookup(aorUser)
	if !known || target.Username != acct.Username || !r.ownsHost(req.To().Address.Host) {
		r.log.Warn("registration refused: credentials belong to another account", "auth_user", acct.Username, "aor", aorUser, "src", req.Source())
		r.answer(tx, req, 403, "Forbidden")
		return
	}

	u, status, reason, extra := r.parseRegister(req)
	if status != 0 {
		r.answer(tx, req, status, reason, extra...)
		return
	}
	now := r.clock.Now()
	var outcome registerOutcome
	var after []Binding
	var before []Binding
	var version uint64
	var changed, covered bool
	if auth == authAgain {
		// A retransmission of a REGISTER already accepted, whose answer the UDP fast path no
		// longer keeps (stateless.go): applied again it would fail as out of order (RFC 3261
		// §10.3 step 7), so it is answered as its transaction would have been, with the
		// bindings as they are, once they are on disk.
		after, version = r.loc.getAt(acct.Username)
		after = slices.DeleteFunc(after, func(b Binding) bool { return !b.Expires.After(now) })
	} else {
		version, changed = r.loc.update(acct.Username, func(cur []Binding) ([]Binding, bool) {
			before = cur
			next, ch, oc := applyRegister(replaceInstances(cur, u), u, acct.Username, acct.Extension, r.cfg.MaxContacts, now)
			covered = oc == registerOK && r.loc.coverLocked(acct.Username, next, now, r.cfg.MinExpires)
			outcome, after = oc, next
			return next, ch
		})
	}
	if outcome == registerOutOfOrder {
		r.answer(tx, req, 400, "Out Of Order CSeq")
		return
	}
	// A refresh is saved too: lost, it could let the binding lapse before the phone's next one.
	saved := func(err error) {
		if err != nil {
			r.log.Error("binding kept in memory only", "aor", acct.Username, "err", err)
		}
		if changed && r.log.Enabled(r.context(), slog.LevelInfo) {
			r.logBindingChange(acct, before, after, req)
		}
		r.streamConns(req.Transport()).registered(req.Source(), lifetimeFrom(after, req.Source(), now))
		hdrs := make([]sip.Header, 0, len(after)+1)
		for _, b := range after {
			secs := int(b.Expires.Sub(now).Round(time.Second) / time.Second)
			hdrs = append(hdrs, sip.NewHeader("Contact", "<"+b.Contact+">;expires="+strconv.Itoa(secs)))
		}
		hdrs = append(hdrs, sip.NewHeader("Date", now.UTC().Format(time.RFC1123)))
		r.answer(tx, req, 200, "OK", hdrs...)
	}
	if covered {
		// A refresh whose bindings the disk holds already, with the expiries it was granted
		// (location.coverLocked): answered now, its record written with the next write or
		// within refreshDelay.
		r.store.saveLater()
		saved(nil)
		return
	}
	if async {
		r.store.afterSave(version, func(err error) {
			defer r.recoverRequest(req, tx)
			saved(err)
		})
		return
	}
	saved(r.store.saveNow(r.context(), version))
}

func (r *Registrar) logBindingChange(acct accounts.Account, before, after []Binding, req *sip.Request) {
	had := map[string]bool{}
	for _, b := range before {
		had[contactKey(b.Contact)] = true
	}
	has := map[string]bool{}
	for _, b := range after {
		has[contactKey(b.Contact)] = true
		if !had[contactKey(b.Contact)] {
			r.log.Info("phone registered", "aor", acct.Username, "extension", acct.Extension, "contact", b.Contact,
				"src", b.Source, "transport", b.Transport, "expires_in", b.Expires.Sub(r.clock.Now()).Round(time.Second).String(), "user_agent", b.UserAgent)
		}
	}
	for _, b := range before {
		if !has[contactKey(b.Contact)] {
			r.log.Info("phone unregistered", "aor", acct.Username, "extension", acct.Extension, "contact", b.Contact, "src", req.Source())
		}
	}
}

// parseRegister turns the REGISTER's Contact and Expires headers into an update, or a status to
// refuse it with (400 for a bad wildcard, 423 with Min-Expires for a too short expiry).
func (r *Registrar) parseRegister(req *sip.Request) (registerUpdate, int, string, []sip.Header) {
	u := registerUpdate{
		CallID:    req.CallID().Value(),
		CSeq:      req.CSeq().SeqNo,
		Source:    req.Source(),
		Transport: strings.ToUpper(req.Transport()),
	}
	if h := sipcheck.Header(req.Headers(), "User-Agent"); h != nil {
		u.UserAgent = h.Value()
		if len(u.UserAgent) > 128 {
			u.UserAgent = u.UserAgent[:128]
		}
	}
	headerExpires := -1
	if h := sipcheck.Header(req.Headers(), "Expires"); h != nil {
		v, _ := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32) // sipcheck verified it
		headerExpires = int(min(v, 1<<31-1))
	}
	contacts := slices.Collect(sipcheck.Headers(req.Headers(), "Contact"))
	const maxPerRequest = 16
	if len(contacts) > maxPerRequest {
		return u, 400, "Too Many Contacts", nil
	}
	for _, h := range contacts {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			return u, 400, "Bad Contact", nil
		}
		if c.Address.Wildcard {
			if len(contacts) != 1 || headerExpires != 0 {
				return u, 400, "Bad Wildcard Contact", nil // RFC 3261 §10.3 step 6
			}
			u.Wildcard = true
			return u, 0, "", nil
		}
		scheme := strings.ToLower(c.Address.Scheme)
		if scheme != "sip" && scheme != "sips" || c.Address.Host == "" {
			return u, 400, "Bad Contact", nil
		}
		uri := sipcheck.URIString(&c.Address)
		if sipcheck.Text(uri) != nil || len(uri) > 512 {
			return u, 400, "Bad Contact", nil
		}
		exp := headerExpires
		if v, ok := c.Params.Get("expires"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil {
				return u, 400, "Bad Contact Expires", nil
			}
			exp = int(min(n, 1<<31-1))
		}
		d := r.cfg.DefaultExpires
		if exp >= 0 {
			d = time.Duration(exp) * time.Second
		}
		if d != 0 && d < r.cfg.MinExpires {
			return u, 423, "Interval Too Brief", []sip.Header{sip.NewHeader("Min-Expires", strconv.Itoa(int(r.cfg.MinExpires/time.Second)))}
		}
		if d > r.cfg.MaxExpires {
			d = r.cfg.MaxExpires
		}
		u.Contacts = append(u.Contacts, contactUpdate{URI: uri, Key: contactKey(uri), Instance: instanceOf(c), Expires: d})
	}
	return u, 0, "", nil
}

// lifetimeFrom is the longest time left to the bindings registered from src (0 if none).
func lifetimeFrom(bs []Binding, src string, now time.Time) time.Duration {
	var d time.Duration
	for _, b := range bs {
		if b.Source == src {
			d = max(d, b.Expires.Sub(now))
		}
	}
	return d
}
