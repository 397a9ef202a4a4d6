// Package chromium runs headless Chromium (Debian's chromium) for tests and drives one tab over
// the DevTools protocol: run JavaScript, wait for a condition, click, fill, take screenshots.
// The browser runs in its own process group, killed when the test ends.
package chromium

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/deskphone/deskphone/test/procgroup"
)

// Options say how to start the browser. The zero value is a 1100×900 window on about:blank with
// no microphone and every certificate error refused.
type Options struct {
	Width, Height int    // window size in CSS pixels
	URL           string // the page to open first (about:blank if "")
	// SPKI trusts exactly one server key despite certificate errors: the base64 SHA-256 of its
	// SubjectPublicKeyInfo (see SPKIPin); every other certificate is still refused.
	SPKI string
	// MicWAV, when set, gives the browser a fake microphone playing this WAV file (48 kHz,
	// 16-bit mono), grants media permissions without a prompt, allows loopback ICE candidates
	// and autoplay.
	MicWAV string
	// Shots is the folder for screenshots ($DESKPHONE_SCREENSHOTS or a temporary one if "").
	Shots string
}

// Browser is a running Chromium with one tab attached over DevTools.
type Browser struct {
	t    testing.TB
	conn interface {
		Read([]byte) (int, error)
		Write([]byte) (int, error)
		Close() error
	}
	session string
	pid     int // leader of the browser's process group
	shots   string

	mu      sync.Mutex
	nextID  int
	waiting map[int]chan reply
	wmu     sync.Mutex
}

type reply struct {
	ID     int             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// SPKIPin is the value for Options.SPKI that trusts the key of the PEM certificate in file.
func SPKIPin(t testing.TB, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s holds no PEM certificate", file)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Binary is the chromium executable, or it skips the test when Chromium is not installed.
func Binary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (Debian package chromium)")
	}
	return bin
}

// Flags are the command-line flags Start uses for o, after the binary.
func Flags(o Options, profile string) []string {
	if o.Width == 0 {
		o.Width, o.Height = 1100, 900
	}
	args := []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
		"--disable-extensions", "--disable-background-networking", "--disable-sync",
		"--user-data-dir=" + profile, fmt.Sprintf("--window-size=%d,%d", o.Width, o.Height)}
	if o.SPKI != "" {
		args = append(args, "--ignore-certificate-errors-spki-list="+o.SPKI)
	}
	if o.MicWAV != "" {
		args = append(args, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
			"--use-file-for-fake-audio-capture="+o.MicWAV,
			"--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required")
	} else {
		args = append(args, "--mute-audio")
	}
	return args
}

