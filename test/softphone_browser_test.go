package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/deskphone/deskphone/test/chromium"
)

// The browser phone end to end: the real deskphone serves /phone/ and the SIP WebSocket on its
// HTTPS port, and bridges WebRTC to plain RTP; headless Chromium (fake microphone playing 1 kHz)
// signs in with an account's password and calls the Pi's own handset (microphone 440 Hz) or
// baresip on UDP (600 Hz).

// openSoftphone opens https://<pi>/phone/ trusting only the Pi's key and signs in as user.
func openSoftphone(t *testing.T, e *webEnv, user string) *chromium.Browser {
	t.Helper()
	page := chromium.Start(t, chromium.Options{URL: e.Base + "/phone/", MicWAV: chromiumMicWAV(t),
		SPKI: chromium.SPKIPin(t, filepath.Join(e.DataDir, "tls", "server.crt"))})
	signInSoftphone(t, page, user)
	return page
}

func signInSoftphone(t *testing.T, page *chromium.Browser, user string) {
	t.Helper()
	page.WaitFor(`document.documentElement.dataset.jssip === "3.13.8"`, 15*time.Second) // the page loads
	page.Eval(fmt.Sprintf(`$("user").value = %q; $("password").value = %q; $("login").requestSubmit()`, user, softphonePassword))
	page.WaitFor(`$("reg").classList.contains("on") && !$("phone").hidden`, 15*time.Second) // registered over wss://<pi>/ws
}

// bindingsOf counts the registrar's bindings of an extension, by transport.
func (e *phoneEnv) bindingsOf(t *testing.T, ext string) map[string]int {
	t.Helper()
	out := map[string]int{}
	reg, _ := e.status(t)["registrar"].(map[string]any)
	bs, _ := reg["bindings"].([]any)
	for _, b := range bs {
		m, _ := b.(map[string]any)
		if m["extension"] == ext {
			out[fmt.Sprint(m["transport"])]++
		}
	}
	return out
}

// A browser calls the Pi's handset; the handset is answered through the API. Tones cross both
// ways, hold and resume work, and reloading the page leaves one registration.
func TestSoftphoneCallsPiPhone(t *testing.T) {
	e := startWeb(t, phoneOptions{micHz: 440})
	page := openSoftphone(t, e, "softphone")
	if got := e.bindingsOf(t, "5003"); got["WSS"] != 1 {
		t.Fatalf("bindings of 5003: %v, want one over WSS", got)
	}
	page.Eval(`$("number").value = "5002"; $("call").click()`)
	e.waitStatus(t, "call", "ringing", 15*time.Second)
	e.mustPost(t, "answer", "")
	page.WaitFor(`$("status").textContent === "connected"`, 15*time.Second)
	if peak := remotePeak(page); peak < 420 || peak > 460 {
		t.Errorf("the browser hears %.0f Hz loudest, want the handset's 440 Hz", peak)
	}
	page.Eval(`$("hold").click()`)
	page.WaitFor(`$("status").textContent === "on hold"`, 10*time.Second)
	page.Eval(`$("hold").click()`)
	page.WaitFor(`$("status").textContent === "connected"`, 10*time.Second)
	if peak := remotePeak(page); peak < 420 || peak > 460 {
		t.Errorf("after resuming the browser hears %.0f Hz loudest, want 440 Hz", peak)
	}
	page.Eval(`$("hangup").click()`)
	e.waitStatus(t, "call", "idle", 10*time.Second)
	requireTone(t, e.Speaker, 1000) // the browser's microphone reached the handset

	page.Reload()
	signInSoftphone(t, page, "softphone")
	waitFor(t, "one binding after the reload", 5*time.Second, func() bool { return e.bindingsOf(t, "5003")["WSS"] == 1 })
}

