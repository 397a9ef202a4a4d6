package e2e

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deskphone/deskphone/test/baresip"
	"github.com/deskphone/deskphone/test/tone"
)

// phoneEnv is a deskphone running the built-in registrar and the phone with the file audio
// backend: mic.wav (a tone) is the microphone, speaker.wav records what the handset plays.
type phoneEnv struct {
	*Service
	RegistrarPort int
	PhonePort     int
	WebPort       int
	Mic, Speaker  string
	api           string
}

// softphonePassword is the password of the accounts phone tests give to their peers.
const softphonePassword = "softphone-pass-1234"

// phoneOptions adjust the generated config.
type phoneOptions struct {
	micHz     float64 // tone fed as the microphone (1000 Hz by default)
	phoneTOML string  // extra [phone] keys
	noRegistr bool    // no built-in registrar: [phone] registrar comes from phoneTOML
	username  string  // [phone] username ("rpi")
	extra     string  // appended at the end of the file
	allIfaces bool    // registrar and phone listen on 0.0.0.0, as on the appliance
	provKeys  string  // [provisioning] keys ("enabled = false" when empty)
	regTOML   string  // extra [registrar] keys
	registrar string  // [phone] registrar (default: the built-in one's UDP port)
	noWait    bool    // do not wait for the phone to register
}

// startPhone runs deskphone as registrar + phone on free loopback ports, with accounts 5003 and
// 5004 for peers (password softphonePassword), and waits until the phone is registered.
func startPhone(t *testing.T, o phoneOptions) *phoneEnv {
	t.Helper()
	dir := t.TempDir()
	e := &phoneEnv{RegistrarPort: freePort(t, "both"), PhonePort: freePort(t, "both"), WebPort: freePort(t, "tcp"),
		Mic: filepath.Join(dir, "mic.wav"), Speaker: filepath.Join(dir, "speaker.wav")}
	if o.micHz == 0 {
		o.micHz = 1000
	}
	if o.username == "" {
		o.username = "rpi"
	}
	if o.provKeys == "" {
		o.provKeys = "enabled = false\n"
	}
	micWAV(t, e.Mic, o.micHz, 2*time.Second)
	bind := "127.0.0.1"
	if o.allIfaces {
		bind = "0.0.0.0"
	}
	reg := fmt.Sprintf(`[registrar]
enabled = true
listen = "%s:%d"
realm = "deskphone"
qualify_interval = "0s"
%s
[[registrar.accounts]]
extension = "5003"
username = "softphone"
password = %q

[[registrar.accounts]]
extension = "5004"
username = "softphone2"
password = %q
`, bind, e.RegistrarPort, o.regTOML, softphonePassword, softphonePassword)
	phoneReg := fmt.Sprintf("registrar = \"127.0.0.1:%d\"\n", e.RegistrarPort)
	if o.registrar != "" {
		phoneReg = fmt.Sprintf("registrar = %q\n", o.registrar)
	}
	if o.noRegistr {
		reg, phoneReg = "[registrar]\nenabled = false\n", ""
	}
	cfg := reg + fmt.Sprintf(`
[phone]
enabled = true
%slisten = "%s:%d"
extension = "5002"
username = %q
display_name = "Raspberry Pi"
tone_country = "fr"
rtp_port_min = %d
rtp_port_max = %d
%s
[audio]
backend = "file"
input = %q
output = %q

[web]
listen = "127.0.0.1:%d"
https_listen = "127.0.0.1:0"

[provisioning]
%s%s`, phoneReg, bind, e.PhonePort, o.username, rtpBase(e.PhonePort), rtpBase(e.PhonePort)+98, o.phoneTOML, e.Mic, e.Speaker, e.WebPort, o.provKeys, o.extra)
	e.Service = startService(t, cfg)
	e.api = fmt.Sprintf("http://127.0.0.1:%d/api/v1/", e.WebPort)
	if !o.noRegistr && !o.noWait {
		e.waitStatus(t, "registration", "registered", 10*time.Second)
	}
	return e
}

// rtpBase spreads the RTP port ranges of parallel tests apart.
func rtpBase(seed int) int { return 20000 + (seed%400)*100 }

