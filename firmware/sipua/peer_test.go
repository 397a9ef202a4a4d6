package sipua

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// rawPeer is a SIP endpoint on a loopback UDP socket driven message by message, for exchanges a
// user agent does not produce on cue (a re-INVITE crossing ours, a NOTIFY carrying a refusal).
type rawPeer struct {
	t    *testing.T
	conn *net.UDPConn
	ua   *net.UDPAddr // the user agent under test

	// The dialog, once there is one.
	local  *sip.FromHeader // our side, with our tag
	remote *sip.ToHeader   // the user agent's side, with its tag
	callID string
	target sip.Uri // the user agent's Contact
	cseq   uint32
}

const peerSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0\r\na=sendrecv\r\n"

func newRawPeer(t *testing.T, ua *UA) *rawPeer {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	dst, _ := net.ResolveUDPAddr("udp", ua.Addr())
	return &rawPeer{t: t, conn: conn, ua: dst}
}

func (p *rawPeer) addr() string { return p.conn.LocalAddr().String() }

// read returns the next message matching keep, skipping others (retransmissions).
func (p *rawPeer) read(what string, keep func(sip.Message) bool) sip.Message {
	p.t.Helper()
	buf := make([]byte, 8192)
	for {
		p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			p.t.Fatalf("waiting for %s: %v", what, err)
		}
		msg, err := sip.ParseMessage(buf[:n])
		if err != nil {
			p.t.Fatal(err)
		}
		if keep(msg) {
			return msg
		}
	}
}

func (p *rawPeer) request(method sip.RequestMethod) *sip.Request {
	p.t.Helper()
	return p.read(string(method), func(m sip.Message) bool {
		req, ok := m.(*sip.Request)
		return ok && req.Method == method
	}).(*sip.Request)
}

func (p *rawPeer) response(method sip.RequestMethod, cseq uint32) *sip.Response {
	p.t.Helper()
	return p.read("response to "+string(method), func(m sip.Message) bool {
		res, ok := m.(*sip.Response)
		return ok && res.CSeq().MethodName == method && res.CSeq().SeqNo == cseq && !res.IsProvisional()
	}).(*sip.Response)
}

func (p *rawPeer) send(m sip.Message) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDP([]byte(m.String()), p.ua); err != nil {
		p.t.Fatal(err)
	}
}

// answer answers req (in the dialog, with our tag) with code and an optional SDP body.
func (p *rawPeer) answer(req *sip.Request, code int, reason string, sdp string) {
	var body []byte
	if sdp != "" {
		body = []byte(sdp)
	}
	res := sip.NewResponseFromRequest(req, code, reason, body)
	if !res.To().Params.Has("tag") {
		res.To().Params.Add("tag", "peertag")
	}
	if sdp != "" {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	port := p.conn.LocalAddr().(*net.UDPAddr).Port
	res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "peer", Host: "127.0.0.1", Port: port}})
	p.send(res)
}

// accept takes the user agent's INVITE, answers 200 and reads the ACK: the dialog is up.
func (p *rawPeer) accept() {
	p.t.Helper()
	inv := p.request(sip.INVITE)
	p.answer(inv, 200, "OK", peerSDP)
	p.request(sip.ACK)
	p.local = &sip.FromHeader{Address: inv.To().Address, Params: sip.NewParams()}
	p.local.Params.Add("tag", "peertag")
	tag, _ := inv.From().Params.Get("tag")
	p.remote = &sip.ToHeader{Address: inv.From().Address, Params: sip.NewParams()}
	p.remote.Params.Add("tag", tag)
	p.callID, p.target = callIDOf(inv), inv.Contact().Address
}

// call sends the user agent an INVITE from us (the dialog's other half comes with its 2xx, see
// answered).
func (p *rawPeer) call(ua *UA) *sip.Request {
	p.t.Helper()
	host, port, _ := net.SplitHostPort(ua.Addr())
	p.target = sip.Uri{Scheme: "sip", User: "ua", Host: host}
	p.target.Port, _ = strconv.Atoi(port)
	p.local = &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "peer", Host: "127.0.0.1"}, Params: sip.NewParams()}
	p.local.Params.Add("tag", "peertag")
	p.remote = &sip.ToHeader{Address: p.target, Params: sip.NewParams()}
	p.callID = sip.GenerateTagN(16) + "@127.0.0.1"
	inv := p.inDialog(sip.INVITE, "application/sdp", peerSDP)
	p.send(inv)
	return inv
}

