package e2e

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// streamTo starts the media peer's tone towards the phone's RTP port once the call is up.
func (e *phoneEnv) streamTo(t *testing.T, p *mediaPeer, hz float64) {
	t.Helper()
	st := e.waitStatus(t, "call", "in_call", 15*time.Second)
	port := int(mediaStat(st, "local_port"))
	if port == 0 {
		t.Fatalf("no media port in status %v", st["media"])
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.stream(ctx, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}, hz) }()
	t.Cleanup(func() { cancel(); <-done })
}

// dtmfBothWays sends digits from the phone (API) and from the peer (RTP events) on payload type
// pt, and checks each side got them.
func (e *phoneEnv) dtmfBothWays(t *testing.T, p *mediaPeer, pt uint8) {
	t.Helper()
	e.mustPost(t, "dtmf", `{"digits":"123#"}`)
	waitFor(t, fmt.Sprintf("DTMF 123# on payload type %d at the far end", pt), 10*time.Second, func() bool { return p.digits(pt) == "123#" })
	p.sendDigits(pt, "4*9")
	waitFor(t, "DTMF 4*9 at the phone", 10*time.Second, func() bool { return e.status(t)["dtmf_received"] == "4*9" })
	for _, other := range []uint8{96, 101} {
		if other != pt && p.packets(other) > 0 {
			t.Fatalf("the phone sent %d packets on payload type %d; the call negotiated %d", p.packets(other), other, pt)
		}
	}
}

// An Alcatel-style caller (SIPp through the registrar) offers telephone-event on payload type 96
// while the Pi is set to offer 101: the Pi answers, sends its DTMF on 96, understands 96, and
// the audio goes both ways (1 kHz microphone at the far end, the far end's 700 Hz in speaker.wav).
func TestPhoneSIPpCallerDTMF96(t *testing.T) {
	e := startPhone(t, phoneOptions{phoneTOML: "dtmf_payload_type = 101\n"})
	p := newMediaPeer(t)
	s := startSIPpIn(t, fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort), "-sf", sippScenario(t, "phone_uac.xml"),
		"-s", "5002", "-key", "aor", "5003", "-au", "softphone", "-ap", softphonePassword,
		"-key", "rtpport", strconv.Itoa(p.port()), "-key", "dtmfpt", "96", "-i", "127.0.0.1")
	st := e.waitStatus(t, "call", "ringing", 15*time.Second)
	if st["peer"] != "5003" {
		t.Fatalf("ringing from %v", st["peer"])
	}
	e.mustPost(t, "answer", "")
	e.streamTo(t, p, 700)
	e.dtmfBothWays(t, p, 96)
	time.Sleep(talkTime)
	e.mustPost(t, "hangup", "")
	s.wait(t)
	e.waitStatus(t, "call", "idle", 5*time.Second)
	requireToneIn(t, "audio at the far end", p.received(), 1000)
	requireTone(t, e.Speaker, 700)
	e.requireLastCall(t, "in", "5003", "answered", 2)
}

// A caller offering PCMU then PCMA, as Asterisk does, gets PCMU back although the Pi (tone country
// fr) prefers PCMA for its own offers: SIPp checks the answer's m= line, and the far end receives
// PCMU only, carrying the Pi's 1 kHz microphone.
func TestPhoneAnswersWithOfferersFirstCodec(t *testing.T) {
	e := startPhone(t, phoneOptions{})
	p := newMediaPeer(t)
	s := startSIPpIn(t, fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort), "-sf", sippScenario(t, "phone_uac_pcmu_first.xml"),
		"-s", "5002", "-key", "aor", "5003", "-au", "softphone", "-ap", softphonePassword,
		"-key", "rtpport", strconv.Itoa(p.port()), "-i", "127.0.0.1")
	e.waitStatus(t, "call", "ringing", 15*time.Second)
	e.mustPost(t, "answer", "")
	e.streamTo(t, p, 700)
	if st := e.status(t); st["media"].(map[string]any)["codec"] != "PCMU" {
		t.Errorf("the Pi's call uses %v, want PCMU", st["media"])
	}
	time.Sleep(talkTime)
	e.mustPost(t, "hangup", "")
	s.wait(t)
	if p.packets(8) != 0 || p.packets(0) < 25 {
		t.Fatalf("far end got %d PCMU and %d PCMA packets, want PCMU only", p.packets(0), p.packets(8))
	}
	requireToneIn(t, "audio at the far end", p.received(), 1000)
}

