package media

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deskphone/deskphone/test/baresip"
)

// Interoperability with a real RTP stack: baresip answers a call whose SDP comes from our
// Session (a bare SIP INVITE sent by the test), plays a 700 Hz WAV, and must receive our audio,
// RTCP and DTMF. Skipped when baresip is not installed (Debian package baresip-core).

// freeUDPPort returns a port free on 127.0.0.1 (with its neighbour when even is set).
func freeUDPPort(t *testing.T, even bool) int {
	t.Helper()
	for i := 0; i < 100; i++ {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
		if err != nil {
			t.Fatal(err)
		}
		p := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if !even {
			return p
		}
		if p%2 != 0 || p > 65000 {
			continue
		}
		ok := true
		for q := p; q < p+40; q++ {
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: q})
			if err != nil {
				ok = false
				break
			}
			c.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

// startBaresip runs baresip (test/baresip) answering calls to b@127.0.0.1:port itself and playing
// a sine of toneHz.
func startBaresip(t *testing.T, toneHz int) (peer *baresip.Phone, port int) {
	t.Helper()
	port = freeUDPPort(t, false)
	ctrl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctrlPort := ctrl.Addr().(*net.TCPAddr).Port
	ctrl.Close()
	rtp := freeUDPPort(t, true)
	peer = baresip.Start(t, baresip.Config{ListenIP: "127.0.0.1", SIPPort: port, CtrlPort: ctrlPort,
		RTPMin: rtp, RTPMax: rtp + 39, ToneHz: toneHz,
		Account: fmt.Sprintf("<sip:b@127.0.0.1:%d>;regint=0;answermode=auto;audio_codecs=PCMA,PCMU", port)})
	return peer, port
}

// sipCall is the smallest UAC that can set up and tear down one call (RFC 3261 §17.1 without
// retransmissions, which loopback does not need).
type sipCall struct {
	conn       *net.UDPConn
	to         *net.UDPAddr
	callID     string
	fromTag    string
	toHeader   string
	contactURI string
	local      string
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (c *sipCall) send(t *testing.T, msg string) {
	t.Helper()
	if _, err := c.conn.WriteToUDP([]byte(msg), c.to); err != nil {
		t.Fatal(err)
	}
}

// response waits for a final response to method.
func (c *sipCall) response(t *testing.T, method string) (code int, headers map[string]string, body []byte) {
	t.Helper()
	buf := make([]byte, 8192)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c.conn.SetReadDeadline(deadline)
		n, _, err := c.conn.ReadFromUDP(buf)
		if err != nil {
			break
		}
		msg := buf[:n]
		head, b, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
		lines := strings.Split(string(head), "\r\n")
		if !strings.HasPrefix(lines[0], "SIP/2.0 ") {
			continue // a request from baresip: not needed here
		}
		code, _ = strconv.Atoi(strings.Fields(lines[0])[1])
		headers = map[string]string{}
		for _, l := range lines[1:] {
			k, v, _ := strings.Cut(l, ":")
			headers[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
		if !strings.HasSuffix(headers["cseq"], method) || code < 200 {
			continue
		}
		return code, headers, append([]byte(nil), b...)
	}
	t.Fatalf("no final response to %s", method)
	return 0, nil, nil
}

func (c *sipCall) request(method, uri string, cseq int, to, ctype string, body []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, uri)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\n", c.local, randHex(6))
	fmt.Fprintf(&b, "Max-Forwards: 70\r\nFrom: <sip:media-test@%s>;tag=%s\r\nTo: %s\r\n", c.local, c.fromTag, to)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d %s\r\nContact: <sip:media-test@%s>\r\n", c.callID, cseq, method, c.local)
	if ctype != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", ctype)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

func TestInteropWithBaresip(t *testing.T) {
	peer, port := startBaresip(t, 700)
	cfg := DefaultConfig()
	cfg.DTMFPayloadType = 96 // as an Alcatel would offer
	s := newTestSession(t, cfg)
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &sipCall{conn: conn, to: &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: port},
		callID: randHex(8) + "@127.0.0.1", fromTag: randHex(4), local: conn.LocalAddr().String()}
	target := fmt.Sprintf("sip:b@127.0.0.1:%d", port)

	offer, err := s.Offer()
	if err != nil {
		t.Fatal(err)
	}
	c.send(t, c.request("INVITE", target, 1, "<"+target+">", "application/sdp", offer))
	code, h, answer := c.response(t, "INVITE")
	if code != 200 {
		t.Fatalf("INVITE answered %d", code)
	}
	c.toHeader = h["to"]
	c.contactURI = strings.Trim(strings.SplitN(h["contact"], ";", 2)[0], "<>")
	if i := strings.Index(c.contactURI, ">"); i >= 0 {
		c.contactURI = c.contactURI[:i]
	}
	c.send(t, c.request("ACK", c.contactURI, 1, c.toHeader, "", nil))
	if err := s.AcceptAnswer(answer); err != nil {
		t.Fatalf("baresip's answer: %v\n%s", err, answer)
	}
	mustHave(t, answer, "a=rtpmap:96 telephone-event/8000") // baresip follows our payload type

	e := runAudio(t, s, 1000)
	waitPlayed(t, 2*SampleRate, e)
	if err := s.SendDTMF("159#"); err != nil {
		t.Fatal(err)
	}
	events := peer.Events()
	peer.Command(t, "sndcode", "7") // a key pressed on baresip during a call sends DTMF
	got := collectDigitsUntil(s, 1, 5*time.Second)
	for _, d := range "159#" {
		i, ev := peer.WaitEvent(t, "CALL_DTMF_START", events, 5*time.Second)
		if ev["param"] != string(d) {
			t.Errorf("baresip received digit %v, want %q (of 159#)", ev["param"], d)
		}
		events = i + 1
	}
	waitFor(t, 15*time.Second, "an RTCP report from baresip about our stream", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.tx.haveRemote && s.tx.remote.highestSeq != 0
	})

	st := s.Stats()
	checkTone(t, "we hear baresip", e.playedSince(8000), 700)
	if st.MalformedDropped+st.RTCPMalformedDropped+st.UnknownPayloadDropped+st.ForeignSourceDropped != 0 {
		t.Errorf("packets from baresip dropped: %+v", st)
	}
	if got != "7" {
		t.Errorf("digits from baresip: %q, want \"7\"", got)
	}
	c.send(t, c.request("BYE", c.contactURI, 2, c.toHeader, "", nil))
	if code, _, _ := c.response(t, "BYE"); code != 200 {
		t.Errorf("BYE answered %d", code)
	}
	t.Logf("stats: %+v", st)
}

func collectDigitsUntil(s *Session, n int, d time.Duration) string {
	var got []rune
	timeout := time.After(d)
	for len(got) < n {
		select {
		case r := <-s.DTMF():
			got = append(got, r)
		case <-timeout:
			return string(got)
		}
	}
	return string(got)
}
