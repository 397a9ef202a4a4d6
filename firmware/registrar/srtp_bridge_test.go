package registrar

import (
	"strings"
	"testing"
	"time"

	"github.com/deskphone/deskphone/firmware/accounts"
)

func TestPlanSRTP(t *testing.T) {
	acct := func(ext, srtp string) accounts.Account { return accounts.Account{Extension: ext, SRTP: srtp} }
	for _, c := range []struct {
		name                 string
		crypto               bool
		in, out              string
		callerPol, calleePol string
		bridgeOn             bool
		want                 srtpPlan
		refuse               string // part of the reason
	}{
		{"TLS softphone with keys to the Alcatel", true, "TLS", "UDP", "", "", true, srtpPlan{bridge: true, callerSRTP: true}, ""},
		{"same, bridging off", true, "TLS", "UDP", "", "", false, srtpPlan{}, "srtp_bridge = false"},
		{"two TLS softphones with keys", true, "TLS", "TLS", "", "", true, srtpPlan{callerSRTP: true, calleeSRTP: true}, ""},
		{"keys to a TLS phone whose account is off", true, "TLS", "TLS", "", "off", true, srtpPlan{bridge: true, callerSRTP: true}, ""},
		{"Alcatel to a TLS softphone, optional", false, "UDP", "TLS", "", "optional", true, srtpPlan{bridge: true, calleeSRTP: true}, ""},
		{"Alcatel to a TLS softphone, mandatory", false, "UDP", "TLS", "", "mandatory", true, srtpPlan{bridge: true, calleeSRTP: true}, ""},
		{"Alcatel to optional, bridging off: plain", false, "UDP", "TLS", "", "optional", false, srtpPlan{}, ""},
		{"Alcatel to mandatory, bridging off", false, "UDP", "TLS", "", "mandatory", false, srtpPlan{}, "srtp_bridge = false"},
		{"Alcatel to a TLS softphone, default", false, "UDP", "TLS", "", "", true, srtpPlan{}, ""},
		{"plain UDP to UDP", false, "UDP", "UDP", "", "", true, srtpPlan{}, ""},
		{"mandatory account registered over UDP", false, "UDP", "UDP", "", "mandatory", true, srtpPlan{}, "registered over UDP"},
		{"mandatory caller over UDP", true, "UDP", "TLS", "mandatory", "", true, srtpPlan{}, "calls over UDP"},
		{"mandatory caller without keys", false, "TLS", "TLS", "mandatory", "", true, srtpPlan{}, "no SRTP key"},
		{"keys over UDP pass as before", true, "UDP", "UDP", "", "", true, srtpPlan{}, ""},
	} {
		p := planSRTP(c.crypto, c.in, c.out, acct("5003", c.callerPol), acct("5001", c.calleePol), c.bridgeOn)
		if c.refuse != "" {
			if !strings.Contains(p.refuse, c.refuse) {
				t.Errorf("%s: refuse %q, want it to say %q", c.name, p.refuse, c.refuse)
			}
			continue
		}
		if p != c.want {
			t.Errorf("%s: plan %+v, want %+v", c.name, p, c.want)
		}
	}
}

func TestCallRecordsSayHowEachLegWasProtected(t *testing.T) {
	var c callRecords
	now := time.Unix(1000, 0)
	c.begin("a", "5003", "5001", "TLS", now)
	c.answered("a", "UDP", []byte("m=audio 1 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n"), []byte("m=audio 2 RTP/AVP 0\r\n"), BridgeSRTP, now)
	c.begin("b", "5001", "5004", "UDP", now)
	c.failed("b", 488, "srtp_bridge = false")
	for i := range maxCallRecords + 5 {
		c.begin(string(rune('c'+i)), "5003", "5004", "ws", now)
	}
	got := c.recent(now.Add(5 * time.Second))
	if len(got) != maxCallRecords {
		t.Fatalf("%d records, want the last %d", len(got), maxCallRecords)
	}
	c = callRecords{}
	c.begin("a", "5003", "5001", "TLS", now)
	c.answered("a", "UDP", []byte("m=audio 1 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n"), []byte("m=audio 2 RTP/AVP 0\r\n"), BridgeSRTP, now)
	c.ended("a", now.Add(7*time.Second))
	rec := c.recent(now)[0]
	if rec.CallerMedia != MediaSRTP || rec.CalleeMedia != MediaRTP || rec.CallerTransport != "TLS" || rec.CalleeTransport != "UDP" ||
		rec.Duration != 7 || !strings.Contains(rec.Protection, "SRTP on 5003's leg, plain RTP to 5001 (bridged by the Pi)") {
		t.Fatalf("record %+v", rec)
	}
}