// status fetches GET /api/v1/status.
func (e *phoneEnv) status(t *testing.T) map[string]any {
	t.Helper()
	res, err := http.Get(e.api + "status")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// post sends a call-control request and returns the status code and body.
func (e *phoneEnv) post(t *testing.T, path, body string) (int, string) {
	t.Helper()
	res, err := http.Post(e.api+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// mustPost is post that fails the test unless the answer is 200.
func (e *phoneEnv) mustPost(t *testing.T, path, body string) {
	t.Helper()
	if code, b := e.post(t, path, body); code != 200 {
		t.Fatalf("POST %s %s: %d %s", path, body, code, b)
	}
}

// waitStatus waits until status[key] (a top-level string) equals want.
func (e *phoneEnv) waitStatus(t *testing.T, key, want string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last map[string]any
	for time.Now().Before(deadline) {
		last = e.status(t)
		if fmt.Sprint(last[key]) == want {
			return last
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("status %s never became %q (last status %v)", key, want, last)
	return nil
}

// mediaStat reads a counter of the connected call's media statistics.
func mediaStat(st map[string]any, key string) float64 {
	m, _ := st["media"].(map[string]any)
	v, _ := m[key].(float64)
	return v
}

// ---- audio files ----

// micWAV writes an 8 kHz mono 16-bit WAV of a sine at hz.
func micWAV(t *testing.T, path string, hz float64, d time.Duration) {
	t.Helper()
	tone.WriteSine(t, path, hz, 8000, d)
}

// requireTone fails unless the WAV at path carries a tone at hz (±20 Hz) loud enough to hear.
func requireTone(t *testing.T, path string, hz float64) {
	t.Helper()
	x, rate := tone.ReadMono(t, path)
	if len(x) < rate/2 {
		t.Fatalf("%s holds only %d samples", path, len(x))
	}
	got, rms := tone.Dominant(x, rate)
	if rms < 300 {
		t.Fatalf("%s is silent (RMS %.0f)", path, rms)
	}
	if math.Abs(got-hz) > 20 {
		t.Fatalf("%s: strongest frequency %.0f Hz, want %.0f Hz (RMS %.0f)", path, got, hz, rms)
	}
	t.Logf("%s: %.0f Hz at RMS %.0f", filepath.Base(path), got, rms)
}

// ---- baresip ----

// baresipOptions describe the peer.
type baresipOptions struct {
	ext, user, pass string
	registrar       string // host:port
	toneHz          int    // its microphone: a sine (48 kHz source); 0 = 600 Hz
	answer          string // answermode: manual | auto
	extraAccount    string // appended to the account line
	extraConfig     string // appended to its config
	transport       string // "tls": register over TLS (registrar is then the TLS address)
	listenIP        string // the address it listens on and puts in its SDP (127.0.0.1)
	modules         []string
}

// startBaresip runs baresip registered as an extension on free loopback ports and waits until
// it is registered.
func startBaresip(t *testing.T, o baresipOptions) *baresip.Phone {
	t.Helper()
	requireTool(t, "baresip", "baresip-core")
	if o.toneHz == 0 {
		o.toneHz = 600
	}
	if o.answer == "" {
		o.answer = "manual"
	}
	if o.listenIP == "" {
		o.listenIP = "127.0.0.1"
	}
	sip := freePort(t, "both")
	rtp := rtpBase(sip) + 50 // a range per instance: each call takes a new pair
	uriParams := ""
	if o.transport != "" {
		uriParams = ";transport=" + o.transport
	}
	b := baresip.Start(t, baresip.Config{ListenIP: o.listenIP, SIPPort: sip, CtrlPort: freePort(t, "tcp"),
		RTPMin: rtp, RTPMax: rtp + 19, ToneHz: o.toneHz, Extra: o.extraConfig, Modules: o.modules,
		Account: fmt.Sprintf("<sip:%s@%s%s>;auth_user=%s;auth_pass=%s;regint=600;answermode=%s%s",
			o.ext, o.registrar, uriParams, o.user, o.pass, o.answer, o.extraAccount)})
	b.WaitLog(t, "200 OK", 10*time.Second) // registered
	return b
}

// ---- processes ----

// startPeerProcess runs a helper program until the test ends (startPeer) and returns its output
// buffer.
func startPeerProcess(t *testing.T, name string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	out := &syncBuffer{}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	startPeer(t, cmd)
	return cmd, out
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ---- a test RTP endpoint ----

// mediaPeer is the media side of a SIPp call: it streams a PCMU tone (and RFC 4733 events) to the
// phone and records what the phone sends.
type mediaPeer struct {
	conn *net.UDPConn

	mu     sync.Mutex
	audio  []float64        // decoded PCMU from the phone
	events map[uint8][]byte // DTMF digits by payload type, one per event
	seen   map[uint32]bool  // event timestamps already counted
	pts    map[uint8]int    // packets by payload type
	queue  []mediaDigit     // digits to send
}

type mediaDigit struct {
	pt    uint8
	digit byte
}

func newMediaPeer(t *testing.T) *mediaPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &mediaPeer{conn: c, events: map[uint8][]byte{}, seen: map[uint32]bool{}, pts: map[uint8]int{}}
	done := make(chan struct{})
	go func() { defer close(done); p.read() }()
	t.Cleanup(func() { c.Close(); <-done })
	return p
}

func (p *mediaPeer) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

const eventDigits = "0123456789*#ABCD"

func (p *mediaPeer) read() {
	buf := make([]byte, 2048)
	for {
		n, err := p.conn.Read(buf)
		if err != nil {
			return
		}
		if n < 12 || buf[0]>>6 != 2 {
			continue
		}
		pt := buf[1] & 0x7f
		ts := binary.BigEndian.Uint32(buf[4:8])
		hdr := 12 + 4*int(buf[0]&0x0f)
		if hdr > n {
			continue
		}
		payload := buf[hdr:n]
		p.mu.Lock()
		p.pts[pt]++
		switch {
		case pt == 0:
			for _, b := range payload {
				p.audio = append(p.audio, float64(muDecode(b)))
			}
		case pt >= 96 && len(payload) >= 4 && payload[1]&0x80 != 0 && !p.seen[ts]:
			p.seen[ts] = true
			if int(payload[0]) < len(eventDigits) {
				p.events[pt] = append(p.events[pt], eventDigits[payload[0]])
			}
		}
		p.mu.Unlock()
	}
}

// digits are the DTMF digits received with payload type pt.
func (p *mediaPeer) digits(pt uint8) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(p.events[pt])
}

// packets counts received packets of payload type pt.
func (p *mediaPeer) packets(pt uint8) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pts[pt]
}

// received returns the decoded audio so far (8 kHz).
func (p *mediaPeer) received() []float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]float64(nil), p.audio...)
}

