package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskphone/deskphone/firmware/media"
	"github.com/deskphone/deskphone/firmware/softphone"
	"github.com/deskphone/deskphone/firmware/webrtcbridge"
	"github.com/deskphone/deskphone/hw/audio/audiotest"
	"github.com/deskphone/deskphone/test/chromium"
	"github.com/deskphone/deskphone/test/tone"
)

// The browser tests run a real Chromium with a fake microphone playing 1 kHz against a plain
// RTP phone (deskphone's own media session, its "microphone" playing 440 Hz) through the WebRTC
// bridge: SDP goes through the bridge as a SIP proxy would pass it, media flows
// Chromium ⇄ ICE/DTLS-SRTP ⇄ bridge ⇄ RTP ⇄ phone.

// browserPage is the test page: it makes (mode=offer) or answers (mode=answer) a G.711 call,
// listens to what it receives with WebAudio, sends DTMF '5' and reports back.
const browserPage = `<!doctype html><meta charset="utf-8"><title>bridge test</title><script>
const sleep = ms => new Promise(r => setTimeout(r, ms));
async function gathered(pc) {
  while (pc.iceGatheringState !== "complete") await sleep(20);
}
async function main() {
  const mode = new URLSearchParams(location.search).get("mode");
  const mic = await navigator.mediaDevices.getUserMedia({audio: true});
  const pc = new RTCPeerConnection({iceServers: []});
  const sender = pc.addTrack(mic.getAudioTracks()[0], mic);
  const remote = new Promise(r => pc.ontrack = e => r(e.streams[0] || new MediaStream([e.track])));
  const t0 = performance.now();
  const connected = new Promise(r => pc.onconnectionstatechange = () => pc.connectionState === "connected" && r(performance.now() - t0));
  if (mode === "offer") {
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const resp = await fetch("/offer", {method: "POST", body: pc.localDescription.sdp});
    if (!resp.ok) throw new Error("offer refused: " + await resp.text());
    await pc.setRemoteDescription({type: "answer", sdp: await resp.text()});
  } else {
    const resp = await fetch("/offer");
    await pc.setRemoteDescription({type: "offer", sdp: await resp.text()});
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    const r2 = await fetch("/answer", {method: "POST", body: pc.localDescription.sdp});
    if (!r2.ok) throw new Error("answer refused: " + await r2.text());
  }
  const setupMs = await connected;
  const stream = await remote;
  const sink = new Audio(); sink.muted = true; sink.srcObject = stream; sink.play();
  const ctx = new AudioContext(); await ctx.resume();
  const an = ctx.createAnalyser(); an.fftSize = 8192;
  ctx.createMediaStreamSource(stream).connect(an);
  await sleep(2500);
  const bins = new Float32Array(an.frequencyBinCount);
  an.getFloatFrequencyData(bins);
  let best = 1;
  for (let i = 2; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
  sender.dtmf.insertDTMF("5", 120, 80);
  await sleep(1000);
  let packets = 0, codec = "";
  (await pc.getStats()).forEach(s => {
    if (s.type === "inbound-rtp" && s.kind === "audio") packets = s.packetsReceived;
    if (s.type === "codec" && s.mimeType.match(/PCM[AU]/)) codec = s.mimeType;
  });
  return {peak: best * ctx.sampleRate / an.fftSize, packets, codec, canDTMF: sender.dtmf.canInsertDTMF, setupMs};
}
main().then(r => fetch("/result", {method: "POST", body: JSON.stringify(r)}),
            e => fetch("/result", {method: "POST", body: JSON.stringify({error: String(e)})}));
</script>`

type browserResult struct {
	Peak    float64 `json:"peak"`
	Packets int     `json:"packets"`
	Codec   string  `json:"codec"`
	CanDTMF bool    `json:"canDTMF"`
	SetupMs float64 `json:"setupMs"` // from creating the offer (or fetching it) to DTLS connected
	Error   string  `json:"error"`
}

// bridgeRig is a bridge, a plain phone and a page server on loopback.
type bridgeRig struct {
	bridge *webrtcbridge.Bridge
	phone  *media.Session
	dev    *audiotest.Device
	url    string
	result chan browserResult
	// what the browser fetches with GET /offer (mode=answer)
	offer []byte
}

