package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskphone/deskphone/firmware/media/g711"
	"github.com/deskphone/deskphone/provisioning"
	"github.com/deskphone/deskphone/test/tone"
)

// The simulated phone: an IP Touch 4018 EE on SIP firmware 2.01.10.
const (
	alcatelUA  = "Alcatel IP Touch 4018/2.01.10"
	alcatelMAC = "00809F5607AE"
	dtmfPT     = 96 // the Alcatel's dtmf_avt_payload_type
	piTone     = 440.0
	phoneTone  = 1000.0
)

// alcatelEnv is a deskphone with registrar, phone (file audio backend, auto-answer), web API and
// Alcatel provisioning on loopback ports.
type alcatelEnv struct {
	*Service
	SIPPort  int
	WebPort  int
	Web      string // http://127.0.0.1:port
	Firmware map[string][]byte
	Speaker  string // WAV of everything the Pi's speaker played
}

func startAlcatelEnv(t *testing.T, pairing string) *alcatelEnv {
	t.Helper()
	requireTool(t, "sipp", "sip-tester")
	dir := t.TempDir()
	fw := filepath.Join(dir, "boot", "alcatel")
	if err := os.MkdirAll(fw, 0o755); err != nil {
		t.Fatal(err)
	}
	e := &alcatelEnv{Firmware: map[string][]byte{}, Speaker: filepath.Join(dir, "speaker.wav")}
	for _, name := range []string{"noesip4018", "datsip4018"} {
		b := make([]byte, 64<<10)
		rand.Read(b)
		e.Firmware[name] = b
		if err := os.WriteFile(filepath.Join(fw, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mic := filepath.Join(dir, "mic.wav")
	tone.WriteSine(t, mic, piTone, 8000, 2*time.Second)

	e.SIPPort = freePort(t, "both")
	e.WebPort = freePort(t, "tcp")
	phonePort := freePort(t, "both")
	rtpBase := freePort(t, "udp")
	if rtpBase%2 == 1 {
		rtpBase--
	}
	if rtpBase > 65500 {
		rtpBase = 40000 + rtpBase%20000
	}
	e.Web = fmt.Sprintf("http://127.0.0.1:%d", e.WebPort)
	cfg := fmt.Sprintf(`timezone = "Europe/Paris"

[registrar]
enabled = true
listen = "127.0.0.1:%d"
realm = "deskphone"
qualify_interval = "0s"

[phone]
enabled = true
registrar = "127.0.0.1:%d"
listen = "127.0.0.1:%d"
extension = "5002"
username = "rpi"
display_name = "Raspberry Pi"
auto_answer = true
codecs = ["PCMA", "PCMU"]
dtmf_payload_type = %d
rtp_port_min = %d
rtp_port_max = %d

[audio]
backend = "file"
input = %q
output = %q

[web]
listen = "127.0.0.1:%d"
https_listen = "127.0.0.1:0"

[provisioning]
enabled = true
pairing = %q
firmware_dir = %q
first_extension = "5001"
poll_minutes = 60
`, e.SIPPort, e.SIPPort, phonePort, dtmfPT, rtpBase, rtpBase+10, mic, e.Speaker, e.WebPort, pairing, fw)
	e.Service = startService(t, cfg)
	return e
}

// api calls the web API and returns the status and the body.
func (e *alcatelEnv) api(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.Web+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// simAlcatel fetches its files the way an IP Touch does after a restart with DL scheme HTTP: both
// firmware files first, then sipconfig.txt, then sipconfig-<MAC>.txt, with its User-Agent, from
// its own address.
type simAlcatel struct {
	MAC    string
	Source string // local address the phone fetches from (127.0.0.0/8)
	Lower  bool   // the MAC in lower case in the file name
	client *http.Client
}

func newSimAlcatel(mac, source string, lower bool) *simAlcatel {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
	return &simAlcatel{MAC: mac, Source: source, Lower: lower, client: &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
	}}
}

func (a *simAlcatel) get(t *testing.T, base, name string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/"+name, nil)
	req.Header.Set("User-Agent", alcatelUA)
	res, err := a.client.Do(req)
	if err != nil {
		t.Fatalf("GET /%s: %v", name, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// boot plays a restart and returns the status of the per-phone file and the parsed file if served.
func (a *simAlcatel) boot(t *testing.T, e *alcatelEnv) (int, provisioning.File) {
	t.Helper()
	for _, name := range []string{"noesip4018", "datsip4018"} {
		code, b := a.get(t, e.Web, name)
		if code != http.StatusOK || !bytes.Equal(b, e.Firmware[name]) {
			t.Fatalf("firmware %s: %d, %d bytes (want the %d bytes in the folder)", name, code, len(b), len(e.Firmware[name]))
		}
	}
	code, b := a.get(t, e.Web, "sipconfig.txt")
	if code != http.StatusOK {
		t.Fatalf("sipconfig.txt: %d", code)
	}
	if _, err := provisioning.Parse(b); err != nil {
		t.Fatalf("sipconfig.txt does not parse: %v", err)
	}
	name := "sipconfig-" + a.MAC + ".txt"
	if a.Lower {
		name = strings.ToLower(name)
	}
	code, b = a.get(t, e.Web, name)
	if code != http.StatusOK {
		return code, provisioning.File{}
	}
	f, err := provisioning.Parse(b)
	if err != nil {
		t.Fatalf("%s does not parse: %v\n%s", name, err, b)
	}
	return code, f
}

func val(t *testing.T, f provisioning.File, section, key string) string {
	t.Helper()
	v, ok := f.Get(section, key)
	if !ok {
		t.Fatalf("[%s] %s missing from the phone's file", section, key)
	}
	return v
}

// TestAlcatelPairsRegistersAndCalls is the user's story: with pairing closed a new Alcatel gets
// nothing; one pairing action later it boots, reads its file, registers with the credentials it
// found there (and nothing else), calls the Pi, and the Pi calls it back, with audio both ways and
// RFC 2833 telephone-events on payload type 96 both ways. The pairing survives a restart.
func TestAlcatelPairsRegistersAndCalls(t *testing.T) {
	e := startAlcatelEnv(t, "button")
	phone := newSimAlcatel(alcatelMAC, "127.0.0.1", true)

	if code, _ := phone.boot(t, e); code != http.StatusNotFound {
		t.Fatalf("unpaired phone with the window closed got %d", code)
	}
	if !strings.Contains(e.Logs(), "deskphone ctl pair") {
		t.Fatal("the log does not tell the user how to pair the refused phone")
	}
	if code, body := e.api(t, "POST", "/api/v1/pairing", `{"seconds":120}`); code != 200 || !strings.Contains(body, `"open": true`) {
		t.Fatalf("open pairing: %d %s", code, body)
	}
	code, f := phone.boot(t, e)
	if code != http.StatusOK {
		t.Fatalf("phone not served during the pairing window: %d", code)
	}
	// A second new phone in the same window gets nothing: the window closed with the first.
	if code, _ := newSimAlcatel("00809F7DF581", "127.0.1.2", false).boot(t, e); code != http.StatusNotFound {
		t.Fatalf("second phone in the same window: %d", code)
	}

	want := map[string]string{
		"sip.proxy_addr":              "127.0.0.1",
		"sip.registrar_addr":          "127.0.0.1",
		"sip.domain_name":             "127.0.0.1",
		"sip.registrar_port":          strconv.Itoa(e.SIPPort),
		"sip.authentication_realm":    "deskphone",
		"sip.user_name":               "5001",
		"audio.dtmf_type":             "0",
		"audio.dtmf_avt_payload_type": strconv.Itoa(dtmfPT),
		"init.application_mode":       "0",
		"sip.preferred_vocoder":       "8,0",
	}
	for k, v := range want {
		sec, key, _ := strings.Cut(k, ".")
		if got := val(t, f, sec, key); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if tz := val(t, f, "sntp", "timezone"); !strings.HasPrefix(tz, "UT::60:03") {
		t.Errorf("timezone %q is not Paris's for this year", tz)
	}

	// Restart the Pi: the phone, fetching now with its MAC in upper case, gets the same account.
	e.Restart(t)
	phone.Lower = false
	code, f2 := phone.boot(t, e)
	if code != http.StatusOK || val(t, f2, "sip", "authentication_password") != val(t, f, "sip", "authentication_password") {
		t.Fatalf("after a restart: %d, password changed", code)
	}
	// Another address asking for this MAC gets the same 404 as an unknown phone.
	if code, _ := newSimAlcatel(alcatelMAC, "127.0.1.3", false).boot(t, e); code != http.StatusNotFound {
		t.Fatalf("the paired MAC from another address got %d", code)
	}

	// Register with SIPp using only what the file says.
	registrar := val(t, f2, "sip", "registrar_addr") + ":" + val(t, f2, "sip", "registrar_port")
	user := val(t, f2, "sip", "user_name")
	authName := val(t, f2, "sip", "authentication_name")
	authPass := val(t, f2, "sip", "authentication_password")
	// The realm the file names is the one the registrar challenges with: the phone only answers a
	// challenge for its authentication_realm.
	probe := newRawUA(t, "127.0.0.1", registrar)
	res := probe.exchange(probe.register(user, registrar, ""), 5*time.Second)
	if realm := digestParam(headerValue(res, "WWW-Authenticate"), "realm"); statusOf(res) != 401 || realm != val(t, f2, "sip", "authentication_realm") {
		t.Fatalf("registrar challenge %d realm %q, file says %q", statusOf(res), realm, val(t, f2, "sip", "authentication_realm"))
	}
	sipPort := freePort(t, "udp")
	runSIPp(t, registrar, "-sf", sippScenario(t, "register_ok.xml"), "-key", "aor", user, "-key", "expires", val(t, f2, "sip", "register_expire"),
		"-au", authName, "-ap", authPass, "-i", "127.0.0.1", "-p", strconv.Itoa(sipPort))

	t.Run("Alcatel calls the Pi", func(t *testing.T) {
		rtpPort := freePort(t, "udp")
		peer := startRTPPeer(t, rtpPort)
		mark := len(e.Logs())
		done := make(chan error, 1)
		go func() {
			done <- trySIPp(t, 30*time.Second, registrar, "-sf", sippScenario(t, "alcatel_call.xml"), "-s", "5002",
				"-key", "aor", user, "-key", "rtpport", strconv.Itoa(rtpPort), "-key", "dtmfpt", strconv.Itoa(dtmfPT),
				"-au", authName, "-ap", authPass, "-i", "127.0.0.1", "-p", strconv.Itoa(sipPort), "-mp", strconv.Itoa(freePort(t, "udp")))
		}()
		if err := talk(t, e, peer, mark, "58", done); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("the Pi calls the Alcatel back", func(t *testing.T) {
		rtpPort := freePort(t, "udp")
		peer := startRTPPeer(t, rtpPort)
		mark := len(e.Logs())
		wait := startSIPp(t, "-sf", sippScenario(t, "alcatel_answer.xml"), "-key", "rtpport", strconv.Itoa(rtpPort),
			"-key", "dtmfpt", strconv.Itoa(dtmfPT), "-i", "127.0.0.1", "-p", strconv.Itoa(sipPort), "-mp", strconv.Itoa(freePort(t, "udp")))
		if code, body := e.api(t, "POST", "/api/v1/dial", `{"to":"5001"}`); code >= 300 {
			t.Fatalf("dial 5001: %d %s", code, body)
		}
		if err := talk(t, e, peer, mark, "9#", nil); err != nil {
			t.Fatal(err)
		}
		if code, body := e.api(t, "POST", "/api/v1/hangup", ""); code >= 300 {
			t.Fatalf("hang up: %d %s", code, body)
		}
		if err := wait(); err != nil {
			t.Fatal(err)
		}
	})

	// What the Pi's speaker played contains the Alcatel's tone.
	pcm := readAlcatelWAV(t, e.Speaker)
	t.Logf("Pi speaker: %.1f s recorded, %v Hz share %.2f", float64(len(pcm))/8000, phoneTone, bestToneRatio(pcm, phoneTone))
	if r := bestToneRatio(pcm, phoneTone); r < 0.5 {
		t.Errorf("the Pi's speaker never played the Alcatel's %v Hz tone (best ratio %.2f)", phoneTone, r)
	}
}

// talk runs the media of one answered call from the Alcatel's side: it waits for the Pi's audio,
// answers with its own tone, presses digits (telephone-events on PT 96) and has the Pi press one,
// then checks what each side got. A SIPp run that ends early (call refused) is returned as the
// error instead of waiting for media that cannot come.
func talk(t *testing.T, e *alcatelEnv, peer *rtpPeer, mark int, digits string, sipp <-chan error) error {
	t.Helper()
	select {
	case <-peer.got:
	case err := <-sipp:
		return fmt.Errorf("the call ended before any RTP: %v\n%s", err, lastLines(e.Logs()[mark:], 20))
	case <-time.After(10 * time.Second):
		return fmt.Errorf("no RTP from the Pi within 10 s\n%s", lastLines(e.Logs()[mark:], 20))
	}
	peer.sendTone(phoneTone, 1200*time.Millisecond)
	for _, d := range digits {
		peer.sendDigit(d)
		peer.sendTone(phoneTone, 200*time.Millisecond)
	}
	if code, body := e.api(t, "POST", "/api/v1/dtmf", `{"digits":"7"}`); code >= 300 {
		t.Fatalf("Pi DTMF: %d %s", code, body)
	}
	peer.sendTone(phoneTone, 800*time.Millisecond)

	for _, d := range digits {
		e.WaitLog(t, "digit="+string(d), 3*time.Second)
	}
	if !strings.Contains(e.Logs()[mark:], "DTMF received") {
		t.Errorf("the Pi logged no DTMF for this call")
	}
	if ev := peer.events(); !strings.Contains(ev, "7") {
		t.Errorf("the Alcatel side got telephone-events %q on PT %d, want 7", ev, dtmfPT)
	}
	t.Logf("Alcatel side: %.1f s of PCMA, %v Hz share %.2f, telephone-events on PT %d: %q",
		float64(len(peer.audio()))/8000, piTone, bestToneRatio(peer.audio(), piTone), dtmfPT, peer.events())
	if r := bestToneRatio(peer.audio(), piTone); r < 0.5 {
		t.Errorf("the Alcatel side did not hear the Pi's %v Hz tone (best ratio %.2f, %d samples)", piTone, r, len(peer.audio()))
	}
	return nil
}

// rtpPeer is the simulated Alcatel's media: PCMA on PT 8 and telephone-events on PT 96, on a socket
// whose port the SIPp scenario puts in its SDP. It sends to the address the Pi's RTP comes from.
type rtpPeer struct {
	t    *testing.T
	conn *net.UDPConn

	mu     sync.Mutex
	remote *net.UDPAddr
	pcm    []int16
	ev     []byte // event codes seen with the end bit
	seq    uint16
	ts     uint32
	ssrc   uint32
	got    chan struct{}
}

func startRTPPeer(t *testing.T, port int) *rtpPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	p := &rtpPeer{t: t, conn: c, ssrc: 0x41c47e1, got: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); p.read(ctx) }()
	t.Cleanup(func() { cancel(); c.Close(); wg.Wait() })
	return p
}

func (p *rtpPeer) read(ctx context.Context) {
	buf := make([]byte, 2048)
	lastEnd := map[uint32]bool{}
	for ctx.Err() == nil {
		n, from, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if n < 12 || buf[0]>>6 != 2 {
			continue
		}
		cc := int(buf[0] & 0x0f)
		hdr := 12 + 4*cc
		if n < hdr {
			continue
		}
		pt := buf[1] & 0x7f
		ts := binary.BigEndian.Uint32(buf[4:8])
		payload := buf[hdr:n]
		p.mu.Lock()
		if p.remote == nil {
			p.remote = from
			close(p.got)
		}
		switch {
		case pt == 8:
			for _, c := range payload {
				p.pcm = append(p.pcm, g711.DecodeALaw(c))
			}
		case int(pt) == dtmfPT && len(payload) >= 4 && payload[1]&0x80 != 0 && !lastEnd[ts]:
			lastEnd[ts] = true
			p.ev = append(p.ev, payload[0])
		}
		p.mu.Unlock()
	}
}

func (p *rtpPeer) audio() []int16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int16(nil), p.pcm...)
}

// events returns the digits received as telephone-events (RFC 4733 §3.2 codes).
func (p *rtpPeer) events() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, e := range p.ev {
		b.WriteByte("0123456789*#ABCD?"[min(int(e), 16)])
	}
	return b.String()
}

func (p *rtpPeer) send(pt byte, marker bool, ts uint32, payload []byte) {
	p.mu.Lock()
	remote := p.remote
	p.seq++
	pkt := make([]byte, 12, 12+len(payload))
	pkt[0] = 0x80
	pkt[1] = pt
	if marker {
		pkt[1] |= 0x80
	}
	binary.BigEndian.PutUint16(pkt[2:], p.seq)
	binary.BigEndian.PutUint32(pkt[4:], ts)
	binary.BigEndian.PutUint32(pkt[8:], p.ssrc)
	p.mu.Unlock()
	if remote != nil {
		p.conn.WriteToUDP(append(pkt, payload...), remote)
	}
}

// sendTone sends d of a sine at freq in 20 ms PCMA packets, paced in real time.
func (p *rtpPeer) sendTone(freq float64, d time.Duration) {
	frames := int(d / (20 * time.Millisecond))
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	pcm := make([]int16, 160)
	alaw := make([]byte, 160)
	for i := 0; i < frames; i++ {
		for j := range pcm {
			n := float64(p.ts) + float64(j)
			pcm[j] = int16(8000 * math.Sin(2*math.Pi*freq*n/8000))
		}
		p.send(8, false, p.ts, g711.EncodeALawFrame(alaw, pcm))
		p.ts += 160
		<-tick.C
	}
}

// sendDigit sends one digit as RFC 4733 telephone-event packets: 100 ms of event, then the end
// packet three times (§2.5.1.4), all with the event's start timestamp.
func (p *rtpPeer) sendDigit(d rune) {
	code := byte(strings.IndexRune("0123456789*#", d))
	start := p.ts
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 1; i <= 5; i++ {
		dur := uint16(160 * i)
		p.send(dtmfPT, i == 1, start, []byte{code, 10, byte(dur >> 8), byte(dur)})
		<-tick.C
	}
	for i := 0; i < 3; i++ {
		p.send(dtmfPT, false, start, []byte{code, 0x80 | 10, byte(800 >> 8), byte(800 & 0xff)})
	}
	p.ts += 800
}

// bestToneRatio is the largest share of energy at freq found in any 100 ms window of pcm (8 kHz),
// by the Goertzel algorithm: near 1 for a clean tone, near 0 for silence or another tone.
func bestToneRatio(pcm []int16, freq float64) float64 {
	const n = 800
	best := 0.0
	k := 2 * math.Cos(2*math.Pi*freq/8000)
	for off := 0; off+n <= len(pcm); off += n / 2 {
		var s1, s2, energy float64
		for _, v := range pcm[off : off+n] {
			x := float64(v)
			s1, s2 = x+k*s1-s2, s1
			energy += x * x
		}
		if energy < 1e6 { // silence
			continue
		}
		power := s1*s1 + s2*s2 - k*s1*s2
		if r := 2 * power / (n * energy); r > best {
			best = r
		}
	}
	return best
}

// readAlcatelWAV reads the samples of a 16-bit PCM WAV written by the file audio backend.
func readAlcatelWAV(t *testing.T, path string) []int16 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("speaker recording: %v", err)
	}
	if len(b) < 44 || string(b[0:4]) != "RIFF" {
		t.Fatalf("speaker recording %s is not a WAV file", path)
	}
	data := b[44:]
	out := make([]int16, len(data)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
	}
	return out
}

// TestAlcatelProvisioningRefusals: over the real listener, every refusal (a paired MAC from another
// address, an unknown MAC with the window closed, a file nobody serves, a traversal) is the same
// answer byte for byte but the Date; hostile paths never reach a file outside the firmware folder;
// a source guessing MACs is banned after a handful and gets no configuration at all, while the
// paired phone keeps being served (T26, T27, T28).
func TestAlcatelProvisioningRefusals(t *testing.T) {
	e := startAlcatelEnv(t, "button")
	phone := newSimAlcatel(alcatelMAC, "127.0.1.10", false)
	if code, body := e.api(t, "POST", "/api/v1/pairing", ""); code != 200 {
		t.Fatalf("open pairing: %d %s", code, body)
	}
	if code, _ := phone.boot(t, e); code != http.StatusOK {
		t.Fatalf("paired phone: %d", code)
	}

	fingerprint := func(src, path string) string {
		_, raw := rawHTTP(t, src, e.WebPort, "GET "+path+" HTTP/1.1\r\nHost: x\r\nUser-Agent: "+alcatelUA+"\r\nConnection: close\r\n\r\n")
		var keep []string
		for _, l := range strings.Split(raw, "\r\n") {
			if !strings.HasPrefix(l, "Date: ") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	want := fingerprint("127.0.1.20", "/no-such-file")
	if !strings.HasPrefix(want, "HTTP/1.1 404 ") {
		t.Fatalf("baseline refusal: %q", want)
	}
	for name, req := range map[string][2]string{
		"paired MAC from another address": {"127.0.1.21", "/sipconfig-" + alcatelMAC + ".txt"},
		"unknown MAC, window closed":      {"127.0.1.22", "/sipconfig-00809f7df581.txt"},
		"encoded traversal":               {"127.0.1.23", "/%2e%2e%2fdeskphone.toml"},
		"traversal in two segments":       {"127.0.1.24", "/%2e%2e/deskphone.toml"},
	} {
		if got := fingerprint(req[0], req[1]); got != want {
			t.Errorf("%s:\n%s\nwant\n%s", name, got, want)
		}
	}

	secret, err := os.ReadFile(e.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/../deskphone.toml", "/%2e%2e/deskphone.toml", "/..%2fdeskphone.toml", "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
		"/noesip4018%00", "/" + strings.Repeat("A", 5000), "/alcatel/noesip4018", "/..\\deskphone.toml", "/%252e%252e%252fdeskphone.toml"} {
		code, body := rawHTTP(t, "127.0.1.11", e.WebPort, "GET "+p+" HTTP/1.1\r\nHost: x\r\nUser-Agent: "+alcatelUA+"\r\nConnection: close\r\n\r\n")
		if code == http.StatusOK || strings.Contains(body, string(secret[:40])) || strings.Contains(body, "root:") {
			t.Errorf("GET %.60q = %d", p, code)
		}
	}

	// MAC enumeration from one address over the Alcatel OUI, the paired phone polling meanwhile.
	guesser := newSimAlcatel("00809F000000", "127.0.1.12", false)
	leaked, untilBan := 0, 0
	for i := 0; i < 200; i++ {
		code, _ := guesser.get(t, e.Web, fmt.Sprintf("sipconfig-00809F%06X.txt", 0x100000+i))
		if code == http.StatusOK {
			leaked++
		}
		if untilBan == 0 { // the global file is refused once the source is banned
			if code, _ := guesser.get(t, e.Web, "sipconfig.txt"); code == http.StatusNotFound {
				untilBan = i + 1
			}
		}
		if i%20 == 0 {
			if code, _ := phone.get(t, e.Web, "sipconfig-"+alcatelMAC+".txt"); code != http.StatusOK {
				t.Fatalf("the paired phone was refused during the guessing: %d", code)
			}
		}
	}
	t.Logf("MAC guessing: 200 requests, %d configurations leaked, banned after %d", leaked, untilBan)
	if leaked != 0 || untilBan == 0 || untilBan > 5 {
		t.Fatalf("leaked %d, banned after %d guesses (want 0 and at most 5)", leaked, untilBan)
	}
	if code, _ := guesser.get(t, e.Web, "sipconfig.txt"); code != http.StatusNotFound {
		t.Fatalf("the banned source still gets the global file: %d", code)
	}

	code, body := e.api(t, "GET", "/api/v1/phones", "")
	if code != 200 || !strings.Contains(body, alcatelMAC) {
		t.Fatalf("phones: %d %s", code, body)
	}
	var list struct {
		Phones []map[string]any `json:"phones"`
	}
	json.Unmarshal([]byte(body), &list)
	a := list.Phones[0]
	if len(list.Phones) != 1 || a["bound_address"] != "127.0.1.10" {
		t.Fatalf("phones: %s", body)
	}
	for k := range a {
		if strings.Contains(k, "password") && k != "handset_menu_password" {
			t.Fatalf("the phone list shows %s: %s", k, body)
		}
	}
}

// rawHTTP sends a raw request (no client-side path cleaning) from the loopback address src.
func rawHTTP(t *testing.T, src string, port int, req string) (int, string) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, req)
	b, _ := io.ReadAll(c)
	s := string(b)
	var code int
	if strings.HasPrefix(s, "HTTP/1.1 ") && len(s) >= 12 {
		code, _ = strconv.Atoi(s[9:12])
	}
	return code, s
}
