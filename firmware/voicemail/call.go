package voicemail

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"time"

	"github.com/emiago/sipgo"

	"github.com/deskphone/deskphone/firmware/media"
)

// quietRMS: a frame below this level (about −40 dBFS) counts as silence.
const quietRMS = 330

// digitWait is how long a menu waits for a key once its prompt has been said.
const digitWait = 10 * time.Second

// call is one caller connected to the voicemail: its media, the audio loop, and the dialog.
type call struct {
	s        *Server
	dlg      *sipgo.DialogServerSession
	sess     *media.Session
	box      string
	caller   string
	log      *slog.Logger
	dev      *lineDevice
	ctx      context.Context // ends when the caller hangs up or the service stops
	cancel   context.CancelFunc
	audioRun chan struct{}
}

func newCall(s *Server, dlg *sipgo.DialogServerSession, sess *media.Session, box, caller string) *call {
	ctx, cancel := context.WithCancel(s.context())
	stop := context.AfterFunc(dlg.Context(), cancel)
	c := &call{s: s, dlg: dlg, sess: sess, box: box, caller: caller, dev: newLineDevice(),
		log: s.log.With("mailbox", box, "caller", caller, "call_id", dlg.InviteRequest.CallID().Value()),
		ctx: ctx, audioRun: make(chan struct{})}
	c.cancel = func() { stop(); cancel() }
	aud := media.NewAudio(c.dev, c.log)
	aud.Connect(sess)
	go func() { // owned by the call: end() waits for it
		defer close(c.audioRun)
		if err := aud.Run(ctx); err != nil {
			c.log.Warn("voicemail audio stopped", "err", err)
		}
	}()
	return c
}

func (c *call) hungUp() bool { return c.dlg.Context().Err() != nil }

// end hangs up (unless the caller did) and frees the call's resources.
func (c *call) end() {
	if !c.hungUp() && c.s.context().Err() == nil {
		ctx, cancel := context.WithTimeout(c.s.context(), 5*time.Second)
		if err := c.dlg.Bye(ctx); err != nil {
			c.log.Debug("BYE not answered", "err", err)
		}
		cancel()
	}
	c.cancel()
	<-c.audioRun
	c.dev.close()
}

// say plays the parts and waits until they are heard; a key pressed meanwhile cuts the prompt
// short and is returned. ok is false when the caller hung up.
func (c *call) say(parts ...[]int16) (digit rune, ok bool) {
	done := c.dev.play(parts...)
	select {
	case <-done:
		return 0, true
	case d := <-c.sess.DTMF():
		c.dev.stop()
		return d, true
	case <-c.ctx.Done():
		return 0, false
	}
}

// sayQuietly plays the parts to the end, ignoring keys.
func (c *call) sayQuietly(parts ...[]int16) bool {
	select {
	case <-c.dev.play(parts...):
		return true
	case <-c.ctx.Done():
		return false
	}
}

// key waits for a key after a prompt; 0 after digitWait.
func (c *call) key(parts ...[]int16) (rune, bool) {
	if d, ok := c.say(parts...); d != 0 || !ok {
		return d, ok
	}
	t := time.NewTimer(digitWait)
	defer t.Stop()
	select {
	case d := <-c.sess.DTMF():
		return d, true
	case <-t.C:
		return 0, true
	case <-c.ctx.Done():
		return 0, false
	}
}

func rms(frame []int16) float64 {
	var sum float64
	for _, s := range frame {
		sum += float64(s) * float64(s)
	}
	return math.Sqrt(sum / float64(max(len(frame), 1)))
}

