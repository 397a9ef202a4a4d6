package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/test/chromium"
	"github.com/deskphone/deskphone/test/tone"
)

// wsProxy is a stand-in for the registrar's SIP WebSocket side, enough for one browser: it
// accepts any REGISTER and answers the browser's INVITEs with the plain phone of the rig,
// passing each SDP through the bridge as the proxy does.
type wsProxy struct {
	addr   string
	client *sipgo.Client
	mu     sync.Mutex
	errs   []string
	// where the browser registered: its Contact and the WebSocket connection it came on
	contact *sip.ContactHeader
	source  string
	referTo string // the Refer-To of the last REFER
}

func (p *wsProxy) fail(format string, args ...any) {
	p.mu.Lock()
	p.errs = append(p.errs, fmt.Sprintf(format, args...))
	p.mu.Unlock()
}

func startWSProxy(t *testing.T, r *bridgeRig) *wsProxy {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("deskphone-test"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &wsProxy{addr: ln.Addr().String()}
	uriParams := sip.NewParams()
	uriParams.Add("transport", "ws")
	contact := sip.ContactHeader{Address: sip.Uri{User: "pi", Host: "127.0.0.1", UriParams: uriParams}}

	client, err := sipgo.NewClient(ua)
	if err != nil {
		t.Fatal(err)
	}
	p.client = client
	srv.OnRegister(func(req *sip.Request, tx sip.ServerTransaction) {
		res := sip.NewResponseFromRequest(req, 200, "OK", nil)
		if c := req.Contact(); c != nil {
			p.mu.Lock()
			p.contact, p.source = c.Clone(), req.Source()
			p.mu.Unlock()
			echo := c.Clone()
			echo.Params.Add("expires", "600")
			res.AppendHeader(echo)
		}
		tx.Respond(res)
	})
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		ctx := context.Background()
		callID := req.CallID().Value()
		fromTag, _ := req.From().Params.Get("tag")
		toTag, inDialog := req.To().Params.Get("tag") // "" for the initial INVITE
		res := sip.NewResponseFromRequest(req, 200, "OK", nil)
		plainOffer, err := r.bridge.Offer(ctx, callID, fromTag, toTag, true, req.Body())
		if err != nil {
			p.fail("bridge offer: %v", err)
			tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
			return
		}
		var plainAnswer []byte
		if inDialog {
			plainAnswer, err = r.phone.Update(plainOffer)
		} else {
			plainAnswer, err = r.phone.AcceptOffer(plainOffer)
		}
		if err != nil {
			p.fail("phone: %v", err)
			tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
			return
		}
		resTag, _ := res.To().Params.Get("tag")
		answer, err := r.bridge.Answer(ctx, callID, fromTag, resTag, false, plainAnswer)
		if err != nil {
			p.fail("bridge answer: %v", err)
			tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
			return
		}
		res.SetBody(answer)
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.AppendHeader(contact.Clone())
		tx.Respond(res)
	})
	srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	srv.OnRefer(func(req *sip.Request, tx sip.ServerTransaction) {
		if h := req.GetHeader("Refer-To"); h != nil {
			p.mu.Lock()
			p.referTo = h.Value()
			p.mu.Unlock()
		}
		tx.Respond(sip.NewResponseFromRequest(req, 202, "Accepted", nil))
	})
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		r.bridge.Close(req.CallID().Value())
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	go srv.ServeWS(ln)
	t.Cleanup(func() { srv.Close(); ln.Close(); client.Close(); ua.Close() })
	return p
}

