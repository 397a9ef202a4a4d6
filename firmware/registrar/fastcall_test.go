package registrar

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deskphone/deskphone/firmware/sipid"
	"github.com/emiago/sipgo/sip"
)

// udpPeer is a raw UDP phone talking to the registrar only.
type udpPeer struct {
	*regPhone
}

func newUDPPeer(t *testing.T, r *Registrar) udpPeer { return udpPeer{newRegPhone(t, r)} }

// next returns the next message that is not a 100 Trying, failing the test if none comes.
func (p udpPeer) next() string {
	p.t.Helper()
	for {
		m := p.read(3 * time.Second)
		if m == "" {
			p.t.Fatal("nothing came from the registrar")
		}
		if !strings.HasPrefix(m, "SIP/2.0 100 ") {
			return m
		}
	}
}

// headerLines returns the values of the header lines of msg named name, in order.
func headerLines(msg, name string) []string {
	var out []string
	head, _, _ := strings.Cut(msg, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n")[1:] {
		n, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(n), name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// phoneAnswer builds the response of a phone to req: its Vias, Record-Routes, From, Call-ID and CSeq,
// its To with tag.
func phoneAnswer(req string, code int, reason, tag, contact string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	for _, name := range []string{"Via", "Record-Route", "From", "To", "Call-ID", "CSeq"} {
		for _, v := range headerLines(req, name) {
			if name == "To" && !strings.Contains(v, "tag=") {
				v += ";tag=" + tag
			}
			fmt.Fprintf(&b, "%s: %s\r\n", name, v)
		}
	}
	if contact != "" {
		fmt.Fprintf(&b, "Contact: <%s>\r\n", contact)
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

// callTest is a registrar with two raw UDP phones: guillaume (5003) calls alcatel (5001).
type callTest struct {
	r              *Registrar
	caller, callee udpPeer
	host, me       string
}

func newCallTest(t *testing.T) *callTest {
	accts := mapAccounts{
		"alcatel":   {Extension: "5001", Username: "alcatel", Password: "alcatel-secret-1"},
		"guillaume": {Extension: "5003", Username: "guillaume", Password: "guillaume-secret-3"},
	}
	r, _ := startTest(t, Config{}, accts)
	c := &callTest{r: r, callee: newUDPPeer(t, r), caller: newUDPPeer(t, r)}
	c.callee.send(c.callee.msg("reg", 2, c.callee.auth(c.callee.challenge(), "00000001")))
	if res := c.callee.next(); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("callee REGISTER: %.80q", res)
	}
	c.host, c.me = r.Addr().String(), c.caller.c.LocalAddr().String()
	return c
}

func (c *callTest) invite(cseq int, auth string) string {
	s := fmt.Sprintf("INVITE sip:5001@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKinv%d;rport\r\nFrom: <sip:guillaume@%s>;tag=caller\r\nTo: <sip:5001@%s>\r\nCall-ID: stateless-call\r\nCSeq: %d INVITE\r\nContact: <sip:guillaume@%s>\r\nMax-Forwards: 70\r\n",
		c.host, c.me, cseq, c.host, c.host, cseq, c.me)
	if auth != "" {
		s += "Proxy-Authorization: " + auth + "\r\n"
	}
	return s + "Content-Length: 0\r\n\r\n"
}

// ack is the caller's ACK for a non-2xx answer to its INVITE with CSeq cseq.
func (c *callTest) ack(cseq int, to string) string {
	return fmt.Sprintf("ACK sip:5001@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKinv%d;rport\r\nFrom: <sip:guillaume@%s>;tag=caller\r\nTo: %s\r\nCall-ID: stateless-call\r\nCSeq: %d ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		c.host, c.me, cseq, c.host, to, cseq)
}

// authenticated sends the INVITE with the credentials the challenge asks for and returns the
// INVITE the callee gets.
func (c *callTest) authenticated(t *testing.T, challenge string) string {
	t.Helper()
	i := strings.Index(challenge, `nonce="`)
	nonce := challenge[i+7:]
	nonce = nonce[:strings.IndexByte(nonce, '"')]
	cred := credentials{Username: "guillaume", Realm: "deskphone", Nonce: nonce, URI: "sip:5001@" + c.host, QOP: "auth", NC: "00000001", Cnonce: "abc"}
	resp := expectedResponse(cred, ha1("guillaume", "deskphone", "guillaume-secret-3"), "INVITE")
	c.caller.send(c.invite(2, fmt.Sprintf(`Digest username="guillaume", realm="deskphone", nonce="%s", uri="sip:5001@%s", response="%s", qop=auth, nc=00000001, cnonce="abc", algorithm=MD5`, nonce, c.host, resp)))
	inv := c.callee.next()
	if !strings.HasPrefix(inv, "INVITE ") {
		t.Fatalf("callee got %.80q, want the INVITE", inv)
	}
	return inv
}

// A call between two UDP phones: the INVITE without credentials is challenged without a
// transaction (a retransmission gets the same 407, its ACK is absorbed), and the ACK and BYE
// are relayed statelessly along the route set, a retransmitted BYE with the same branch as the
// first, its 200 OK back to the caller (and again from the registrar to a late retransmission);
// the call list follows the call to its end.
func TestCallThroughStatelessPath(t *testing.T) {
	c := newCallTest(t)
	r, caller, callee, host, me := c.r, c.caller, c.callee, c.host, c.me
	caller.send(c.invite(1, ""))
	challenge := caller.next()
	if !strings.HasPrefix(challenge, "SIP/2.0 407") {
		t.Fatalf("INVITE without credentials: %.80q, want 407", challenge)
	}
	caller.send(c.invite(1, ""))
	if again := caller.next(); again != challenge {
		t.Fatalf("retransmitted INVITE: %q, want the same 407 again:\n%s", again, challenge)
	}
	caller.send(c.ack(1, headerLines(challenge, "To")[0]))
	if n := r.sipgoTxs.size(); n != 0 {
		t.Errorf("sipgo holds %d server transactions after the challenge, want none", n)
	}

	inv := c.authenticated(t, challenge)
	calleeContact := "sip:alcatel@" + callee.c.LocalAddr().String()
	callee.send(phoneAnswer(inv, 200, "OK", "callee", calleeContact))
	ok := caller.next()
	if !strings.HasPrefix(ok, "SIP/2.0 200") {
		t.Fatalf("caller got %.80q, want the 200 OK", ok)
	}
	routes := headerLines(ok, "Record-Route")
	slices.Reverse(routes)
	calleeTo := headerLines(ok, "To")[0]
	inDialog := func(method, branch string, cseq int) string {
		s := fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\n", method, calleeContact, me, branch)
		for _, rt := range routes {
			s += "Route: " + rt + "\r\n"
		}
		return s + fmt.Sprintf("From: <sip:guillaume@%s>;tag=caller\r\nTo: %s\r\nCall-ID: stateless-call\r\nCSeq: %d %s\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", host, calleeTo, cseq, method)
	}

	caller.send(inDialog("ACK", "ack2", 2))
	if ack := callee.next(); !strings.HasPrefix(ack, "ACK ") {
		t.Fatalf("callee got %.80q, want the ACK", ack)
	}
	if got := r.RecentCalls(); len(got) != 1 || got[0].State != "answered" {
		t.Fatalf("call list %+v, want the call answered", got)
	}
	bye := inDialog("BYE", "bye3", 3)
	caller.send(bye)
	first := callee.next()
	branch := func(m string) string { return headerLines(m, "Via")[0] }
	if !strings.HasPrefix(first, "BYE ") || !strings.Contains(branch(first), "branch="+statelessBranchPrefix) {
		t.Fatalf("callee got %q, want the BYE relayed statelessly", first)
	}
	caller.send(bye) // the 200 OK got lost: the caller sends the BYE again
	second := callee.next()
	if branch(second) != branch(first) {
		t.Fatalf("retransmitted BYE left as %q, want the first one's branch %q", branch(second), branch(first))
	}
	callee.send(phoneAnswer(second, 200, "OK", "callee", ""))
	byeOK := caller.next()
	if !strings.HasPrefix(byeOK, "SIP/2.0 200") || !strings.Contains(byeOK, "CSeq: 3 BYE") {
		t.Fatalf("caller got %q, want the BYE's 200 OK", byeOK)
	}
	caller.send(bye) // that 200 OK got lost too: the registrar answers with it, as a transaction would
	if again := caller.next(); again != byeOK {
		t.Fatalf("BYE sent after its 200 OK came back: %q, want the same 200 OK:\n%s", again, byeOK)
	}
	if m := callee.read(sip.T1); m != "" {
		t.Fatalf("callee got %.80q, want nothing: the call is over", m)
	}
	if got := r.RecentCalls(); len(got) != 1 || got[0].State != "ended" {
		t.Fatalf("call list %+v, want the call ended", got)
	}
	if n := r.authFailures("127.0.0.1"); n != 0 {
		t.Errorf("%d authentication failures counted", n)
	}
}

// The ACK for a busy signal relayed by the proxy's transaction reaches that transaction, which
// then stops sending the 486 again: the fast path leaves it to sipgo.
func TestAckOfRelayedBusyStopsItsRetransmissions(t *testing.T) {
	c := newCallTest(t)
	c.caller.send(c.invite(1, ""))
	inv := c.authenticated(t, c.caller.next())
	c.callee.send(phoneAnswer(inv, 486, "Busy Here", "callee", ""))
	busy := c.caller.next()
	if !strings.HasPrefix(busy, "SIP/2.0 486") {
		t.Fatalf("caller got %.80q, want 486", busy)
	}
	if ack := c.callee.next(); !strings.HasPrefix(ack, "ACK ") {
		t.Fatalf("callee got %.80q, want the proxy's ACK of its 486", ack)
	}
	c.caller.send(c.ack(2, headerLines(busy, "To")[0]))
	if again := c.caller.read(3 * sip.T1); again != "" {
		t.Fatalf("after its ACK the caller got %.80q, want nothing more", again)
	}
}

// A BYE whose route was not set by this registrar is refused on the fast path as on the
// stateful one (403), and one without a route at all gets 481.
func TestStatelessByeRefusals(t *testing.T) {
	r, _ := startTest(t, Config{}, testAccounts)
	p := newUDPPeer(t, r)
	host, me := r.Addr().String(), p.c.LocalAddr().String()
	bye := func(route string) string {
		return fmt.Sprintf("BYE sip:alcatel@127.0.0.1:9 SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\n%sFrom: <sip:guillaume@%s>;tag=a\r\nTo: <sip:alcatel@%s>;tag=b\r\nCall-ID: forged\r\nCSeq: 3 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
			me, sipid.Token(6), route, host, host)
	}
	p.send(bye(fmt.Sprintf("Route: <sip:%s;lr;dpr=0123456789abcdef>\r\n", host)))
	if res := p.next(); !strings.HasPrefix(res, "SIP/2.0 403") {
		t.Fatalf("BYE with a forged route: %.80q, want 403", res)
	}
	p.send(bye(""))
	if res := p.next(); !strings.HasPrefix(res, "SIP/2.0 481") {
		t.Fatalf("BYE without a route: %.80q, want 481", res)
	}
}

// The byte-level looks of the fast path before parsing.
func TestFastCallScreens(t *testing.T) {
	msg := "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nproxy-authorization : Digest x\r\n\r\nProxy-Authorization: in the body\r\n"
	if !hasHeader([]byte(msg), "Proxy-Authorization") {
		t.Error("Proxy-Authorization in another case and with a space before the colon not seen")
	}
	if hasHeader([]byte("INVITE sip:a@b SIP/2.0\r\nVia: x\r\n\r\nProxy-Authorization: in the body\r\n"), "Proxy-Authorization") {
		t.Error("a line of the body taken for a header")
	}
	res := func(via string) []byte {
		return []byte("SIP/2.0 200 OK\r\n" + via + "\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=" + statelessBranchPrefix + "1\r\n\r\n")
	}
	for via, want := range map[string]bool{
		"Via: SIP/2.0/UDP 10.0.0.2;branch=" + statelessBranchPrefix + "abc":                                                    true,
		"v: SIP/2.0/UDP 10.0.0.2;branch=" + statelessBranchPrefix + "abc":                                                      true,
		"Via: SIP/2.0/UDP 10.0.0.2;branch=" + branchPrefix + "abc":                                                             false,
		"Via: SIP/2.0/UDP 10.0.0.2;branch=" + branchPrefix + "abc, SIP/2.0/UDP 10.0.0.1;branch=" + statelessBranchPrefix + "1": false,
	} {
		if got := topViaStateless(res(via)); got != want {
			t.Errorf("%q: %v, want %v", via, got, want)
		}
	}
	if strings.ContainsAny(sipid.Token(64), ".") {
		t.Error("a random branch may look like a stateless one")
	}
}

// sipgoTxKey hashes the very key sipgo gives the transaction.
func TestSipgoTxKeyIsSipgos(t *testing.T) {
	req := parseMsg(t, "BYE sip:a@10.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKabc\nFrom: <sip:b@10.0.0.2>;tag=1\nTo: <sip:a@10.0.0.1>;tag=2\nCall-ID: k\nCSeq: 3 BYE\nContent-Length: 0\n\n").(*sip.Request)
	got, ok := sipgoTxKey(req, sip.BYE)
	if want := fnvString(fnvOffset, "z9hG4bKabc__10.0.0.2__5060__BYE"); !ok || got != want {
		t.Errorf("sipgoTxKey = %x, %v; want %x", got, ok, want)
	}
	h := fnv.New64a()
	h.Write([]byte("z9hG4bKabc__10.0.0.2__5060__BYE"))
	if got != h.Sum64() {
		t.Errorf("not FNV-1a")
	}
}

// Any datagram that starts like a call message: no panic, no error logged, nothing queued that
// the workers cannot handle.
func FuzzCallFastPath(f *testing.F) {
	f.Add(0, "sip:5001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKx;rport\r\nFrom: <sip:guillaume@127.0.0.1>;tag=1\r\nTo: <sip:5001@127.0.0.1>\r\nCall-ID: a\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	f.Add(1, "sip:5001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKx\r\nRoute: <sip:127.0.0.1;lr;dpr=00>\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: a\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	f.Add(2, "sip:alcatel@127.0.0.1:9 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKx\r\nRoute: <sip:127.0.0.1;lr;dpr=00>\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: a\r\nCSeq: 3 BYE\r\nMax-Forwards: 0\r\nContent-Length: 0\r\n\r\n")
	f.Add(3, "200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch="+statelessBranchPrefix+"00\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKx;rport=5999\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: a\r\nCSeq: 3 BYE\r\nContent-Length: 0\r\n\r\n")
	sink, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer sink.Close()
	starts := []string{"INVITE ", "ACK ", "BYE ", "SIP/2.0 "}
	f.Fuzz(func(t *testing.T, start int, rest string) {
		log := slog.New(failOnError{slog.DiscardHandler, t})
		r, err := New(Config{Realm: "deskphone"}, testAccounts, log)
		if err != nil {
			t.Fatal(err)
		}
		fp := newFastPath(context.Background(), r, sink)
		data := []byte(starts[uint(start)%uint(len(starts))] + rest)
		if !fp.takeCall(data, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5999}) {
			return
		}
		for _, q := range fp.calls {
			select {
			case j := <-q:
				fp.handleCall(j)
			default:
			}
		}
	})
}