// deposit: greeting, beep, then record until the caller hangs up, is silent for cfg.Silence,
// presses #, or reaches the length limit (or the quota).
func (c *call) deposit() {
	st, cfg := c.s.store, c.s.cfg
	greeting := st.Greeting(c.box)
	if greeting == nil {
		greeting = c.s.prompt.get(pGreeting)
	}
	limit := min(cfg.MaxMessage, st.room())
	if limit < minMessage {
		c.log.Warn("voicemail full: the caller could not leave a message", "quota_bytes", cfg.Quota)
		c.sayQuietly(c.s.prompt.get(pFull))
		return
	}
	if _, ok := c.say(greeting, pause(300)); !ok {
		return
	}
	if !c.sayQuietly(beep()) {
		return
	}
	rec, err := st.record(c.box, c.caller, time.Now())
	if errors.Is(err, ErrFull) {
		c.log.Warn("voicemail full: the caller could not leave a message", "quota_bytes", cfg.Quota)
		c.sayQuietly(c.s.prompt.get(pFull))
		return
	}
	if err != nil {
		c.log.Error("voicemail cannot record", "err", err)
		return
	}
	why := c.listen(limit, func(frame []int16) error { return rec.w.write(frame) }, func(quiet int) {
		rec.w.truncate(uint32(quiet * 2))
	})
	m, kept, err := rec.finish()
	switch {
	case err != nil:
		c.log.Error("voicemail message not saved", "err", err)
	case !kept:
		c.log.Info("voicemail: caller left no message", "why", why)
	default:
		c.log.Info("voicemail message left", "message", m.ID, "seconds", math.Round(m.Seconds*10)/10, "ended", why)
	}
	if !c.hungUp() {
		c.sayQuietly(c.s.prompt.get(pGoodbye))
	}
}

// listen hands what the caller says to keep, frame by frame, until the caller hangs up,
// presses #, is silent for cfg.Silence (cut is then told how many trailing samples were quiet),
// or limit passes. It returns why it stopped.
func (c *call) listen(limit time.Duration, keep func([]int16) error, cut func(quiet int)) string {
	for len(c.dev.heard) > 0 { // what the caller said over the prompt
		<-c.dev.heard
	}
	quietLimit := int(c.s.cfg.Silence / (20 * time.Millisecond))
	quiet := 0
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		select {
		case frame := <-c.dev.heard:
			if err := keep(frame); err != nil {
				c.log.Error("voicemail recording failed", "err", err)
				return "disk error"
			}
			if rms(frame) < quietRMS {
				quiet++
			} else {
				quiet = 0
			}
			if quiet >= quietLimit {
				cut(quiet * len(frame))
				return "silence"
			}
		case d := <-c.sess.DTMF():
			if d == '#' {
				return "caller pressed #"
			}
		case <-deadline.C:
			return "length limit"
		case <-c.ctx.Done():
			return "caller hung up"
		}
	}
}

// maxGreetingTime bounds a greeting recorded over the phone.
const maxGreetingTime = 60 * time.Second

// recordGreeting records the mailbox's own greeting (key 0 in the menu).
func (c *call) recordGreeting() bool {
	p := c.s.prompt
	if !c.sayQuietly(p.get(pRecGreet), pause(200), beep()) {
		return false
	}
	var pcm []int16
	why := c.listen(maxGreetingTime, func(f []int16) error { pcm = append(pcm, f...); return nil }, func(quiet int) {
		pcm = pcm[:max(len(pcm)-quiet, 0)]
	})
	if c.hungUp() {
		return false
	}
	if len(pcm) < int(minMessage.Seconds()*sampleRate) {
		c.log.Info("voicemail greeting not changed: too short", "ended", why)
		return true
	}
	if err := c.s.store.SetGreeting(c.box, pcm); err != nil {
		c.log.Error("voicemail greeting not saved", "err", err)
		return true
	}
	return c.sayQuietly(p.get(pGreetOK))
}

// readPIN collects digits up to '#' (or 10 digits, or a pause).
func (c *call) readPIN() (string, bool) {
	d, ok := c.key(c.s.prompt.get(pPIN))
	var pin []rune
	for ok && d != 0 && d != '#' && len(pin) < 10 {
		pin = append(pin, d)
		t := time.NewTimer(5 * time.Second)
		select {
		case d = <-c.sess.DTMF():
		case <-t.C:
			d = 0
		case <-c.ctx.Done():
			ok = false
		}
		t.Stop()
	}
	return string(pin), ok
}