// sendDigits queues RFC 4733 events on payload type pt.
func (p *mediaPeer) sendDigits(pt uint8, digits string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := 0; i < len(digits); i++ {
		p.queue = append(p.queue, mediaDigit{pt, digits[i]})
	}
}

// stream sends a PCMU tone at hz to dst every 20 ms (events replace audio while queued) until ctx
// ends.
func (p *mediaPeer) stream(ctx context.Context, dst *net.UDPAddr, hz float64) {
	var seq uint16
	var ts uint32
	ssrc := uint32(0x5eed0001)
	phase := 0.0
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	pkt := func(pt uint8, marker bool, ts uint32, payload []byte) {
		b := make([]byte, 12+len(payload))
		b[0] = 0x80
		b[1] = pt
		if marker {
			b[1] |= 0x80
		}
		binary.BigEndian.PutUint16(b[2:], seq)
		binary.BigEndian.PutUint32(b[4:], ts)
		binary.BigEndian.PutUint32(b[8:], ssrc)
		copy(b[12:], payload)
		seq++
		p.conn.WriteToUDP(b, dst)
	}
	var cur *mediaDigit
	var evTS uint32
	var step int
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if cur == nil {
			p.mu.Lock()
			if len(p.queue) > 0 {
				d := p.queue[0]
				p.queue = p.queue[1:]
				cur, evTS, step = &d, ts, 0
			}
			p.mu.Unlock()
		}
		if cur != nil {
			code := byte(strings.IndexByte(eventDigits, cur.digit))
			step++
			dur := uint16(160 * step)
			end := step >= 6
			if end {
				dur = 160 * 6
			}
			ev := []byte{code, 10, byte(dur >> 8), byte(dur)}
			if end {
				ev[1] |= 0x80
				for i := 0; i < 3; i++ {
					pkt(cur.pt, false, evTS, ev)
				}
				cur = nil
			} else {
				pkt(cur.pt, step == 1, evTS, ev)
			}
			ts += 160
			if cur == nil {
				// a gap of silence between digits
				for i := 0; i < 3; i++ {
					ts += 160
				}
			}
			continue
		}
		frame := make([]byte, 160)
		for i := range frame {
			frame[i] = muEncode(int16(8000 * math.Sin(phase)))
			phase += 2 * math.Pi * hz / 8000
		}
		pkt(0, false, ts, frame)
		ts += 160
	}
}

