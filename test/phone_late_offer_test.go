package e2e

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// A caller sends an INVITE without SDP (late offer, RFC 3261 §13.2.1, RFC 3264 §5): the Pi
// answers with its offer in the 200 OK, takes the answer from the ACK, and the audio flows both
// ways (the Pi's 1 kHz microphone at the far end, the far end's 700 Hz in speaker.wav).
func TestPhoneAnswersLateOffer(t *testing.T) {
	e := startPhone(t, phoneOptions{})
	p := newMediaPeer(t)
	s := startSIPpIn(t, fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort), "-sf", sippScenario(t, "phone_uac_late_offer.xml"),
		"-s", "5002", "-key", "aor", "5003", "-au", "softphone", "-ap", softphonePassword,
		"-key", "rtpport", strconv.Itoa(p.port()), "-i", "127.0.0.1")
	e.waitStatus(t, "call", "ringing", 15*time.Second)
	e.mustPost(t, "answer", "")
	e.streamTo(t, p, 700)
	time.Sleep(talkTime)
	e.mustPost(t, "hangup", "")
	s.wait(t)
	e.waitStatus(t, "call", "idle", 5*time.Second)
	requireToneIn(t, "audio at the far end", p.received(), 1000)
	requireTone(t, e.Speaker, 700)
	e.requireLastCall(t, "in", "5003", "answered", 2)
}
