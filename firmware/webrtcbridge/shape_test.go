package webrtcbridge

import (
	"context"
	"testing"
	"time"
)

// mediaBridge is the interface a SIP proxy declares to use the bridge (see the package
// documentation); the bridge must keep satisfying it with no pion type in it.
type mediaBridge interface {
	Offer(ctx context.Context, callID, fromTag, toTag string, fromBrowser bool, sdp []byte) ([]byte, error)
	Answer(ctx context.Context, callID, fromTag, toTag string, fromBrowser bool, sdp []byte) ([]byte, error)
	Close(callID string)
}

var _ mediaBridge = (*Bridge)(nil)

// A call whose offer is never answered, and never closed by the proxy, is ended by Run.
func TestSetupTimeout(t *testing.T) {
	br, stop := runBridge(t, Config{IP: loopback, RTPPortMin: 29100, RTPPortMax: 29199, SetupTimeout: 300 * time.Millisecond})
	defer stop()
	ph := newPhone(t, 101)
	if _, err := br.Offer(context.Background(), "lost", "t", "", false, ph.sdp("0", 101, "sendrecv")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for br.Calls() != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := br.Calls(); n != 0 {
		t.Errorf("an unanswered call survives its setup timeout (%d calls)", n)
	}
}

// Two browsers at once share the one ICE port; each hears its own phone.
func TestTwoCallsOnePort(t *testing.T) {
	br := startBridge(t)
	ctx := context.Background()
	type leg struct {
		b   *browserPeer
		ph  *phonePeer
		rtp []byte
	}
	var legs []leg
	for _, id := range []string{"one", "two"} {
		b, ph := newBrowser(t, 126), newPhone(t, 101)
		plain, err := br.Offer(ctx, id, "tB", "", true, b.offer(t))
		if err != nil {
			t.Fatal(err)
		}
		answer, err := br.Answer(ctx, id, "tB", "tP", false, ph.sdp("0", 101, "sendrecv"))
		if err != nil {
			t.Fatal(err)
		}
		b.accept(t, answer)
		legs = append(legs, leg{b, ph, plain})
	}
	for _, l := range legs {
		l.b.waitConnected(t)
		d, _ := parseAudio(l.rtp)
		exchange(t, l.b, l.ph, d.addr, ptPCMU, 101)
	}
}
