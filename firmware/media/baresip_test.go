package media

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Interoperability with a real RTP stack: baresip answers a call whose SDP comes from our
// Session (a bare SIP INVITE sent by the test), plays a 700 Hz WAV, and must receive our audio,
// RTCP and DTMF. Skipped when baresip is not installed (Debian package baresip-core).

type baresipPeer struct {
	port  int
	log   *syncBuffer
	stdin io.WriteCloser
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func writeSineWAV(t *testing.T, path string, freq float64, seconds int) {
	t.Helper()
	n := seconds * SampleRate
	b := make([]byte, 44, 44+2*n)
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], SampleRate)
	binary.LittleEndian.PutUint32(b[28:], 2*SampleRate)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*n))
	for i := 0; i < n; i++ {
		b = binary.LittleEndian.AppendUint16(b, uint16(int16(8000*math.Sin(2*math.Pi*freq*float64(i)/SampleRate))))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

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

// startBaresip starts baresip answering calls with a tone of toneHz; mediaenc ("", "srtp",
// "srtp-mand") is its account's media encryption.
func startBaresip(t *testing.T, toneHz float64, mediaenc string) *baresipPeer {
	t.Helper()
	bin, err := exec.LookPath("baresip")
	if err != nil {
		t.Skip("baresip not installed (apt-get install baresip-core)")
	}
	dir := t.TempDir()
	wav := filepath.Join(dir, "tone.wav")
	writeSineWAV(t, wav, toneHz, 30)
	port, rtp := freeUDPPort(t, false), freeUDPPort(t, true)
	conf := fmt.Sprintf(`poll_method epoll
net_interface 127.0.0.1
sip_listen 127.0.0.1:%d
audio_source aufile,%s
audio_player aubridge,speaker
audio_alert aubridge,alert
ausrc_srate 8000
auplay_srate 8000
ausrc_channels 1
auplay_channels 1
rtp_ports %d-%d
module_path /usr/lib/baresip/modules
module stdio.so
module g711.so
module aufile.so
module aubridge.so
module_app account.so
module_app menu.so
`, port, wav, rtp, rtp+39)
	acctParams := ""
	if mediaenc != "" {
		conf += "module srtp.so\n"
		acctParams = ";mediaenc=" + mediaenc
	}
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	acct := fmt.Sprintf("<sip:b@127.0.0.1:%d>;regint=0;answermode=auto;audio_codecs=PCMA,PCMU%s\n", port, acctParams)
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(acct), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-v", "-f", dir)
	p := &baresipPeer{port: port, log: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel() // kills the process we started, by its PID
		cmd.Wait()
		if t.Failed() {
			t.Logf("baresip log:\n%s", p.log.String())
		}
	})
	waitFor(t, 5*time.Second, "baresip to start", func() bool { return strings.Contains(p.log.String(), "baresip is ready") })
	return p
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

// callBaresip sends offer to peer in an INVITE from a fresh socket, ACKs the 200 OK and returns
// the call (for its BYE) and baresip's answer.
func callBaresip(t *testing.T, peer *baresipPeer, offer []byte) (*sipCall, []byte) {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &sipCall{conn: conn, to: &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: peer.port},
		callID: randHex(8) + "@127.0.0.1", fromTag: randHex(4), local: conn.LocalAddr().String()}
	target := fmt.Sprintf("sip:b@127.0.0.1:%d", peer.port)
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
	return c, answer
}

// hangup sends BYE and expects 200.
func (c *sipCall) hangup(t *testing.T) {
	t.Helper()
	c.send(t, c.request("BYE", c.contactURI, 2, c.toHeader, "", nil))
	if code, _, _ := c.response(t, "BYE"); code != 200 {
		t.Errorf("BYE answered %d", code)
	}
}

// waitBaresipDigits waits until baresip logs each of digits as received.
func waitBaresipDigits(t *testing.T, peer *baresipPeer, digits string) {
	t.Helper()
	waitFor(t, 5*time.Second, "baresip to receive our digits", func() bool {
		log := peer.log.String()
		for _, d := range digits {
			if !strings.Contains(log, fmt.Sprintf("received event: '%c'", d)) {
				return false
			}
		}
		return true
	})
}

// waitReportAboutUs waits for an RTCP receiver report block about our stream.
func waitReportAboutUs(t *testing.T, s *Session) {
	t.Helper()
	waitFor(t, 15*time.Second, "an RTCP report from baresip about our stream", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.tx.haveRemote && s.tx.remote.highestSeq != 0
	})
}

func TestInteropWithBaresip(t *testing.T) {
	peer := startBaresip(t, 700, "")
	cfg := DefaultConfig()
	cfg.DTMFPayloadType = 96 // as an Alcatel would offer
	s := newTestSession(t, cfg)
	offer, err := s.Offer()
	if err != nil {
		t.Fatal(err)
	}
	c, answer := callBaresip(t, peer, offer)
	if err := s.AcceptAnswer(answer); err != nil {
		t.Fatalf("baresip's answer: %v\n%s", err, answer)
	}
	mustHave(t, answer, "a=rtpmap:96 telephone-event/8000") // baresip follows our payload type

	e := runAudio(t, s, 1000)
	waitPlayed(t, 2*SampleRate, e)
	if err := s.SendDTMF("159#"); err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(peer.stdin, "7") // a key pressed on baresip's console during a call sends DTMF
	got := collectDigitsUntil(s, 1, 5*time.Second)
	waitBaresipDigits(t, peer, "159#")
	waitReportAboutUs(t, s)

	st := s.Stats()
	checkTone(t, "we hear baresip", e.playedSince(8000), 700)
	if st.MalformedDropped+st.RTCPMalformedDropped+st.UnknownPayloadDropped+st.ForeignSourceDropped != 0 {
		t.Errorf("packets from baresip dropped: %+v", st)
	}
	if got != "7" {
		t.Errorf("digits from baresip: %q, want \"7\"", got)
	}
	c.hangup(t)
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