// Start runs Chromium with o until the test ends and attaches to a new tab showing o.URL.
func Start(t testing.TB, o Options) *Browser {
	t.Helper()
	bin := Binary(t)
	if o.Width == 0 {
		o.Width, o.Height = 1100, 900
	}
	prof := t.TempDir()
	shots := o.Shots
	if shots == "" {
		shots = os.Getenv("DESKPHONE_SCREENSHOTS")
	}
	if shots == "" {
		shots = t.TempDir()
	}
	shots = filepath.Join(shots, t.Name())
	os.MkdirAll(shots, 0o755)
	b := &Browser{t: t, shots: shots, waiting: map[int]chan reply{}}
	cmd := exec.Command(bin, append(Flags(o, prof), "--remote-debugging-port=0", "about:blank")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = procgroup.PrivateTemp(t, nil)
	log := &logBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b.pid = cmd.Process.Pid
	t.Cleanup(func() {
		if b.conn != nil {
			b.conn.Close()
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		if t.Failed() {
			t.Logf("chromium log:\n%s", log.tail(30))
			t.Logf("screenshots in %s", shots)
		}
	})
	var wsURL string
	deadline := time.Now().Add(30 * time.Second)
	for wsURL == "" {
		if time.Now().After(deadline) {
			t.Fatalf("chromium did not open its DevTools port:\n%s", log.tail(30))
		}
		if data, err := os.ReadFile(filepath.Join(prof, "DevToolsActivePort")); err == nil {
			if lines := strings.Split(strings.TrimSpace(string(data)), "\n"); len(lines) == 2 {
				wsURL = "ws://127.0.0.1:" + lines[0] + lines[1]
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	conn, _, _, err := ws.Dial(context.Background(), wsURL)
	if err != nil {
		t.Fatalf("DevTools: %v", err)
	}
	b.conn = conn
	go b.readLoop()
	url := o.URL
	if url == "" {
		url = "about:blank"
	}
	var target struct {
		TargetID string `json:"targetId"`
	}
	b.call("", "Target.createTarget", map[string]any{"url": url}, &target)
	var att struct {
		SessionID string `json:"sessionId"`
	}
	b.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att)
	b.session = att.SessionID
	b.Call("Page.enable", nil, nil)
	b.SetViewport(o.Width, o.Height)
	return b
}

func (b *Browser) readLoop() {
	for {
		msg, err := wsutil.ReadServerText(b.conn)
		if err != nil {
			b.mu.Lock()
			for id, ch := range b.waiting {
				close(ch)
				delete(b.waiting, id)
			}
			b.mu.Unlock()
			return
		}
		var r reply
		if json.Unmarshal(msg, &r) != nil || r.ID == 0 {
			continue // an event
		}
		b.mu.Lock()
		ch := b.waiting[r.ID]
		delete(b.waiting, r.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
}

// Call sends one DevTools command to the tab and decodes its result into out (may be nil).
func (b *Browser) Call(method string, params, out any) {
	b.t.Helper()
	b.call(b.session, method, params, out)
}

func (b *Browser) call(session, method string, params, out any) {
	b.t.Helper()
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan reply, 1)
	b.waiting[id] = ch
	b.mu.Unlock()
	m := map[string]any{"id": id, "method": method}
	if params != nil {
		m["params"] = params
	}
	if session != "" {
		m["sessionId"] = session
	}
	data, _ := json.Marshal(m)
	b.wmu.Lock()
	err := wsutil.WriteClientText(b.conn, data)
	b.wmu.Unlock()
	if err != nil {
		b.t.Fatalf("DevTools %s: %v", method, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			b.t.Fatalf("DevTools %s: connection closed", method)
		}
		if r.Error != nil {
			b.t.Fatalf("DevTools %s: %s", method, r.Error.Message)
		}
		if out != nil {
			if err := json.Unmarshal(r.Result, out); err != nil {
				b.t.Fatalf("DevTools %s: %v", method, err)
			}
		}
	case <-time.After(30 * time.Second):
		b.t.Fatalf("DevTools %s: no answer in 30 s", method)
	}
}

// Eval runs JavaScript in the page (awaiting a promise) and returns its JSON value.
func (b *Browser) Eval(js string) any {
	b.t.Helper()
	var v any
	b.EvalInto(js, &v)
	return v
}

// EvalInto runs JavaScript in the page (awaiting a promise) and decodes its value into out.
func (b *Browser) EvalInto(js string, out any) {
	b.t.Helper()
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	b.Call("Runtime.evaluate", map[string]any{"expression": js, "awaitPromise": true, "returnByValue": true}, &r)
	if r.Exception != nil {
		b.t.Fatalf("page script %q: %s %s", js, r.Exception.Text, r.Exception.Exception.Description)
	}
	if out != nil && len(r.Result.Value) > 0 {
		if err := json.Unmarshal(r.Result.Value, out); err != nil {
			b.t.Fatalf("page script %q returned %s: %v", js, r.Result.Value, err)
		}
	}
}

// Navigate opens url and waits for the page to load.
func (b *Browser) Navigate(url string) {
	b.t.Helper()
	b.Call("Page.navigate", map[string]any{"url": url}, nil)
	b.WaitFor("document.readyState === 'complete' && location.href !== 'about:blank'", 15*time.Second)
}

// Kill ends the browser at once with SIGKILL, as a crash or a laptop lid closing would: the
// page runs no unload handler (the softphone's sends its BYEs there), and the kernel closes its
// connections. Calls on the tab fail afterwards.
func (b *Browser) Kill() {
	syscall.Kill(-b.pid, syscall.SIGKILL)
}

// Reload reloads the page and waits for it to load.
func (b *Browser) Reload() {
	b.t.Helper()
	b.Eval("window.__reloading = 1")
	b.Call("Page.reload", map[string]any{"ignoreCache": true}, nil)
	b.WaitFor("document.readyState === 'complete' && !window.__reloading", 15*time.Second)
}

// WaitFor polls a JavaScript condition until it is true (an exception counts as false: the
// page may still be loading); it fails the test with a screenshot after timeout.
func (b *Browser) WaitFor(cond string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if v, _ := b.Eval("(() => { try { return !!(" + cond + "); } catch (e) { return false; } })()").(bool); v {
			return
		}
		if time.Now().After(deadline) {
			b.Screenshot("timeout")
			b.t.Fatalf("page never satisfied %s within %v (at %v: %v)", cond, timeout, b.Eval("location.href"), b.Eval("document.body ? document.body.innerText.slice(0, 600) : ''"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Text is the visible text of the first element matching selector ("" if none).
func (b *Browser) Text(selector string) string {
	b.t.Helper()
	v, _ := b.Eval(fmt.Sprintf("(document.querySelector(%q) || {innerText: ''}).innerText", selector)).(string)
	return v
}

// Fill sets an input's value as typing would (an input event follows).
func (b *Browser) Fill(selector, value string) {
	b.t.Helper()
	b.Eval(fmt.Sprintf("(() => { const e = document.querySelector(%q); e.value = %q; e.dispatchEvent(new Event('input')); })()", selector, value))
}

// Click clicks the first element matching selector.
func (b *Browser) Click(selector string) {
	b.t.Helper()
	b.Eval(fmt.Sprintf("document.querySelector(%q).click()", selector))
}

// SetViewport resizes the page's viewport (a width under 600 emulates a phone).
func (b *Browser) SetViewport(width, height int) {
	b.t.Helper()
	b.Call("Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}, nil)
}

// Screenshot saves a PNG of the page as <name>.png among the test's screenshots and returns its path.
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	var r struct {
		Data string `json:"data"`
	}
	b.Call("Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, &r)
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		b.t.Fatal(err)
	}
	p := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return p
}

type logBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 1<<20 {
		l.buf = l.buf[len(l.buf)/2:]
	}
	l.buf = append(l.buf, p...)
	return len(p), nil
}

func (l *logBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := strings.Split(strings.TrimRight(string(l.buf), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
