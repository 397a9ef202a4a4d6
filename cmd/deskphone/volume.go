package main

import (
	"sync"

	"github.com/deskphone/deskphone/firmware/web"
)

// mixer is a sound card whose volumes can change while it runs (the ALSA backend).
type mixer interface {
	SetVolume(speaker, ringer, mic int)
}

// volumes are the levels the phone page sets: applied at once to a card with a mixer, and kept
// until the service restarts ([audio] in the config keeps them for good).
type volumes struct {
	card mixer // nil: the file and null backends have no volume

	mu  sync.Mutex
	cur web.Levels
}

func (v *volumes) Levels() web.Levels {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.cur
}

func (v *volumes) SetLevels(l web.Levels) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.cur = l
	if v.card != nil {
		v.card.SetVolume(l.Speaker, l.Ringer, l.Mic)
	}
	return nil
}