// The /phone/ page, as a user drives it: sign in, dial, talk (tones both ways), press 5, hold,
// resume, mute, transfer. JsSIP speaks SIP over a WebSocket to a stand-in proxy; media goes through
// the bridge to a plain RTP phone.
func TestSoftphonePageCallsPhone(t *testing.T) {
	r := newBridgeRig(t)
	proxy := startWSProxy(t, r)
	page := signIn(t, r, proxy)

	page.Eval(`$("number").value = "5002"; $("call").click()`)
	page.WaitFor(`$("status").textContent === "connected"`, 15*time.Second) // the call connects

	// The browser hears the phone's 440 Hz.
	if peak := remotePeak(page); peak < 420 || peak > 460 {
		t.Errorf("the page plays %.0f Hz loudest, want the phone's 440 Hz", peak)
	}
	// The phone hears the browser's 1 kHz.
	if hz, rms := tone.Dominant(r.heard(), 8000); hz < 980 || hz > 1020 || rms < 0.01 {
		t.Errorf("the phone hears %.0f Hz at level %.3f, want the browser's 1 kHz", hz, rms)
	}
	// The microphone meter moves and the quality line names the codec.
	page.WaitFor(`$("level").value > 0.05`, 5*time.Second)                          // the microphone level shows
	page.WaitFor(`/^good · PCM[AU]/.test($("quality").textContent)`, 5*time.Second) // the call quality shows

	// Pressing 5 on the pad reaches the phone as an RFC 4733 event.
	page.Eval(`document.querySelector('[data-key="5"]').click()`)
	select {
	case d := <-r.phone.DTMF():
		if d != '5' {
			t.Errorf("the phone received DTMF %q, want '5'", d)
		}
	case <-time.After(5 * time.Second):
		t.Error("pressing 5 during the call sent no DTMF to the phone")
	}

	// Hold and resume go through the bridge as re-INVITEs.
	page.Eval(`$("hold").click()`)
	page.WaitFor(`$("status").textContent === "on hold" && $("hold").getAttribute("aria-pressed") === "true"`, 10*time.Second) // on hold
	page.Eval(`$("hold").click()`)
	page.WaitFor(`$("status").textContent === "connected" && $("hold").getAttribute("aria-pressed") === "false"`, 10*time.Second) // resumed

	// Mute, then a blind transfer to 5003: a REFER, and the page leaves the call.
	page.Eval(`$("mute").click()`)
	page.WaitFor(`$("mute").getAttribute("aria-pressed") === "true"`, 5*time.Second) // muted
	page.Eval(`$("number").value = "5003"; $("transfer").click()`)
	page.WaitFor(`$("incall").hidden && $("hangup").disabled`, 10*time.Second) // the call ends after the transfer
	proxy.mu.Lock()
	referTo := proxy.referTo
	proxy.mu.Unlock()
	if !strings.Contains(referTo, "sip:5003@") {
		t.Errorf("the transfer sent Refer-To %q, want 5003", referTo)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.bridge.Calls() != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := r.bridge.Calls(); n != 0 {
		t.Errorf("%d bridged calls left after the page hung up", n)
	}
	proxy.mu.Lock()
	defer proxy.mu.Unlock()
	for _, e := range proxy.errs {
		t.Error(e)
	}
	if strings.Contains(pageMessage(page), "failed") {
		t.Errorf("the page reports a failure: %s", pageMessage(page))
	}
}

// callBrowser sends an INVITE with offer to the registered browser, down the WebSocket it
// registered on, ACKs the browser's 2xx and hands it to answered.
func (p *wsProxy) callBrowser(callID, fromTag string, offer []byte, answered func(*sip.Response) error) error {
	p.mu.Lock()
	contact, source := p.contact, p.source
	p.mu.Unlock()
	if contact == nil {
		return errors.New("the browser has not registered")
	}
	req := sip.NewRequest(sip.INVITE, contact.Address)
	fromParams := sip.NewParams()
	fromParams.Add("tag", fromTag)
	req.AppendHeader(&sip.FromHeader{DisplayName: "Desk Pi", Address: sip.Uri{User: "5001", Host: "127.0.0.1"}, Params: fromParams})
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{User: "alice", Host: "127.0.0.1"}, Params: sip.NewParams()})
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{User: "pi", Host: "127.0.0.1"}})
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(offer)
	req.SetTransport("WS")
	req.SetDestination(source)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tx, err := p.client.TransactionRequest(ctx, req)
	if err != nil {
		return fmt.Errorf("INVITE to the browser: %w", err)
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.StatusCode < 200 {
				continue
			}
			if res.StatusCode >= 300 {
				return fmt.Errorf("the browser refused the call: %d %s", res.StatusCode, res.Reason)
			}
			ack := sip.NewRequest(sip.ACK, contact.Address)
			from, to := *res.From(), *res.To()
			ack.AppendHeader(&from)
			ack.AppendHeader(&to)
			ack.AppendHeader(&cid)
			ack.AppendHeader(&sip.CSeqHeader{SeqNo: res.CSeq().SeqNo, MethodName: sip.ACK})
			ack.SetTransport("WS")
			ack.SetDestination(source)
			if err := p.client.WriteRequest(ack); err != nil {
				return fmt.Errorf("ACK to the browser: %w", err)
			}
			return answered(res)
		case <-tx.Done():
			return fmt.Errorf("the INVITE to the browser ended without an answer: %v", tx.Err())
		case <-ctx.Done():
			return errors.New("the browser did not answer within 30 s")
		}
	}
}