// retrieve: PIN, then Asterisk's keys: 1 next (or play), 2 repeat, 7 delete, 9 save, # hang up.
func (c *call) retrieve() {
	st, p := c.s.store, c.s.prompt
	pin, err := st.PIN(c.box)
	if err != nil {
		c.log.Error("voicemail PIN unavailable", "err", err)
		return
	}
	for try := 1; ; try++ {
		got, ok := c.readPIN()
		if !ok {
			return
		}
		if got == pin {
			break
		}
		c.log.Warn("voicemail: wrong PIN", "try", try)
		if try == 3 {
			c.sayQuietly(p.get(pBadPIN), p.get(pGoodbye))
			return
		}
		if !c.sayQuietly(p.get(pBadPIN)) {
			return
		}
	}
	msgs, err := st.List(c.box)
	if err != nil {
		c.log.Error("voicemail mailbox unreadable", "err", err)
		return
	}
	c.log.Info("voicemail retrieval", "messages", len(msgs))
	newN, savedN := count(msgs)
	// With no messages the menu still offers 0 (record the greeting).
	summary := [][]int16{p.get(pNone)}
	if len(msgs) > 0 {
		summary = [][]int16{p.number(newN), p.get(pNew), pause(200), p.number(savedN), p.get(pSaved), pause(300)}
	}
	d, ok := c.say(summary...)
	i, play, idle := 0, len(msgs) > 0, 0
	for ok {
		if d == 0 && play {
			play = false
			if i >= len(msgs) {
				if len(msgs) == 0 {
					c.sayQuietly(p.get(pNone), p.get(pGoodbye))
					return
				}
				i = len(msgs) - 1
				d, ok = c.say(p.get(pNoMore))
				continue
			}
			d, ok = c.playMessage(i, msgs[i])
			if ok && msgs[i].Folder == FolderNew && st.Save(c.box, msgs[i].ID) == nil {
				msgs[i].Folder = FolderSaved // heard: no longer waiting (Asterisk moves it to Old)
			}
			continue
		}
		if d == 0 {
			if d, ok = c.key(p.get(pMenu)); ok && d == 0 {
				if idle++; idle == 3 {
					c.sayQuietly(p.get(pGoodbye))
					return
				}
			}
			continue
		}
		idle = 0
		if (d == '7' || d == '9') && i >= len(msgs) { // nothing selected: say so
			i, play, d = len(msgs), true, 0
			continue
		}
		switch d {
		case '1':
			i++
			play = true
		case '2':
			play = true
		case '7':
			if err := st.Delete(c.box, msgs[i].ID); err != nil {
				c.log.Warn("voicemail delete failed", "err", err)
			}
			msgs = append(msgs[:i], msgs[i+1:]...)
			d, ok = c.say(p.get(pDeleted))
			play = true
			continue
		case '9':
			if msgs[i].Folder == FolderNew && st.Save(c.box, msgs[i].ID) == nil {
				msgs[i].Folder = FolderSaved
			}
			d, ok = c.say(p.get(pKept))
			i++
			play = true
			continue
		case '0':
			if !c.recordGreeting() {
				return
			}
		case '#':
			c.sayQuietly(p.get(pGoodbye))
			return
		}
		d = 0
	}
}

// playMessage says "message N" and plays it; a key cuts it short.
func (c *call) playMessage(i int, m Message) (rune, bool) {
	path, err := c.s.store.Path(c.box, m.ID)
	if err != nil {
		return 0, true
	}
	pcm, err := readWAV(path)
	if err != nil {
		c.log.Warn("voicemail message unreadable", "message", m.ID, "err", err)
		return 0, true
	}
	c.log.Info("voicemail playing", "message", m.ID, "seconds", math.Round(m.Seconds*10)/10)
	return c.say(c.s.prompt.get(pMessage), c.s.prompt.number(i+1), pause(300), pcm, pause(500))
}