// answered takes the user agent's 2xx to our INVITE: its tag and Contact complete the dialog.
func (p *rawPeer) answered(res *sip.Response) {
	tag, _ := res.To().Params.Get("tag")
	p.remote.Params = sip.NewParams()
	p.remote.Params.Add("tag", tag)
	p.target = res.Contact().Address
}

// inDialog builds a request of ours in the dialog.
func (p *rawPeer) inDialog(method sip.RequestMethod, contentType, body string) *sip.Request {
	p.cseq++
	req := sip.NewRequest(method, p.target)
	port := p.conn.LocalAddr().(*net.UDPAddr).Port
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "127.0.0.1", Port: port, Params: sip.NewParams()}
	via.Params.Add("branch", sip.GenerateBranch())
	cid := sip.CallIDHeader(p.callID)
	req.AppendHeader(via)
	req.AppendHeader(sip.HeaderClone(p.local))
	req.AppendHeader(sip.HeaderClone(p.remote))
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: p.cseq, MethodName: method})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "peer", Host: "127.0.0.1", Port: port}})
	if body != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", contentType))
		req.SetBody([]byte(body))
	}
	return req
}

// ack acknowledges a non-2xx final response to our INVITE req (same transaction, RFC 3261
// §17.1.1.3).
func (p *rawPeer) ack(req *sip.Request) {
	ack := sip.NewRequest(sip.ACK, req.Recipient)
	for _, name := range []string{"Via", "From", "To", "Call-ID", "Max-Forwards"} {
		if h := req.GetHeader(name); h != nil {
			ack.AppendHeader(sip.HeaderClone(h))
		}
	}
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: req.CSeq().SeqNo, MethodName: sip.ACK})
	p.send(ack)
}

// callPeer sets up a call from a fresh user agent to a raw peer.
func callPeer(t *testing.T) (*UA, *events, *rawPeer) {
	a, aev, _ := startUA(t, "alice")
	p := newRawPeer(t, a)
	a.Dial("out-1", "peer@"+p.addr(), "")
	p.accept()
	aev.want(t, "answered out-1")
	return a, aev, p
}

// Glare (RFC 3261 §14): the far end's re-INVITE that crosses ours gets 491 and changes nothing;
// sent again once ours is done, it is answered.
func TestReInviteGlare(t *testing.T) {
	a, aev, p := callPeer(t)
	a.Hold("out-1", true)
	ours := p.request(sip.INVITE)
	if !strings.Contains(string(ours.Body()), "a=sendonly") {
		t.Fatalf("hold offer without sendonly:\n%s", ours.Body())
	}
	hold := strings.Replace(peerSDP, "sendrecv", "sendonly", 1)
	theirs := p.inDialog(sip.INVITE, "application/sdp", hold)
	p.send(theirs)
	if res := p.response(sip.INVITE, theirs.CSeq().SeqNo); res.StatusCode != 491 {
		t.Fatalf("crossing re-INVITE answered %d, want 491", res.StatusCode)
	}
	p.ack(theirs)
	p.answer(ours, 200, "OK", strings.Replace(peerSDP, "sendrecv", "recvonly", 1))
	p.request(sip.ACK)

	theirs = p.inDialog(sip.INVITE, "application/sdp", hold)
	p.send(theirs)
	if res := p.response(sip.INVITE, theirs.CSeq().SeqNo); res.StatusCode != 200 {
		t.Fatalf("re-INVITE after ours answered %d, want 200", res.StatusCode)
	}
	p.ack(theirs)
	aev.want(t, "remotehold out-1 true")
	p.hangUp(a)
}

// hangUp ends the call from the user agent's side, the peer answering the BYE.
func (p *rawPeer) hangUp(a *UA) {
	p.t.Helper()
	a.Hangup("out-1")
	p.answer(p.request(sip.BYE), 200, "OK", "")
}