func muDecode(u byte) int16 {
	u = ^u
	exp := (u >> 4) & 7
	s := ((int(u&0x0f) << 3) + 0x84) << exp
	s -= 0x84
	if u&0x80 != 0 {
		return int16(-s)
	}
	return int16(s)
}

func muEncode(s int16) byte {
	v, sign := int(s), 0
	if v < 0 {
		v, sign = -v, 0x80
	}
	if v > 32635 {
		v = 32635
	}
	v += 0x84
	exp := 7
	for mask := 0x4000; v&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (v >> (exp + 3)) & 0x0f
	return ^byte(sign | exp<<4 | mant)
}

// requireToneIn fails unless x (8 kHz) carries a tone at hz.
func requireToneIn(t *testing.T, what string, x []float64, hz float64) {
	t.Helper()
	if len(x) < 4000 {
		t.Fatalf("%s: only %d samples", what, len(x))
	}
	got, rms := tone.Dominant(x, 8000)
	if rms < 300 || math.Abs(got-hz) > 20 {
		t.Fatalf("%s: strongest frequency %.0f Hz at RMS %.0f, want %.0f Hz", what, got, rms, hz)
	}
	t.Logf("%s: %.0f Hz at RMS %.0f", what, got, rms)
}

// ---- SIPp with its files kept ----

// sippRun is a SIPp instance running in the background in its own folder (its -trace_msg log
// stays there for the test to read).
type sippRun struct {
	dir  string
	done chan error
}

func startSIPpIn(t *testing.T, args ...string) *sippRun {
	t.Helper()
	requireTool(t, "sipp", "sip-tester")
	r := &sippRun{dir: t.TempDir(), done: make(chan error, 1)}
	full := append([]string{"-nostdin", "-trace_err", "-trace_msg", "-timeout", "60s", "-timeout_error", "-m", "1"}, args...)
	cmd := exec.Command("sipp", full...)
	cmd.Dir = r.dir
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := cmd.Wait()
		if err != nil {
			err = fmt.Errorf("sipp %s: %v\n%s\n%s", strings.Join(args, " "), err, lastLines(out.String(), 15), r.logs())
		}
		r.done <- err
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			cmd.Process.Kill()
		}
	})
	time.Sleep(300 * time.Millisecond) // let it bind its port
	return r
}

func (r *sippRun) logs() string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(r.dir, "*.log"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if len(data) > 8000 {
			data = data[len(data)-8000:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", filepath.Base(f), data)
	}
	return b.String()
}

// wait waits for SIPp to finish and fails the test if its scenario failed.
func (r *sippRun) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(70 * time.Second):
		t.Fatalf("sipp did not finish\n%s", r.logs())
	}
}

// messages is SIPp's trace of every message it sent and received.
func (r *sippRun) messages() string {
	files, _ := filepath.Glob(filepath.Join(r.dir, "*_messages.log"))
	var b strings.Builder
	for _, f := range files {
		data, _ := os.ReadFile(f)
		b.Write(data)
	}
	return b.String()
}

// registerSIPp registers a SIPp port as an extension of the built-in registrar.
func (e *phoneEnv) registerSIPp(t *testing.T, port int, ext, user string) {
	t.Helper()
	runSIPp(t, fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort), "-sf", sippScenario(t, "register_ok.xml"),
		"-key", "aor", ext, "-key", "expires", "3600", "-au", user, "-ap", softphonePassword,
		"-i", "127.0.0.1", "-p", strconv.Itoa(port))
}
