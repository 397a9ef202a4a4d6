package provisioning

import (
	"errors"
	"fmt"
	"time"
)

// ErrTimezoneRules says the zone's clock changes in a way the Alcatel's one-DST-period-a-year string
// cannot describe (more than two changes in the year, or a change of standard time).
var ErrTimezoneRules = errors.New("the zone's clock changes cannot be written for the Alcatel")

// transition is one change of UTC offset.
type transition struct {
	at          time.Time // instant of the change
	from, to    int       // UTC offsets in seconds before and after
	localBefore time.Time // wall-clock time just before the change, as the old offset shows it
}

// AlcatelTimezone returns the value of the phone's [sntp] timezone key for loc in the year that now
// falls in: "UT::<standard UTC offset in minutes>:<DST start mmddhh>:<DST end mmddhh>", with each hour
// read on the clock as it is just before the change (the phone assumes a one-hour shift) (Paris 2021: "UT::60:032802:103103"). A zone with no
// daylight saving time that year gets "000000" for both. The phone keeps these dates for one year, so
// the string is computed on every request and a phone polling its configuration picks up the new year.
//
// Southern-hemisphere zones get a start later in the year than the end. On ErrTimezoneRules, the
// returned string still holds the offset in force at now, without DST, as the best the phone can do.
func AlcatelTimezone(loc *time.Location, now time.Time) (string, error) {
	if loc == nil {
		loc = time.UTC
	}
	now = now.In(loc)
	year := now.Year()
	ts := transitionsIn(loc, year)
	_, nowOffset := now.Zone()
	fixed := fmt.Sprintf("UT::%d:000000:000000", nowOffset/60)
	switch len(ts) {
	case 0:
		return fixed, nil
	case 2:
	default:
		return fixed, fmt.Errorf("%s changes its clock %d times in %d: %w", loc, len(ts), year, ErrTimezoneRules)
	}
	a, b := ts[0], ts[1]
	// Two changes that undo each other: one into summer time, one out of it.
	if a.from != b.to || a.to != b.from {
		return fixed, fmt.Errorf("%s changes its standard time in %d: %w", loc, year, ErrTimezoneRules)
	}
	if d := a.to - a.from; d != 3600 && d != -3600 {
		return fixed, fmt.Errorf("%s moves its clock by %d minutes, the phone only by 60: %w", loc, d/60, ErrTimezoneRules)
	}
	start, end := a, b
	if a.to < a.from { // southern hemisphere (or a zone whose tz data calls winter "DST"): the year starts in summer time
		start, end = b, a
	}
	standard := start.from
	return fmt.Sprintf("UT::%d:%s:%s", standard/60, mmddhh(start.localBefore), mmddhh(end.localBefore)), nil
}

// transitionsIn lists the changes of UTC offset that happen in year, in order. Changes of the zone's
// abbreviation alone are skipped.
func transitionsIn(loc *time.Location, year int) []transition {
	var out []transition
	t := time.Date(year, time.January, 1, 0, 0, 0, 0, loc)
	limit := time.Date(year+1, time.January, 1, 0, 0, 0, 0, loc)
	for i := 0; i < 64; i++ { // a zone changes a handful of times a year at most
		_, end := t.ZoneBounds()
		if end.IsZero() || !end.Before(limit) {
			break
		}
		_, from := end.Add(-time.Second).Zone()
		_, to := end.Zone()
		if from != to {
			out = append(out, transition{
				at:          end,
				from:        from,
				to:          to,
				localBefore: end.UTC().Add(time.Duration(from) * time.Second),
			})
		}
		t = end
	}
	return out
}

// mmddhh formats a wall-clock time (held in UTC fields) as month, day and hour, two digits each.
func mmddhh(t time.Time) string {
	return fmt.Sprintf("%02d%02d%02d", int(t.Month()), t.Day(), t.Hour())
}
