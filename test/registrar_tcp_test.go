package e2e

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TCP connections (field notes T17): a connection that registers no phone is closed once it
// brings no request for tcp_idle_timeout, a slow sender (one byte a second) included, while a
// phone that registered over TCP keeps its connection and is called over it after staying quiet
// longer than that, as a phone behind NAT must be.
func TestRegistrarTCPConnections(t *testing.T) {
	e := startRegistrar(t, `tcp_idle_timeout = "2s"`)

	// SIPp as the NATed phone: one TCP connection, quiet for 10 s after registering, answering
	// the calls that come over it.
	start := time.Now()
	wait := startSIPp(t, e.Addr, "-t", "t1", "-sf", sippScenario(t, "register_stay.xml"), "-oocsf", sippScenario(t, "uas_answer.xml"),
		"-key", "aor", "rpi", "-key", "expires", "3600", "-au", "rpi", "-ap", "rpi-secret-22",
		"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t, "both")), "-d", "10000")

	// Meanwhile a client that only asks OPTIONS, and a slow sender.
	idle := dialSIP(t, e.Addr)
	fmt.Fprintf(idle, "OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bKidle\r\nFrom: <sip:probe@%s>;tag=1\r\nTo: <sip:%s>\r\nCall-ID: idle@test\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		e.Addr, idle.LocalAddr(), e.Addr, e.Addr)
	rd := bufio.NewReader(idle)
	idle.SetReadDeadline(time.Now().Add(3 * time.Second))
	if line, err := rd.ReadString('\n'); err != nil || !strings.HasPrefix(line, "SIP/2.0 200") {
		t.Fatalf("OPTIONS over TCP: %q, %v", line, err)
	}
	slow := dialSIP(t, e.Addr)
	slowClosed := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		msg := "REGISTER sip:" + e.Addr + " SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKslow\r\n"
		for i := 0; i < len(msg); i++ {
			if _, err := slow.Write([]byte{msg[i]}); err != nil {
				break
			}
			time.Sleep(time.Second)
		}
		slowClosed <- time.Since(start)
	}()

	if !closedBy(idle, rd, 8*time.Second) {
		t.Fatal("a TCP connection that registered nothing stayed open past tcp_idle_timeout")
	}
	select {
	case d := <-slowClosed:
		t.Logf("slow sender cut off after %s", d.Round(time.Second))
	case <-time.After(10 * time.Second):
		t.Fatal("a client sending one byte a second held its TCP connection")
	}

	// The phone has been quiet for 6 s (idle time 2 s): a call must still reach it.
	time.Sleep(time.Until(start.Add(6 * time.Second)))
	runSIPp(t, e.Addr, "-sf", sippScenario(t, "uac_call.xml"), "-s", "5002", "-key", "aor", "alcatel", "-au", "alcatel", "-ap", "alcatel-secret-1", "-i", "127.0.0.1")
	if err := wait(); err != nil {
		t.Fatalf("the phone registered over TCP was not called over its connection: %v", err)
	}
	e.WaitLog(t, "call answered", 2*time.Second)
}

func dialSIP(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedBy reports whether the server closes c within d (anything it sends is skipped).
func closedBy(c net.Conn, rd *bufio.Reader, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	for {
		if _, err := rd.ReadByte(); err != nil {
			ne, ok := err.(net.Error)
			return !ok || !ne.Timeout()
		}
	}
}
