package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// devtools drives one Chromium page through the DevTools protocol (a WebSocket of JSON
// commands): enough to run JavaScript in the page, as a user's clicks would.
type devtools struct {
	conn net.Conn
	next int
}

// openDevtools connects to the first page of a Chromium started with
// --remote-debugging-port=0 and --user-data-dir=profile.
func openDevtools(t *testing.T, profile string) *devtools {
	t.Helper()
	var port string
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(profile, "DevToolsActivePort"))
		if err == nil && strings.Contains(string(b), "\n") {
			port, _, _ = strings.Cut(string(b), "\n")
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Chromium did not open its DevTools port within 20 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	var targets []struct{ Type, URL, WebSocketDebuggerURL string }
	for {
		resp, err := http.Get("http://127.0.0.1:" + port + "/json/list")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&targets)
			resp.Body.Close()
		}
		for _, tg := range targets {
			if tg.Type == "page" && strings.HasPrefix(tg.URL, "http") {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				conn, _, _, err := ws.Dial(ctx, tg.WebSocketDebuggerURL)
				cancel()
				if err != nil {
					t.Fatalf("DevTools: %v", err)
				}
				t.Cleanup(func() { conn.Close() })
				return &devtools{conn: conn}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Chromium shows no page (%v, %+v)", err, targets)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// eval runs a JavaScript expression in the page, awaiting it if it is a promise, and decodes
// its value into out (if not nil).
func (d *devtools) eval(t *testing.T, expr string, out any) {
	t.Helper()
	d.next++
	cmd, _ := json.Marshal(map[string]any{"id": d.next, "method": "Runtime.evaluate", "params": map[string]any{
		"expression": expr, "awaitPromise": true, "returnByValue": true}})
	d.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := wsutil.WriteClientText(d.conn, cmd); err != nil {
		t.Fatalf("DevTools: %v", err)
	}
	for {
		msg, err := wsutil.ReadServerText(d.conn)
		if err != nil {
			t.Fatalf("DevTools: %v", err)
		}
		var reply struct {
			ID     int `json:"id"`
			Result struct {
				Result struct {
					Value json.RawMessage `json:"value"`
				} `json:"result"`
				ExceptionDetails *struct {
					Text      string `json:"text"`
					Exception struct {
						Description string `json:"description"`
					} `json:"exception"`
				} `json:"exceptionDetails"`
			} `json:"result"`
			Error *struct{ Message string } `json:"error"`
		}
		if json.Unmarshal(msg, &reply) != nil || reply.ID != d.next {
			continue // an event
		}
		if reply.Error != nil {
			t.Fatalf("DevTools: %s", reply.Error.Message)
		}
		if e := reply.Result.ExceptionDetails; e != nil {
			t.Fatalf("the page threw running %q: %s %s", expr, e.Text, e.Exception.Description)
		}
		if out != nil && len(reply.Result.Result.Value) > 0 {
			if err := json.Unmarshal(reply.Result.Result.Value, out); err != nil {
				t.Fatalf("DevTools: %q returned %s: %v", expr, reply.Result.Result.Value, err)
			}
		}
		return
	}
}

// waitFor evaluates a boolean expression until it is true (an exception counts as false: the
// page may still be loading).
func (d *devtools) waitFor(t *testing.T, what, expr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		d.eval(t, "(() => { try { return !!("+expr+") } catch (e) { return false } })()", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var page string
			d.eval(t, `document.body.innerText`, &page)
			t.Fatalf("%s: not within %v; the page says:\n%s", what, timeout, page)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