// baresip on UDP calls the browser, which answers; tones cross both ways and the browser's DTMF
// reaches baresip as RFC 4733 events.
func TestSoftphoneBaresipCallsBrowser(t *testing.T) {
	e := startWeb(t, phoneOptions{})
	page := openSoftphone(t, e, "softphone")
	b := startBaresip(t, baresipOptions{ext: "5004", user: "softphone2", pass: softphonePassword,
		registrar: fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort)})
	b.Command(t, "dial", fmt.Sprintf("sip:5003@127.0.0.1:%d", e.RegistrarPort))
	page.WaitFor(`!$("incoming").hidden`, 15*time.Second) // it rings
	page.Eval(`$("answer").click()`)
	b.WaitEvent(t, "CALL_ESTABLISHED", 0, 15*time.Second)
	page.WaitFor(`$("status").textContent === "connected"`, 10*time.Second)
	if peak := remotePeak(page); peak < 580 || peak > 620 {
		t.Errorf("the browser hears %.0f Hz loudest, want baresip's 600 Hz", peak)
	}
	n := b.Events()
	page.Eval(`document.querySelector('[data-key="5"]').click()`)
	_, ev := b.WaitEvent(t, "CALL_DTMF_START", n, 5*time.Second)
	if ev["param"] != "5" {
		t.Errorf("baresip received DTMF %v, want 5", ev["param"])
	}
	b.Command(t, "hangup", "")
	page.WaitFor(`$("incall").hidden`, 10*time.Second) // the page sees the call end
	requireTone(t, b.Received(t), 1000)
}

// The SIP WebSocket refuses pages of other sites, and pings and garbage on it do not stop the
// service.
func TestSoftphoneWebSocketAbuse(t *testing.T) {
	e := startWeb(t, phoneOptions{})
	host := strings.TrimPrefix(e.Base, "https://")
	dial := func(origin string) (ws.Frame, error) {
		d := ws.Dialer{TLSConfig: &tls.Config{InsecureSkipVerify: true}, Protocols: []string{"sip"},
			Header: ws.HandshakeHeaderHTTP(http.Header{"Origin": {origin}})}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, _, _, err := d.Dial(ctx, "wss://"+host+"/ws")
		if err != nil {
			return ws.Frame{}, err
		}
		defer c.Close()
		for _, f := range []ws.Frame{ws.NewPingFrame([]byte("ping")), ws.NewBinaryFrame([]byte{0xff, 0, 1}),
			ws.NewTextFrame([]byte("SIP/2.0 garbage\r\n\r\n")), ws.NewTextFrame([]byte(strings.Repeat("\x00", 40000)))} {
			ws.WriteFrame(c, ws.MaskFrame(f))
		}
		return ws.Frame{}, nil
	}
	if _, err := dial("https://evil.example"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("a page of another site opened the SIP WebSocket (%v), want 403", err)
	}
	for i := 0; i < 3; i++ {
		if _, err := dial(e.Base); err != nil {
			t.Fatalf("the site's own origin: %v", err)
		}
	}
	page := openSoftphone(t, e, "softphone") // still serves
	page.Eval(`$("number").value = "5002"; $("call").click()`)
	e.waitStatus(t, "call", "ringing", 15*time.Second)
	page.Eval(`$("hangup").click()`)
	e.waitStatus(t, "call", "idle", 10*time.Second)
}

// Two browsers call each other through the Pi: WebRTC end to end with their own codec (Opus; the
// bridge would have made it G.711 and ICE-lite), media flowing both ways, and the caller's
// hang-up reaches the callee over its WebSocket.
func TestSoftphoneBrowserCallsBrowser(t *testing.T) {
	e := startWeb(t, phoneOptions{})
	alice := openSoftphone(t, e, "softphone")
	bob := openSoftphone(t, e, "softphone2")
	alice.Eval(`$("number").value = "5004"; $("call").click()`)
	bob.WaitFor(`!$("incoming").hidden`, 15*time.Second) // it rings
	bob.Eval(`$("answer").click()`)
	alice.WaitFor(`$("status").textContent === "connected"`, 15*time.Second)
	bob.WaitFor(`$("status").textContent === "connected"`, 10*time.Second)
	time.Sleep(2 * time.Second)
	for name, page := range map[string]*chromium.Browser{"caller": alice, "callee": bob} {
		var st struct {
			Packets int
			Codec   string
			Lite    bool
		}
		page.EvalInto(`(async () => {
			const o = {Packets: 0, Codec: "", Lite: session.connection.remoteDescription.sdp.includes("a=ice-lite")};
			(await session.connection.getStats()).forEach(s => {
				if (s.type === "inbound-rtp") o.Packets = s.packetsReceived;
				if (s.type === "codec") o.Codec = s.mimeType;
			});
			return o;
		})()`, &st)
		if st.Lite || st.Codec != "audio/opus" || st.Packets < 50 {
			t.Errorf("the %s: %d packets of %s received, ICE-lite peer %v; want Opus straight from the other browser", name, st.Packets, st.Codec, st.Lite)
		}
	}
	alice.Eval(`$("hangup").click()`)
	bob.WaitFor(`$("incall").hidden`, 10*time.Second)
}
