package voicemail

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/deskphone/deskphone/firmware/sipid"
	"github.com/emiago/sipgo/sip"
)

// Message waiting indication (RFC 3842): phones that SUBSCRIBE to message-summary get a NOTIFY
// at once and on every change; the mailboxes of phones that do not subscribe (the Alcatel IP
// Touch) get unsolicited NOTIFYs through the registrar, on change and every unsolicitedEvery
// while messages wait.
const (
	maxSubscription  = time.Hour
	minSubscription  = 60 * time.Second
	unsolicitedEvery = 5 * time.Minute
	firstNotifyDelay = 200 * time.Millisecond
)

// Summary is the body of a message-summary NOTIFY (RFC 3842 §5.2).
func Summary(account string, newMsgs, saved int) []byte {
	waiting := "no"
	if newMsgs > 0 {
		waiting = "yes"
	}
	return fmt.Appendf(nil, "Messages-Waiting: %s\r\nMessage-Account: %s\r\nVoice-Message: %d/%d (0/0)\r\n", waiting, account, newMsgs, saved)
}

// subscription is one phone's message-summary dialog (we are the notifier, RFC 6665).
type subscription struct {
	box       string
	callID    string
	local     sip.FromHeader // us: the SUBSCRIBE's To with our tag
	remote    sip.ToHeader   // the subscriber: the SUBSCRIBE's From
	target    sip.Uri        // its Contact
	routes    []string       // its Record-Route, in order (RFC 3261 §12.1.1)
	transport string
	expires   time.Time // guarded by Server.mu
	cseq      atomic.Uint32
}

func (s *Server) onSubscribe(req *sip.Request, tx sip.ServerTransaction) {
	if !s.trusted(req) {
		respond(tx, req, 403, "Forbidden")
		return
	}
	if ev := req.GetHeader("Event"); ev == nil || !strings.EqualFold(strings.TrimSpace(strings.Split(ev.Value(), ";")[0]), "message-summary") {
		res := sip.NewResponseFromRequest(req, 489, "Bad Event", nil)
		res.AppendHeader(sip.NewHeader("Allow-Events", "message-summary"))
		_ = tx.Respond(res)
		return
	}
	expires := maxSubscription
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.Atoi(strings.TrimSpace(h.Value()))
		if err != nil || n < 0 {
			respond(tx, req, 400, "Bad Expires")
			return
		}
		expires = min(time.Duration(n)*time.Second, maxSubscription)
		if expires > 0 && expires < minSubscription {
			res := sip.NewResponseFromRequest(req, 423, "Interval Too Brief", nil)
			res.AppendHeader(sip.NewHeader("Min-Expires", strconv.Itoa(int(minSubscription.Seconds()))))
			_ = tx.Respond(res)
			return
		}
	}
	var sub *subscription
	id := ""
	if tag, ok := req.To().Params.Get("tag"); ok {
		id = req.CallID().Value() + ";" + tag
		s.mu.Lock()
		sub = s.subs[id]
		s.mu.Unlock()
		if sub == nil {
			respond(tx, req, 481, "Subscription Does Not Exist")
			return
		}
	} else {
		kind, box := target(req)
		if kind != "mwi" || req.Contact() == nil || req.From() == nil {
			respond(tx, req, 404, "Not Found")
			return
		}
		tag := sipid.Token(8)
		local := sip.FromHeader{DisplayName: req.To().DisplayName, Address: *req.To().Address.Clone(), Params: sip.NewParams()}
		local.Params.Add("tag", tag)
		sub = &subscription{box: box, callID: req.CallID().Value(), local: local,
			remote: sip.ToHeader{DisplayName: req.From().DisplayName, Address: *req.From().Address.Clone(), Params: req.From().Params.Clone()},
			target: *req.Contact().Address.Clone(), transport: req.Transport()}
		for _, rr := range req.GetHeaders("Record-Route") {
			sub.routes = append(sub.routes, rr.Value())
		}
		id = sub.callID + ";" + tag
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	if to := res.To(); to != nil { // sipgo made up a tag of its own: the dialog's is ours
		to.Params.Add("tag", sub.local.Params.GetOr("tag", ""))
	}
	res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires.Seconds()))))
	res.AppendHeader(&sip.ContactHeader{Address: s.uri("voicemail")})
	if err := tx.Respond(res); err != nil {
		return
	}
	s.mu.Lock()
	sub.expires = time.Now().Add(expires)
	if expires > 0 {
		s.subs[id] = sub
	} else {
		delete(s.subs, id)
	}
	s.mu.Unlock()
	s.log.Info("message-summary subscription", "mailbox", sub.box, "subscriber", sub.remote.Address.String(), "expires", expires.String())
	ctx := s.context()
	if ctx.Err() == nil {
		s.workers.Go(func() {
			// The registrar relays the 200 and the NOTIFY in separate goroutines: give the 200 a
			// head start, or the NOTIFY may overtake it and the phone answers 481 (baresip does).
			select {
			case <-time.After(firstNotifyDelay):
			case <-ctx.Done():
				return
			}
			s.notify(ctx, id, sub)
		})
	}
}

