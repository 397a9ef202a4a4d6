package e2e

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
)

// browser is headless Chromium (Debian's chromium) driven over the DevTools protocol: one tab,
// commands sent on the browser's WebSocket with a flat session.
type browser struct {
	t       *testing.T
	cmd     *exec.Cmd
	conn    wsConn
	session string
	shots   string // folder for screenshots

	mu      sync.Mutex
	nextID  int
	waiting map[int]chan cdpReply
	wmu     sync.Mutex
}

type wsConn interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	Close() error
}

type cdpReply struct {
	ID     int             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// spkiPin is the base64 SHA-256 of the server certificate's public key, for Chromium's
// --ignore-certificate-errors-spki-list: only this key is accepted, every other certificate is
// still refused.
func spkiPin(t *testing.T, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "tls", "server.crt"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// startBrowser runs Chromium in its own process group (killed with the test) with a window of
// width×height CSS pixels, trusting only the key pinned by spki.
func startBrowser(t *testing.T, spki string, width, height int) *browser {
	t.Helper()
	bin := requireTool(t, "chromium", "chromium")
	prof := t.TempDir()
	shots := os.Getenv("DESKPHONE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	shots = filepath.Join(shots, t.Name())
	os.MkdirAll(shots, 0o755)
	b := &browser{t: t, shots: shots, waiting: map[int]chan cdpReply{}}
	b.cmd = exec.Command(bin, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
		"--disable-extensions", "--disable-background-networking", "--disable-sync", "--mute-audio",
		"--user-data-dir="+prof, "--remote-debugging-port=0", fmt.Sprintf("--window-size=%d,%d", width, height),
		"--ignore-certificate-errors-spki-list="+spki, "about:blank")
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log := &syncBuffer{}
	b.cmd.Stdout, b.cmd.Stderr = log, log
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if b.conn != nil {
			b.conn.Close()
		}
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		b.cmd.Wait()
		if t.Failed() {
			t.Logf("chromium log:\n%s", lastLines(log.String(), 30))
			t.Logf("screenshots in %s", shots)
		}
	})
	var wsURL string
	deadline := time.Now().Add(30 * time.Second)
	for wsURL == "" {
		if time.Now().After(deadline) {
			t.Fatalf("chromium did not open its DevTools port:\n%s", log.String())
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
	var target struct {
		TargetID string `json:"targetId"`
	}
	b.call("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var att struct {
		SessionID string `json:"sessionId"`
	}
	b.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att)
	b.session = att.SessionID
	b.call(b.session, "Page.enable", nil, nil)
	b.call(b.session, "Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}, nil)
	return b
}

func (b *browser) readLoop() {
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
		var r cdpReply
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

// call sends one DevTools command and decodes its result into out (may be nil).
func (b *browser) call(session, method string, params any, out any) {
	b.t.Helper()
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan cdpReply, 1)
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

// eval runs JavaScript in the page (awaiting a promise) and returns its JSON value.
func (b *browser) eval(js string) any {
	b.t.Helper()
	var r struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	b.call(b.session, "Runtime.evaluate", map[string]any{"expression": js, "awaitPromise": true, "returnByValue": true}, &r)
	if r.Exception != nil {
		b.t.Fatalf("page script %q: %s %s", js, r.Exception.Text, r.Exception.Exception.Description)
	}
	return r.Result.Value
}

// navigate opens url and waits for the page to load.
func (b *browser) navigate(url string) {
	b.t.Helper()
	b.call(b.session, "Page.navigate", map[string]any{"url": url}, nil)
	b.waitFor("document.readyState === 'complete' && location.href !== 'about:blank'", 15*time.Second)
}

// waitFor polls a JavaScript condition until it is true.
func (b *browser) waitFor(cond string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if v, _ := b.eval("(() => { try { return !!(" + cond + "); } catch (e) { return false; } })()").(bool); v {
			return
		}
		if time.Now().After(deadline) {
			b.screenshot("timeout")
			b.t.Fatalf("page never satisfied %s (at %v: %v)", cond, b.eval("location.href"), b.eval("document.body ? document.body.innerText.slice(0, 600) : ''"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// text is the visible text of the first element matching selector.
func (b *browser) text(selector string) string {
	b.t.Helper()
	v, _ := b.eval(fmt.Sprintf("(document.querySelector(%q) || {innerText: ''}).innerText", selector)).(string)
	return v
}

// fill sets an input's value; click clicks an element.
func (b *browser) fill(selector, value string) {
	b.t.Helper()
	b.eval(fmt.Sprintf("(() => { const e = document.querySelector(%q); e.value = %q; e.dispatchEvent(new Event('input')); })()", selector, value))
}

func (b *browser) click(selector string) {
	b.t.Helper()
	b.eval(fmt.Sprintf("document.querySelector(%q).click()", selector))
}

// screenshot saves a PNG of the page as <name>.png among the test's screenshots and returns its path.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	var r struct {
		Data string `json:"data"`
	}
	b.call(b.session, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, &r)
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
