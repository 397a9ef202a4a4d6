package gpio

import "time"

// idlePoll is how long an input waits for an edge when nothing is pending. The wait is finite on
// purpose: it bounds shutdown time, and the level read after each timeout repairs a missed edge.
const idlePoll = time.Second

// debouncer is the pure timing logic of one input: it takes level samples with their time and
// reports settled changes and long holds. It does no I/O and reads no clock.
type debouncer struct {
	window time.Duration // a new level must last this long to count
	hold   time.Duration // 0: no hold report

	stable   bool      // debounced level (true = active)
	raw      bool      // last sampled level
	rawSince time.Time // when raw last changed
	heldSent bool      // the hold of the current press was reported
	activeAt time.Time // when the current press settled (its last edge)
}

func newDebouncer(window, hold time.Duration, level bool, now time.Time) *debouncer {
	return &debouncer{window: window, hold: hold, stable: level, raw: level, rawSince: now, activeAt: now, heldSent: level}
}

// sample records the level read at now. changed reports a settled change of the debounced level
// (its new value is d.stable, settled since d.rawSince); held reports that an active level has now
// lasted d.hold.
func (d *debouncer) sample(level bool, now time.Time) (changed, held bool) {
	if level != d.raw {
		d.raw, d.rawSince = level, now
	}
	if d.raw != d.stable && now.Sub(d.rawSince) >= d.window {
		d.stable, changed = d.raw, true
		if d.stable {
			d.activeAt, d.heldSent = d.rawSince, false
		}
	}
	if d.hold > 0 && d.stable && !d.heldSent && now.Sub(d.activeAt) >= d.hold {
		d.heldSent, held = true, true
	}
	return changed, held
}

// wait is how long to wait for the next edge before sampling again.
func (d *debouncer) wait(now time.Time) time.Duration {
	w := idlePoll
	if d.raw != d.stable {
		w = d.window - now.Sub(d.rawSince)
	} else if d.hold > 0 && d.stable && !d.heldSent {
		w = d.hold - now.Sub(d.activeAt)
	}
	if w < time.Millisecond {
		w = time.Millisecond
	}
	return w
}
