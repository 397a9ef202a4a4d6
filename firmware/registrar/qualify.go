package registrar

import (
	"context"
	"sync"
	"time"

	"github.com/deskphone/deskphone/firmware/sipid"
	"github.com/emiago/sipgo/sip"
)

// qualifyLoop sends OPTIONS to every binding each QualifyInterval (RFC 3261 §11) and marks the
// ones that do not answer unreachable, so calls skip them. Any response, even an error, proves
// the phone is there.
func (r *Registrar) qualifyLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.QualifyInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.qualifyAll(ctx)
	}
}

// qualifyAll probes all bindings, at most 16 at a time, and returns when all probes are done.
func (r *Registrar) qualifyAll(ctx context.Context) {
	bs, _ := r.loc.snapshot()
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, b := range bs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			ok := r.qualify(ctx, b)
			if ctx.Err() != nil {
				return
			}
			if r.loc.setReachable(b.AOR, b.Contact, ok) {
				if ok {
					r.log.Info("phone reachable again", "aor", b.AOR, "extension", b.Extension, "contact", b.Contact)
				} else {
					r.log.Warn("phone not answering; calls skip it until it does", "aor", b.AOR, "extension", b.Extension, "contact", b.Contact, "src", b.Source)
				}
			}
		})
	}
	wg.Wait()
}

// qualify sends one OPTIONS to b and reports whether any response came back in time.
func (r *Registrar) qualify(ctx context.Context, b Binding) bool {
	var target sip.Uri
	if err := sip.ParseUri(b.Contact, &target); err != nil {
		return false
	}
	req := sip.NewRequest(sip.OPTIONS, target)
	host := r.localHost(b.Source)
	from := sip.Uri{Scheme: "sip", User: "registrar", Host: r.cfg.Realm}
	fromH := &sip.FromHeader{Address: from, Params: sip.NewParams()}
	fromH.Params.Add("tag", sipid.Token(8))
	req.AppendHeader(fromH)
	req.AppendHeader(&sip.ToHeader{Address: *target.Clone(), Params: sip.NewParams()})
	cid := sip.CallIDHeader(sipid.Token(12) + "@" + host)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.OPTIONS})
	req.AppendHeader(sip.NewHeader("User-Agent", r.cfg.ServerName))
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	cl := sip.ContentLengthHeader(0)
	req.AppendHeader(&cl)
	req.SetTransport(b.Transport)
	fwd := r.forwardCopy(req, target, b.Source, b.Transport, false)
	qctx, cancel := context.WithTimeout(ctx, r.cfg.QualifyTimeout)
	defer cancel()
	res, err := r.client.Do(qctx, fwd, asBuilt)
	return err == nil && res != nil
}
