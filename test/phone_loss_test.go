package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/deskphone/deskphone/test/impair"
)

// With 5 % of the RTP dropped both ways by a relay between the Pi and the far end, the call's
// audio still arrives at both ends at the right frequency, and the Pi counts the loss.
func TestPhoneAudioSurvivesLoss(t *testing.T) {
	e := startPhone(t, phoneOptions{})
	p := newMediaPeer(t)
	relay, err := impair.New("127.0.0.1", impair.Options{Loss: 0.05, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	// The Pi is endpoint A: the caller's SDP names the relay's face A as its media address.
	s := startSIPpIn(t, fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort), "-sf", sippScenario(t, "phone_uac.xml"),
		"-s", "5002", "-key", "aor", "5003", "-au", "softphone", "-ap", softphonePassword,
		"-key", "rtpport", strconv.Itoa(int(relay.FaceA().Port())), "-key", "dtmfpt", "101", "-i", "127.0.0.1")
	e.waitStatus(t, "call", "ringing", 15*time.Second)
	e.mustPost(t, "answer", "")
	st := e.waitStatus(t, "call", "in_call", 10*time.Second)
	piRTP := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(mediaStat(st, "local_port")))
	peerRTP := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(p.port()))
	relay.Start(piRTP, peerRTP)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.stream(ctx, net.UDPAddrFromAddrPort(relay.FaceB()), 700) }()
	defer func() { cancel(); <-done }()

	time.Sleep(2 * talkTime)
	st = e.status(t)
	e.mustPost(t, "hangup", "")
	s.wait(t)

	c := relay.Counters()
	if c.Dropped == 0 || c.Forwarded == 0 {
		t.Fatalf("relay dropped %d and forwarded %d packets: the impairment did not happen", c.Dropped, c.Forwarded)
	}
	if lost, concealed := mediaStat(st, "lost"), mediaStat(st, "concealed"); lost == 0 && concealed == 0 {
		t.Fatalf("the Pi saw no loss (lost %v, concealed %v) though the relay dropped %d", lost, concealed, c.Dropped)
	}
	t.Logf("relay: %d forwarded, %d dropped; Pi: lost %v, concealed %v", c.Forwarded, c.Dropped, mediaStat(st, "lost"), mediaStat(st, "concealed"))
	requireToneIn(t, "audio at the far end", p.received(), 1000)
	requireTone(t, e.Speaker, 700)
}
