package provisioning

import (
	"errors"
	"testing"
	"time"
	_ "time/tzdata" // the same zone rules on every machine the tests run on
)

// TestAlcatelTimezone pins the [sntp] timezone string for several zones and years. The Paris 2021
// value is the one the reference file carried by hand ("UT::60:032802:103103").
func TestAlcatelTimezone(t *testing.T) {
	tests := []struct {
		zone string
		year int
		want string
	}{
		{"Europe/Paris", 2021, "UT::60:032802:103103"},
		{"Europe/Paris", 2026, "UT::60:032902:102503"},
		{"Europe/Paris", 2027, "UT::60:032802:103103"},
		{"Europe/London", 2026, "UT::0:032901:102502"},
		{"Europe/Dublin", 2026, "UT::0:032901:102502"}, // tz data calls Irish winter time "DST"
		{"Europe/Helsinki", 2026, "UT::120:032903:102504"},
		{"America/New_York", 2026, "UT::-300:030802:110102"},
		{"America/Los_Angeles", 2025, "UT::-480:030902:110202"},
		{"America/St_Johns", 2026, "UT::-210:030802:110102"},
		{"Australia/Sydney", 2026, "UT::600:100402:040503"},    // southern hemisphere: start after end
		{"America/Santiago", 2026, "UT::-240:090600:040500"},   // southern hemisphere, midnight changes
		{"Pacific/Auckland", 2026, "UT::720:092702:040503"},    // southern hemisphere
		{"Asia/Kolkata", 2026, "UT::330:000000:000000"},        // no DST, half-hour offset
		{"Asia/Tokyo", 2026, "UT::540:000000:000000"},          // no DST
		{"UTC", 2026, "UT::0:000000:000000"},                   // no DST
		{"America/Phoenix", 2026, "UT::-420:000000:000000"},    // no DST inside a DST country
		{"Africa/Johannesburg", 2026, "UT::120:000000:000000"}, // no DST, southern
		{"America/Sao_Paulo", 2018, "UT::-180:110400:021800"},  // southern, DST abolished since 2019
		{"America/Sao_Paulo", 2026, "UT::-180:000000:000000"},
		{"Africa/Casablanca", 2026, "UT::0:032202:021503"}, // tz data: +01 all year but Ramadan, written as +00 with DST
	}
	for _, tt := range tests {
		t.Run(tt.zone+"/"+time.Date(tt.year, 1, 1, 0, 0, 0, 0, time.UTC).Format("2006"), func(t *testing.T) {
			loc, err := time.LoadLocation(tt.zone)
			if err != nil {
				t.Fatal(err)
			}
			// Any instant of the year gives the same string.
			for _, month := range []time.Month{time.January, time.July, time.December} {
				now := time.Date(tt.year, month, 15, 12, 0, 0, 0, loc)
				got, err := AlcatelTimezone(loc, now)
				if err != nil {
					t.Fatalf("%s: %v", month, err)
				}
				if got != tt.want {
					t.Errorf("%s %d (asked in %s) = %q, want %q", tt.zone, tt.year, month, got, tt.want)
				}
			}
		})
	}
}

// TestAlcatelTimezoneUnwritable: years the phone's string cannot describe fall back to the offset in
// force at that moment, without DST, and say why.
func TestAlcatelTimezoneUnwritable(t *testing.T) {
	tests := []struct {
		zone string
		now  time.Time
		want string
	}{
		{"Europe/Volgograd", time.Date(2020, time.June, 1, 0, 0, 0, 0, time.UTC), "UT::240:000000:000000"},    // moved from +04 to +03 on 27 December
		{"Australia/Lord_Howe", time.Date(2026, time.June, 1, 0, 0, 0, 0, time.UTC), "UT::630:000000:000000"}, // 30-minute DST
		{"Africa/Casablanca", time.Date(2018, time.June, 1, 0, 0, 0, 0, time.UTC), "UT::0:000000:000000"},     // three changes
	}
	for _, tt := range tests {
		loc, err := time.LoadLocation(tt.zone)
		if err != nil {
			t.Fatal(err)
		}
		got, err := AlcatelTimezone(loc, tt.now)
		if !errors.Is(err, ErrTimezoneRules) {
			t.Errorf("%s: err = %v, want ErrTimezoneRules", tt.zone, err)
		}
		if got != tt.want {
			t.Errorf("%s: fallback = %q, want %q", tt.zone, got, tt.want)
		}
	}
}