// The Pi calls a SIPp phone registered to the built-in registrar, which answers with payload type
// 101; DTMF works both ways on 101 and the Pi hangs up with BYE.
func TestPhoneCallsSIPpDTMF101(t *testing.T) {
	e := startPhone(t, phoneOptions{phoneTOML: "dtmf_payload_type = 101\n"})
	uas := freePort(t, "udp")
	e.registerSIPp(t, uas, "5003", "softphone")
	p := newMediaPeer(t)
	s := startSIPpIn(t, "-sf", sippScenario(t, "phone_uas.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(uas),
		"-key", "rtpport", strconv.Itoa(p.port()), "-key", "dtmfpt", "101")
	e.mustPost(t, "dial", `{"to":"5003"}`)
	e.streamTo(t, p, 700)
	e.dtmfBothWays(t, p, 101)
	time.Sleep(talkTime)
	e.mustPost(t, "hangup", "")
	s.wait(t)
	e.waitStatus(t, "call", "idle", 5*time.Second)
	requireToneIn(t, "audio at the far end", p.received(), 1000)
	requireTone(t, e.Speaker, 700)
	e.requireLastCall(t, "out", "5003", "answered", 2)
}

// sippCallsPi starts SIPp as account 5003 calling the Pi through the registrar with scenario
// (keys aor, rtpport = the media peer's port, dtmfpt 101).
func (e *phoneEnv) sippCallsPi(t *testing.T, scenario string, p *mediaPeer) *sippRun {
	t.Helper()
	return startSIPpIn(t, fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort), "-sf", sippScenario(t, scenario),
		"-s", "5002", "-key", "aor", "5003", "-au", "softphone", "-ap", softphonePassword,
		"-key", "rtpport", strconv.Itoa(p.port()), "-key", "dtmfpt", "101", "-i", "127.0.0.1")
}

// The far end puts the Pi on hold and back (re-INVITEs with sendonly then sendrecv): the Pi
// answers recvonly then sendrecv (SIPp checks the SDP) and the status shows the remote hold.
func TestPhoneRemoteHoldResume(t *testing.T) {
	e := startPhone(t, phoneOptions{})
	p := newMediaPeer(t)
	s := e.sippCallsPi(t, "phone_uac_hold.xml", p)
	e.waitStatus(t, "call", "ringing", 15*time.Second)
	e.mustPost(t, "answer", "")
	e.streamTo(t, p, 700)
	e.waitStatus(t, "remote_hold", "true", 10*time.Second)
	e.waitStatus(t, "remote_hold", "<nil>", 10*time.Second) // omitted when false
	time.Sleep(time.Second)
	e.mustPost(t, "hangup", "")
	s.wait(t)
	requireTone(t, e.Speaker, 700)
}

// UPDATE (RFC 3311) from the far end, as re-INVITE's lighter twin: hold (sendonly offered,
// recvonly answered, the status shows remote_hold), resume, and a session refresh without a body,
// each answered 200; the audio keeps flowing to the Pi.
func TestPhoneAnswersUpdate(t *testing.T) {
	e := startPhone(t, phoneOptions{})
	p := newMediaPeer(t)
	s := e.sippCallsPi(t, "phone_uac_update.xml", p)
	e.waitStatus(t, "call", "ringing", 15*time.Second)
	e.mustPost(t, "answer", "")
	e.streamTo(t, p, 700)
	e.waitStatus(t, "remote_hold", "true", 10*time.Second)
	e.waitStatus(t, "remote_hold", "<nil>", 10*time.Second) // omitted when false
	e.WaitLog(t, "session refreshed (UPDATE)", 10*time.Second)
	e.mustPost(t, "hangup", "")
	s.wait(t)
	requireTone(t, e.Speaker, 700)
}

