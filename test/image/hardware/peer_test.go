package hardware

import (
	"fmt"
	"testing"
	"time"

	"github.com/deskphone/deskphone/test/baresip"
	"github.com/deskphone/deskphone/test/tone"
)

// startPeer starts a baresip softphone at addr on the host side of the test LAN, driven over
// ctrl_tcp, and waits until it is registered to the phone's registrar as extension 5003. Its
// microphone is a sine at toneHz; what it hears is dumped to a WAV file (sndfile module).
func startPeer(t *testing.T, addr, registrar string, toneHz int) *baresip.Phone {
	t.Helper()
	p := baresip.Start(t, baresip.Config{ListenIP: addr, SIPPort: 5070, CtrlPort: 4444, RTPMin: 20000, RTPMax: 20010, ToneHz: toneHz,
		Account: fmt.Sprintf("<sip:5003@%s>;auth_user=peer;auth_pass=peer-test-password-2718;regint=600;answermode=manual;audio_codecs=PCMU,PCMA", registrar)})
	p.WaitLog(t, "200 OK", 20*time.Second) // registered
	return p
}

// peerHeard is what the peer received in the call (its decoded audio), mono, with its rate.
func peerHeard(t *testing.T, p *baresip.Phone) ([]float64, int) {
	t.Helper()
	return tone.ReadFirstChannel(t, p.Received(t))
}