// The page rings for an incoming call, shows the caller, answers, talks both ways and hangs
// up; the next call it rejects.
func TestSoftphonePageAnswersPhone(t *testing.T) {
	r := newBridgeRig(t)
	proxy := startWSProxy(t, r)
	page := signIn(t, r, proxy)

	plainOffer, err := r.phone.Offer()
	if err != nil {
		t.Fatal(err)
	}
	offer, err := r.bridge.Offer(context.Background(), "incoming-1", "tagPi", "", false, plainOffer)
	if err != nil {
		t.Fatal(err)
	}
	called := make(chan error, 1)
	go func() {
		called <- proxy.callBrowser("incoming-1", "tagPi", offer, func(res *sip.Response) error {
			toTag, _ := res.To().Params.Get("tag")
			plainAnswer, err := r.bridge.Answer(context.Background(), "incoming-1", "tagPi", toTag, true, res.Body())
			if err != nil {
				return err
			}
			return r.phone.AcceptAnswer(plainAnswer)
		})
	}()
	// A user sees the call ringing, with the caller's name, and answers it.
	page.WaitFor(`!$("incoming").hidden && $("caller").textContent === "Desk Pi (5001)"`, 15*time.Second) // the call rings
	page.Eval(`$("answer").click()`)
	if err := <-called; err != nil {
		t.Fatal(err)
	}
	page.WaitFor(`$("status").textContent === "connected" && $("incoming").hidden`, 15*time.Second) // the call connects

	if peak := remotePeak(page); peak < 420 || peak > 460 {
		t.Errorf("the page plays %.0f Hz loudest, want the phone's 440 Hz", peak)
	}
	if hz, rms := tone.Dominant(r.heard(), 8000); hz < 980 || hz > 1020 || rms < 0.01 {
		t.Errorf("the phone hears %.0f Hz at level %.3f, want the browser's 1 kHz", hz, rms)
	}
	page.Eval(`$("hangup").click()`)
	page.WaitFor(`$("incall").hidden && $("hangup").disabled`, 10*time.Second) // the call ends

	// A second call is rejected with the Reject button: 486 Busy Here.
	offer, err = r.bridge.Offer(context.Background(), "incoming-2", "tagPi2", "", false,
		[]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		called <- proxy.callBrowser("incoming-2", "tagPi2", offer, func(*sip.Response) error { return nil })
	}()
	page.WaitFor(`!$("incoming").hidden`, 15*time.Second) // the second call rings
	page.Eval(`$("reject").click()`)
	if err := <-called; err == nil || !strings.Contains(err.Error(), "486") {
		t.Errorf("rejecting the call: %v, want 486 Busy Here", err)
	}
	r.bridge.Close("incoming-2")
	page.WaitFor(`$("incoming").hidden && !$("call").disabled`, 5*time.Second) // the ringing stops
}

// signIn opens /phone/ in Chromium (its microphone playing 1 kHz) and signs in as alice at
// the stand-in proxy.
func signIn(t *testing.T, r *bridgeRig, proxy *wsProxy) *chromium.Browser {
	t.Helper()
	page := chromium.Start(t, chromium.Options{URL: r.url + "phone/", MicWAV: chromiumMicWAV(t)})
	page.WaitFor(`document.documentElement.dataset.jssip === "3.13.8"`, 15*time.Second) // the page loads
	page.Eval(fmt.Sprintf(`$("user").value = "alice"; $("password").value = "secret";
		$("server").value = "ws://%s"; $("login").requestSubmit()`, proxy.addr))
	page.WaitFor(`$("reg").classList.contains("on") && !$("phone").hidden`, 15*time.Second) // registered
	return page
}

// remotePeak is the loudest frequency the page plays from the call over 2 s (WebAudio).
func remotePeak(page *chromium.Browser) float64 {
	var peak float64
	page.EvalInto(`(async () => {
		const ctx = new AudioContext(); await ctx.resume();
		const an = ctx.createAnalyser(); an.fftSize = 8192;
		ctx.createMediaStreamSource($("remote").srcObject).connect(an);
		await new Promise(r => setTimeout(r, 2000));
		const bins = new Float32Array(an.frequencyBinCount); an.getFloatFrequencyData(bins);
		let best = 1; for (let i = 2; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
		ctx.close();
		return best * ctx.sampleRate / an.fftSize;
	})()`, &peak)
	return peak
}

// pageMessage is the page's message line.
func pageMessage(page *chromium.Browser) string {
	s, _ := page.Eval(`$("message").textContent`).(string)
	return s
}