// A busy far end (486): the call ends, the log says busy.
func TestPhoneCallsBusySIPp(t *testing.T) {
	e := startPhone(t, phoneOptions{})
	uas := freePort(t, "udp")
	e.registerSIPp(t, uas, "5003", "softphone")
	s := startSIPpIn(t, "-sf", sippScenario(t, "phone_uas_busy.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(uas))
	e.mustPost(t, "dial", `{"to":"5003"}`)
	s.wait(t)
	e.waitStatus(t, "call", "idle", 10*time.Second)
	e.requireLastCall(t, "out", "5003", "busy", 0)
}

// Hanging up while the far end rings sends CANCEL (SIPp expects it, answers 200 and 487); while
// it rang, the handset played the French ringback tone.
func TestPhoneCancelsRingingCall(t *testing.T) {
	e := startPhone(t, phoneOptions{})
	uas := freePort(t, "udp")
	e.registerSIPp(t, uas, "5003", "softphone")
	s := startSIPpIn(t, "-sf", sippScenario(t, "uas_ring.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(uas))
	e.mustPost(t, "dial", `{"to":"5003"}`)
	e.WaitLog(t, "event=progress", 10*time.Second) // 180 Ringing reached the phone
	time.Sleep(1600 * time.Millisecond)            // one ringback burst: 1.5 s of 440 Hz in France
	e.mustPost(t, "hangup", "")
	s.wait(t)
	e.waitStatus(t, "call", "idle", 10*time.Second)
	e.requireLastCall(t, "out", "5003", "cancelled", 0)
	requireTone(t, e.Speaker, 440) // the local ringback tone
}

// T11: a far end that challenges the Pi's re-INVITE (401) and BYE (407) with the registrar's
// realm gets no credentials: SIPp fails if a second request arrives, and nothing it received
// carries an Authorization header. The call is gone on the Pi's side.
func TestPhoneDigestLeakGuard(t *testing.T) {
	e := startPhone(t, phoneOptions{})
	uas := freePort(t, "udp")
	e.registerSIPp(t, uas, "5003", "softphone")
	p := newMediaPeer(t)
	s := startSIPpIn(t, "-sf", sippScenario(t, "phone_uas_leak.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(uas),
		"-key", "rtpport", strconv.Itoa(p.port()), "-key", "realm", "deskphone")
	e.mustPost(t, "dial", `{"to":"5003"}`)
	e.waitStatus(t, "call", "in_call", 10*time.Second)
	e.mustPost(t, "hold", `{"on":true}`)
	e.WaitLog(t, "hold re-INVITE failed", 10*time.Second)
	e.mustPost(t, "hangup", "")
	e.waitStatus(t, "call", "idle", 10*time.Second)
	s.wait(t)
	msgs := s.messages()
	if !strings.Contains(msgs, "407 Proxy Authentication Required") {
		t.Fatalf("SIPp trace does not show the 407:\n%s", msgs)
	}
	for _, h := range []string{"Authorization:", "Proxy-Authorization:"} {
		if strings.Contains(msgs, h) {
			t.Fatalf("credentials reached the far end (%s):\n%s", h, msgs)
		}
	}
	if !strings.Contains(e.Logs(), "BYE not confirmed") {
		t.Fatalf("the Pi did not log the refused BYE")
	}
}

// DTMF sent as SIP INFO (application/dtmf-relay and application/dtmf) reaches the phone.
func TestPhoneSIPInfoDTMF(t *testing.T) {
	e := startPhone(t, phoneOptions{})
	p := newMediaPeer(t)
	s := startSIPpIn(t, fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort), "-sf", sippScenario(t, "phone_uac_info.xml"),
		"-s", "5002", "-key", "aor", "5003", "-au", "softphone", "-ap", softphonePassword,
		"-key", "rtpport", strconv.Itoa(p.port()), "-key", "dtmfpt", "101", "-i", "127.0.0.1")
	e.waitStatus(t, "call", "ringing", 15*time.Second)
	e.mustPost(t, "answer", "")
	e.waitStatus(t, "dtmf_received", "78", 10*time.Second)
	e.mustPost(t, "hangup", "")
	s.wait(t)
}

// OPTIONS to the phone's own port is answered 200 with the methods it handles.
func TestPhoneAnswersOptions(t *testing.T) {
	e := startPhone(t, phoneOptions{})
	runSIPp(t, fmt.Sprintf("127.0.0.1:%d", e.PhonePort), "-sf", sippScenario(t, "phone_options.xml"), "-i", "127.0.0.1")
}

// Early media: a 183 with SDP connects the far end's audio before the answer, instead of the
// local ringback.
func TestPhoneEarlyMedia(t *testing.T) {
	e := startPhone(t, phoneOptions{})
	uas := freePort(t, "udp")
	e.registerSIPp(t, uas, "5003", "softphone")
	p := newMediaPeer(t)
	s := startSIPpIn(t, "-sf", sippScenario(t, "phone_uas_early.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(uas),
		"-key", "rtpport", strconv.Itoa(p.port()))
	e.mustPost(t, "dial", `{"to":"5003"}`)
	var port int
	waitFor(t, "early media connected", 10*time.Second, func() bool {
		st := e.status(t)
		port = int(mediaStat(st, "local_port"))
		return port != 0 && st["call"] == "dialing"
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.stream(ctx, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}, 700) }()
	defer func() { cancel(); <-done }()
	e.waitStatus(t, "call", "in_call", 10*time.Second)
	time.Sleep(time.Second)
	e.mustPost(t, "hangup", "")
	s.wait(t)
	requireTone(t, e.Speaker, 700)
}

// The far end moves its media to another address with a re-INVITE (Asterisk direct media): the
// Pi's audio follows to the new address.
func TestPhoneFollowsMediaAddressChange(t *testing.T) {
	e := startPhone(t, phoneOptions{})
	first, second := newMediaPeer(t), newMediaPeer(t)
	s := startSIPpIn(t, fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort), "-sf", sippScenario(t, "phone_uac_move.xml"),
		"-s", "5002", "-key", "aor", "5003", "-au", "softphone", "-ap", softphonePassword,
		"-key", "rtpport", strconv.Itoa(first.port()), "-key", "rtpport2", strconv.Itoa(second.port()),
		"-key", "dtmfpt", "101", "-i", "127.0.0.1")
	e.waitStatus(t, "call", "ringing", 15*time.Second)
	e.mustPost(t, "answer", "")
	e.waitStatus(t, "call", "in_call", 5*time.Second)
	waitFor(t, "audio at the first address", 10*time.Second, func() bool { return first.packets(0) > 20 })
	waitFor(t, "audio at the new address", 10*time.Second, func() bool { return second.packets(0) > 50 })
	e.mustPost(t, "hangup", "")
	s.wait(t)
	requireToneIn(t, "audio at the new address", second.received(), 1000)
}
