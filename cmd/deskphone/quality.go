package main

import (
	"context"
	"sync"
	"time"

	"github.com/deskphone/deskphone/firmware/calllog"
	"github.com/deskphone/deskphone/firmware/media"
)

// qualityMeter samples the connected call's RTP statistics once a second, so the call log can
// keep each call's loss, jitter, MOS estimate and their course over the call.
type qualityMeter struct {
	session func() *media.Session

	mu      sync.Mutex
	cur     *media.Session
	start   time.Time
	last    media.Stats
	samples []calllog.Sample
	jitter  float64 // sum, for the mean
	maxJit  float64
}

// run samples until ctx ends.
func (q *qualityMeter) run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			q.sample(now)
		}
	}
}

func (q *qualityMeter) sample(now time.Time) {
	ms := q.session()
	if ms == nil {
		return
	}
	st := ms.Stats()
	q.mu.Lock()
	defer q.mu.Unlock()
	if ms != q.cur {
		q.cur, q.start, q.last, q.samples, q.jitter, q.maxJit = ms, now, media.Stats{}, nil, 0, 0
	}
	recv := float64(st.PacketsReceived - q.last.PacketsReceived)
	lost := float64(st.Lost - q.last.Lost)
	loss := 0.0
	if lost > 0 && recv+lost > 0 {
		loss = 100 * lost / (recv + lost)
	}
	q.last = st
	if len(q.samples) < calllog.MaxSamples {
		q.samples = append(q.samples, calllog.Sample{T: now.Sub(q.start).Seconds(), JitterMs: st.JitterMs, LossPct: loss})
	}
	q.jitter += st.JitterMs
	q.maxJit = max(q.maxJit, st.JitterMs)
}

// take returns the quality of the call that just ended (nil without media) and its media
// protection ("SRTP (suite)", "RTP", "" without media), and starts afresh.
func (q *qualityMeter) take() (*calllog.Quality, string) {
	q.sample(time.Now())
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.cur == nil || len(q.samples) == 0 {
		return nil, ""
	}
	protection := "RTP"
	if q.last.SRTP != "" {
		protection = "SRTP (" + q.last.SRTP + ")"
	}
	st := q.last
	out := &calllog.Quality{PacketsReceived: st.PacketsReceived, Lost: max(st.Lost, 0), JitterMs: q.jitter / float64(len(q.samples)),
		MaxJitterMs: q.maxJit, Samples: q.samples}
	if n := float64(st.PacketsReceived) + float64(out.Lost); n > 0 {
		out.LossPct = 100 * float64(out.Lost) / n
	}
	out.MOS = calllog.MOS(out.LossPct, out.JitterMs)
	q.cur, q.samples = nil, nil
	return out, protection
}
