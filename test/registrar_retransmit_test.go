package e2e

import (
	"strconv"
	"strings"
	"testing"
)

// The caller's ACK is late, so the callee retransmits its 200 OK (RFC 3261 §13.3.1.4): the
// registrar forwards every copy to the caller (RFC 3261 §16.7 step 10, RFC 6026 §7.2), and the
// ACK still reaches the callee.
func TestRegistrarForwards2xxRetransmission(t *testing.T) {
	e := startRegistrar(t, "")
	uas := freePort(t, "udp")
	e.sippRegister(t, "rpi", "rpi-secret-22", uas)
	callee := startSIPpIn(t, "-sf", sippScenario(t, "uas_answer.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(uas))
	caller := startSIPpIn(t, e.Addr, "-sf", sippScenario(t, "uac_call_reack.xml"), "-s", "5002", "-key", "aor", "alcatel",
		"-au", "alcatel", "-ap", "alcatel-secret-1", "-i", "127.0.0.1")
	caller.wait(t)
	callee.wait(t)
	sent := countSent(callee.messages(), "SIP/2.0 200 OK", "2 INVITE")
	got := countReceived(caller.messages(), "SIP/2.0 200 OK", "2 INVITE")
	t.Logf("the callee sent its 200 OK %d times, the caller received it %d times", sent, got)
	if sent < 2 {
		t.Fatalf("the callee sent its 200 OK only %d time(s): nothing was retransmitted, nothing is tested", sent)
	}
	if got < sent {
		t.Fatalf("the caller received the 200 OK %d time(s) of the %d the callee sent: the registrar swallowed retransmissions", got, sent)
	}
}

// countReceived counts the messages in a SIPp -trace_msg log that SIPp received, start with
// firstLine and have the CSeq cseq ("2 INVITE").
func countReceived(log, firstLine, cseq string) int {
	return countTraced(log, "message received", firstLine, cseq)
}

// countSent is countReceived for the messages SIPp sent.
func countSent(log, firstLine, cseq string) int {
	return countTraced(log, "message sent", firstLine, cseq)
}

func countTraced(log, direction, firstLine, cseq string) int {
	n := 0
	for _, block := range strings.Split(log, "----------------------------------------------- ") {
		head, msg, ok := strings.Cut(block, "\n\n")
		if !ok || !strings.Contains(head, direction) {
			continue
		}
		msg = strings.TrimLeft(msg, "\r\n")
		if strings.HasPrefix(msg, firstLine) && headerValue(msg, "CSeq") == cseq {
			n++
		}
	}
	return n
}
