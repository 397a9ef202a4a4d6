package web

import (
	"strings"
	"testing"
	"time"
)

func TestSIPTraceRecordsOnlyWhileOn(t *testing.T) {
	tr := NewSIPTrace(2)
	tr.SIPTraceRead("UDP", "127.0.0.1:5060", "192.0.2.9:5060", []byte("REGISTER sip:x SIP/2.0\r\n\r\n"))
	if n := len(tr.Messages()); n != 0 {
		t.Fatalf("recorded %d messages while off", n)
	}
	tr.SetOn(true)
	tr.SIPTraceRead("UDP", "l", "r", []byte("OPTIONS 1"))
	tr.SIPTraceWrite("UDP", "l", "r", []byte("SIP/2.0 200 OK 1"))
	tr.SIPTraceRead("UDP", "l", "r", []byte("OPTIONS 2"))
	m := tr.Messages()
	if len(m) != 2 || m[0].Direction != "out" || !strings.HasPrefix(m[1].Text, "OPTIONS 2") {
		t.Fatalf("kept %+v", m)
	}
	tr.SetOn(false)
	tr.SIPTraceRead("UDP", "l", "r", []byte("OPTIONS 3"))
	if m := tr.Messages(); m[1].Text != "OPTIONS 2" {
		t.Fatalf("recorded while off: %+v", m)
	}
}

// A request recorded after its answer (the registrar answers some before recording them) is
// listed before it, by the time it came.
func TestSIPTraceListsByTime(t *testing.T) {
	tr := NewSIPTrace(4)
	tr.SetOn(true)
	came := time.Now()
	tr.SIPTraceWrite("UDP", "l", "r", []byte("SIP/2.0 401 Unauthorized"))
	tr.SIPTraceReadAt(came, "UDP", "l", "r", []byte("REGISTER sip:x SIP/2.0"))
	m := tr.Messages()
	if len(m) != 2 || m[0].Direction != "in" || m[1].Direction != "out" {
		t.Fatalf("listed %+v, want the REGISTER before its 401", m)
	}
}
