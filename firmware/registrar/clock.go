package registrar

import "time"

// Clock tells the time. Tests pass a fake one to step through expiries, nonce lifetimes and bans.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