// notify sends the current summary in a subscription's dialog; a subscriber that is gone
// (481, or no answer) is dropped.
func (s *Server) notify(ctx context.Context, id string, sub *subscription) {
	n, saved := s.store.Counts(sub.box)
	s.mu.Lock()
	expires := sub.expires
	s.mu.Unlock()
	state := "terminated;reason=timeout"
	if left := time.Until(expires); left > 0 {
		state = "active;expires=" + strconv.Itoa(int(left.Seconds()))
	}
	req := sip.NewRequest(sip.NOTIFY, *sub.target.Clone())
	for _, r := range sub.routes {
		req.AppendHeader(sip.NewHeader("Route", r))
	}
	from, to := sub.local, sub.remote
	req.AppendHeader(&from)
	req.AppendHeader(&to)
	req.AppendHeader(sip.NewHeader("Call-ID", sub.callID))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: sub.cseq.Add(1), MethodName: sip.NOTIFY})
	s.fillNotify(req, state, sub.remote.Address.User, n, saved)
	if rt := req.Route(); rt != nil {
		req.SetDestination(rt.Address.HostPort())
	}
	req.SetTransport(sub.transport)
	status := s.send(ctx, req)
	s.log.Debug("message-summary NOTIFY", "mailbox", sub.box, "subscriber", sub.remote.Address.String(), "new", n, "saved", saved, "status", status)
	if status == 481 || status == 0 || strings.HasPrefix(state, "terminated") {
		s.mu.Lock()
		delete(s.subs, id)
		s.mu.Unlock()
	}
}

// fillNotify adds the event headers and the summary body.
func (s *Server) fillNotify(req *sip.Request, state, user string, newMsgs, saved int) {
	req.AppendHeader(&sip.ContactHeader{Address: s.uri("voicemail")})
	req.AppendHeader(sip.NewHeader("Event", "message-summary"))
	req.AppendHeader(sip.NewHeader("Subscription-State", state))
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(sip.NewHeader("User-Agent", s.cfg.ServerName))
	ct := sip.ContentTypeHeader("application/simple-message-summary")
	req.AppendHeader(&ct)
	account := req.Recipient
	account.User = user
	account.UriParams, account.Headers = nil, nil
	if p := s.proxyAddr(); p.IsValid() {
		account.Host, account.Port = p.Addr().String(), int(p.Port())
	}
	req.SetBody(Summary(account.String(), newMsgs, saved))
}

func (s *Server) proxyAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proxy
}

// send sends a request and returns the final status (0: no answer).
func (s *Server) send(ctx context.Context, req *sip.Request) int {
	ctx, cancel := context.WithTimeout(ctx, 32*time.Second)
	defer cancel()
	res, err := s.client.Do(ctx, req)
	if err != nil {
		s.log.Debug("NOTIFY not answered", "to", req.Recipient.String(), "err", err)
		return 0
	}
	return res.StatusCode
}

// unsolicited sends box's summary to every phone of the account through the registrar (the
// Alcatel IP Touch lights its message key from these without subscribing).
func (s *Server) unsolicited(ctx context.Context, box string) {
	proxy := s.proxyAddr()
	if !proxy.IsValid() {
		return
	}
	n, saved := s.store.Counts(box)
	u := sip.Uri{Scheme: "sip", User: box, Host: proxy.Addr().String(), Port: int(proxy.Port())}
	req := sip.NewRequest(sip.NOTIFY, u)
	from := sip.FromHeader{Address: s.uri("voicemail"), Params: sip.NewParams()}
	from.Params.Add("tag", sipid.Token(8))
	req.AppendHeader(&from)
	req.AppendHeader(&sip.ToHeader{Address: u, Params: sip.NewParams()})
	req.AppendHeader(sip.NewHeader("Call-ID", sipid.Token(12)+"@voicemail"))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.NOTIFY})
	s.fillNotify(req, "active", box, n, saved)
	req.SetDestination(proxy.String())
	req.SetTransport("UDP")
	status := s.send(ctx, req)
	s.log.Debug("unsolicited message-summary", "mailbox", box, "new", n, "saved", saved, "status", status)
}

// changed runs when a mailbox changes: every subscriber of it is told, and its phones that do
// not subscribe get an unsolicited NOTIFY.
func (s *Server) changed(box string) {
	ctx := s.context()
	if ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	var subs []*subscription
	var ids []string
	for id, sub := range s.subs {
		if sub.box == box {
			subs, ids = append(subs, sub), append(ids, id)
		}
	}
	s.mu.Unlock()
	for i, sub := range subs {
		s.workers.Go(func() { s.notify(ctx, ids[i], sub) })
	}
	if len(subs) == 0 {
		s.workers.Go(func() { s.unsolicited(ctx, box) })
	}
}

// refreshLoop drops expired subscriptions and repeats the unsolicited NOTIFYs of mailboxes
// with messages waiting (a phone that restarted learns it again).
func (s *Server) refreshLoop(ctx context.Context) {
	t := time.NewTicker(unsolicitedEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		subscribed := map[string]bool{}
		s.mu.Lock()
		for id, sub := range s.subs {
			if time.Now().After(sub.expires) {
				delete(s.subs, id)
				continue
			}
			subscribed[sub.box] = true
		}
		s.mu.Unlock()
		ents, _ := os.ReadDir(s.cfg.Dir)
		for _, e := range ents {
			if !e.IsDir() || subscribed[e.Name()] {
				continue
			}
			if n, _ := s.store.Counts(e.Name()); n > 0 {
				s.unsolicited(ctx, e.Name())
			}
		}
	}
}
