package e2e

import (
	"testing"
	"time"
)

// A caller re-INVITEs the Pi during a call and holds back its ACK: the Pi retransmits its 200 OK
// until the ACK comes (RFC 3261 §13.3.1.4: T1, then doubling up to T2), and the call goes on.
func TestPhoneRetransmitsReInvite2xx(t *testing.T) {
	e := startPhone(t, phoneOptions{})
	p := newMediaPeer(t)
	s := e.sippCallsPi(t, "phone_uac_reinvite_noack.xml", p)
	e.waitStatus(t, "call", "ringing", 15*time.Second)
	e.mustPost(t, "answer", "")
	e.waitStatus(t, "call", "in_call", 15*time.Second)
	// The re-INVITE comes 1 s after the answer and its ACK 2.5 s after the 200 OK.
	waitFor(t, "the ACK of the re-INVITE", 15*time.Second, func() bool {
		return countSent(s.messages(), "ACK", "3 ACK") > 0
	})
	e.mustPost(t, "hangup", "")
	s.wait(t)
	n := countReceived(s.messages(), "SIP/2.0 200 OK", "3 INVITE")
	t.Logf("the caller received the 200 OK to its re-INVITE %d times before it ACKed", n)
	if n < 3 { // sent at 0, 0.5 s and 1.5 s (then 3.5 s) while the ACK is 2.5 s late
		t.Fatalf("the caller received the 200 OK to its re-INVITE %d time(s) while it withheld the ACK for 2.5 s, want 3 or more", n)
	}
	e.requireLastCall(t, "in", "5003", "answered", 2)
}