// A transfer the far end refuses, in its NOTIFY (sipfrag 400) or by answering the REFER, is
// reported with the far end's words and the call goes on.
func TestTransferRefusedByFarEnd(t *testing.T) {
	a, aev, p := callPeer(t)
	a.Transfer("out-1", "carol@127.0.0.1:5999")
	refer := p.request(sip.REFER)
	if h := refer.GetHeader("Refer-To"); h == nil || !strings.Contains(h.Value(), "carol@127.0.0.1:5999") {
		t.Fatalf("Refer-To %v", h)
	}
	p.answer(refer, 202, "Accepted", "")
	notify := p.inDialog(sip.NOTIFY, "message/sipfrag;version=2.0", "SIP/2.0 400 Bad Request\r\n")
	notify.AppendHeader(sip.NewHeader("Event", "refer"))
	notify.AppendHeader(sip.NewHeader("Subscription-State", "terminated;reason=noresource"))
	p.send(notify)
	if res := p.response(sip.NOTIFY, notify.CSeq().SeqNo); res.StatusCode != 200 {
		t.Fatalf("NOTIFY answered %d", res.StatusCode)
	}
	if got := aev.want(t, "transfer-failed out-1"); got != "transfer-failed out-1 refused by the far end (400 Bad Request)" {
		t.Fatalf("got %q", got)
	}

	a.Transfer("out-1", "carol@127.0.0.1:5999")
	p.answer(p.request(sip.REFER), 603, "Decline", "")
	if got := aev.want(t, "transfer-failed out-1"); got != "transfer-failed out-1 refused by the far end (603 Decline)" {
		t.Fatalf("got %q", got)
	}
	p.hangUp(a) // the call went on
	aev.want(t, "ended out-1 hangup")
}

// UPDATE (RFC 3311) is answered: with an SDP answer for an offer (here, hold), with a plain 200
// for a session refresh without a body.
func TestUpdateAnswered(t *testing.T) {
	a, aev, p := callPeer(t)
	up := p.inDialog(sip.UPDATE, "application/sdp", strings.Replace(peerSDP, "sendrecv", "sendonly", 1))
	p.send(up)
	res := p.response(sip.UPDATE, up.CSeq().SeqNo)
	if res.StatusCode != 200 || !strings.Contains(string(res.Body()), "a=recvonly") {
		t.Fatalf("UPDATE with a hold offer answered %d:\n%s", res.StatusCode, res.Body())
	}
	aev.want(t, "remotehold out-1 true")
	refresh := p.inDialog(sip.UPDATE, "", "")
	p.send(refresh)
	if res := p.response(sip.UPDATE, refresh.CSeq().SeqNo); res.StatusCode != 200 || len(res.Body()) != 0 {
		t.Fatalf("session refresh answered %d with %q", res.StatusCode, res.Body())
	}
	p.hangUp(a)
}

// ack2xx acknowledges the user agent's 2xx to our INVITE with CSeq seq (a request of its own in
// the dialog, RFC 3261 §13.2.2.4).
func (p *rawPeer) ack2xx(seq uint32) {
	ack := p.inDialog(sip.ACK, "", "")
	p.cseq--
	ack.CSeq().SeqNo = seq
	p.send(ack)
}

// A re-INVITE that overtakes the ACK of our 2xx on its way to the call (sipgo hands each message
// to its own goroutine) is no glare: the far end sends it only after its ACK. It is answered,
// and the late ACK changes nothing.
func TestReInviteOvertakingAck(t *testing.T) {
	u, ev, _ := startUA(t, "ua")
	p := newRawPeer(t, u)
	p.call(u)
	ev.want(t, "incoming in-1")
	u.Answer("in-1")
	ok := p.response(sip.INVITE, 1)
	if ok.StatusCode != 200 {
		t.Fatalf("INVITE answered %d", ok.StatusCode)
	}
	p.answered(ok)
	hold := p.inDialog(sip.INVITE, "application/sdp", strings.Replace(peerSDP, "sendrecv", "sendonly", 1))
	p.send(hold) // before the ACK
	if res := p.response(sip.INVITE, hold.CSeq().SeqNo); res.StatusCode != 200 {
		t.Fatalf("re-INVITE before the ACK answered %d, want 200", res.StatusCode)
	}
	p.ack2xx(1)
	p.ack2xx(hold.CSeq().SeqNo)
	ev.wantAll(t, "answered in-1", "remotehold in-1 true")
	u.Hangup("in-1")
	p.answer(p.request(sip.BYE), 200, "OK", "")
	ev.want(t, "ended in-1 hangup")
}
