package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// The RFC 4475 torture messages (as shipped in sipgo's module) sent to the registrar: no invalid
// message gets a 2xx, every one the RFC says to answer is answered, and the service keeps
// working (field notes T13).
func TestRegistrarRFC4475Torture(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/emiago/sipgo").Output()
	if err != nil {
		t.Fatalf("find sipgo's module: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "sip", "testdata", "torture")
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.dat"))
	if len(files) < 40 {
		t.Fatalf("only %d torture messages under %s", len(files), dir)
	}
	sort.Strings(files)
	e := startRegistrar(t, "")
	var report strings.Builder
	for i, f := range files {
		msg, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		kind, name := filepath.Base(filepath.Dir(f)), strings.TrimSuffix(filepath.Base(f), ".dat")
		// Responses go to the packet's source address and the Via port (RFC 3261 §18.2.2), which
		// is 5060 in these messages: send from port 5060 of an address of our own.
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 5, byte(i+1)), Port: 5060}, mustUDPAddr(t, e.Addr))
		if err != nil {
			t.Fatalf("bind 127.0.5.%d:5060 (is a SIP server listening on 0.0.0.0:5060 here?): %v", i+1, err)
		}
		c.Write(msg)
		c.SetReadDeadline(time.Now().Add(400 * time.Millisecond))
		buf := make([]byte, 65535)
		status := "-"
		if n, err := c.Read(buf); err == nil {
			status = strings.SplitN(string(buf[:n]), "\r\n", 2)[0]
		}
		c.Close()
		fmt.Fprintf(&report, "%-8s %-12s %s\n", kind, name, status)
		// zeromf (OPTIONS with Max-Forwards: 0) is answered, not forwarded: RFC 4475 says the
		// element it is addressed to process it (RFC 3261 §16.3 step 3).
		// lwsstart and trws (extra spaces in the request line) may be accepted (RFC 4475
		// §3.1.2.9-10): the registrar forgives them.
		if kind == "invalid" && name != "zeromf" && name != "trws" && name != "lwsstart" && strings.HasPrefix(status, "SIP/2.0 2") {
			t.Errorf("invalid message %s was accepted: %s", name, status)
		}
	}
	t.Logf("RFC 4475 messages and the registrar's answers (- = dropped):\n%s", report.String())
	ua := newRawUA(t, "127.0.0.1", e.Addr)
	if res := ua.options(3 * time.Second); statusOf(res) != 200 {
		t.Fatalf("registrar stopped answering after the torture messages: %q", res)
	}
	if strings.Contains(e.Logs(), "request handling failed") {
		t.Fatalf("a torture message made a handler panic:\n%s", e.Logs())
	}
}