func newBridgeRig(t *testing.T) *bridgeRig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	br, err := webrtcbridge.New(webrtcbridge.Config{IP: netip.MustParseAddr("127.0.0.1"), RTPPortMin: 43000, RTPPortMax: 43999, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); br.Run(ctx) }()

	cfg := media.DefaultConfig()
	cfg.PortMin, cfg.PortMax = 44000, 44999
	phone, err := media.NewSession(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { phone.Close() })
	dev := &audiotest.Device{Source: audiotest.Sine(440, 10000)}
	t.Cleanup(func() { dev.Close() })
	audio := media.NewAudio(dev, log)
	audio.Connect(phone)
	wg.Add(1)
	go func() { defer wg.Done(); audio.Run(ctx) }()

	r := &bridgeRig{bridge: br, phone: phone, dev: dev, result: make(chan browserResult, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, browserPage)
	})
	mux.Handle(softphone.Prefix, softphone.Handler())
	mux.HandleFunc("POST /offer", func(w http.ResponseWriter, req *http.Request) { // browser calls the phone
		body, _ := io.ReadAll(req.Body)
		plainOffer, err := br.Offer(req.Context(), "browser-call", "tagB", "", true, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		plainAnswer, err := phone.AcceptOffer(plainOffer)
		if err != nil {
			http.Error(w, "phone: "+err.Error(), http.StatusBadRequest)
			return
		}
		answer, err := br.Answer(req.Context(), "browser-call", "tagB", "tagP", false, plainAnswer)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Write(answer)
	})
	mux.HandleFunc("GET /offer", func(w http.ResponseWriter, _ *http.Request) { w.Write(r.offer) })
	mux.HandleFunc("POST /answer", func(w http.ResponseWriter, req *http.Request) { // the phone calls the browser
		body, _ := io.ReadAll(req.Body)
		plainAnswer, err := br.Answer(req.Context(), "phone-call", "tagP", "tagB", true, body)
		if err == nil {
			err = phone.AcceptAnswer(plainAnswer)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	mux.HandleFunc("POST /result", func(w http.ResponseWriter, req *http.Request) {
		var res browserResult
		if err := json.NewDecoder(req.Body).Decode(&res); err != nil {
			res.Error = "unreadable result: " + err.Error()
		}
		select {
		case r.result <- res:
		default:
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	wg.Add(1)
	go func() { defer wg.Done(); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	r.url = "http://" + ln.Addr().String() + "/" // loopback http is a secure context
	return r
}

// runChromium opens url in headless Chromium whose microphone plays wav.
func runChromium(t *testing.T, url, wav string) {
	t.Helper()
	chromium.Start(t, chromium.Options{URL: url, MicWAV: wav})
}

func chromiumMicWAV(t *testing.T) string {
	t.Helper()
	wav := filepath.Join(t.TempDir(), "mic-1khz.wav")
	if err := os.WriteFile(wav, tone.WAV(tone.Sine(1000, 48000, 10*time.Second, 10000), 48000), 0o644); err != nil {
		t.Fatal(err)
	}
	return wav
}

// heard is what the phone's speaker played, as samples in [-1, 1].
func (r *bridgeRig) heard() []float64 {
	played := r.dev.Played()
	out := make([]float64, len(played))
	for i, s := range played {
		out[i] = float64(s) / 32768
	}
	return out
}

func (r *bridgeRig) check(t *testing.T) {
	t.Helper()
	var res browserResult
	select {
	case res = <-r.result:
	case <-time.After(30 * time.Second):
		t.Fatal("the browser reported nothing within 30 s")
	}
	if res.Error != "" {
		t.Fatalf("the browser failed: %s", res.Error)
	}
	t.Logf("browser: %+v", res)
	t.Logf("setup: Chromium connected %.1f ms after starting the offer/answer", res.SetupMs)
	if res.Packets < 100 || !strings.HasPrefix(res.Codec, "audio/PCM") {
		t.Errorf("the browser received %d packets of %q, want a G.711 stream", res.Packets, res.Codec)
	}
	if res.Peak < 420 || res.Peak > 460 {
		t.Errorf("the browser hears %.0f Hz loudest, want the phone's 440 Hz", res.Peak)
	}
	if hz, rms := tone.Dominant(r.heard(), 8000); hz < 980 || hz > 1020 || rms < 0.01 {
		t.Errorf("the phone hears %.0f Hz at level %.3f, want the browser's 1 kHz", hz, rms)
	}
	select {
	case d := <-r.phone.DTMF():
		if d != '5' {
			t.Errorf("the phone received DTMF %q, want '5'", d)
		}
	case <-time.After(3 * time.Second):
		t.Errorf("the browser's DTMF '5' (RFC 4733) never reached the phone (canInsertDTMF %v)", res.CanDTMF)
	}
}

func TestWebRTCBrowserCallsPhone(t *testing.T) {
	r := newBridgeRig(t)
	runChromium(t, r.url+"?mode=offer", chromiumMicWAV(t))
	r.check(t)
}

func TestWebRTCPhoneCallsBrowser(t *testing.T) {
	r := newBridgeRig(t)
	plainOffer, err := r.phone.Offer()
	if err != nil {
		t.Fatal(err)
	}
	r.offer, err = r.bridge.Offer(context.Background(), "phone-call", "tagP", "", false, plainOffer)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(r.offer), "a=ice-lite") {
		t.Fatalf("the browser's offer is not ICE-lite:\n%s", r.offer)
	}
	runChromium(t, r.url+"?mode=answer", chromiumMicWAV(t))
	r.check(t)
}

// The /phone/ page loads in Chromium under its own Content-Security-Policy, and the embedded
// JsSIP bundle defines the global JsSIP the page runs on.
func TestSoftphonePageLoads(t *testing.T) {
	bin := chromium.Binary(t)
	srv := httptest.NewServer(softphone.Handler())
	t.Cleanup(srv.Close)
	var out syncBuffer
	cmd := exec.Command(bin, append(chromium.Flags(chromium.Options{}, t.TempDir()), "--dump-dom", srv.URL+softphone.Prefix)...)
	cmd.Stdout = &out
	p := startPeer(t, cmd)
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("Chromium did not finish loading the page within 30 s")
	}
	dom := out.String()
	if !strings.Contains(dom, `data-jssip="3.13.8"`) {
		t.Fatalf("the page did not run with JsSIP 3.13.8 loaded; its DOM:\n%.2000s", dom)
	}
	for _, id := range []string{`id="pad"`, `id="call"`, `id="hold"`, `id="transfer"`, `id="mute"`, `id="level"`, `id="quality"`} {
		if !strings.Contains(dom, id) {
			t.Errorf("the page lacks %s", id)
		}
	}
}
