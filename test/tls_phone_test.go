package e2e

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deskphone/deskphone/firmware/certs"
)

// The Pi's phone over TLS with SRTP: it registers to the built-in registrar's TLS port (trusting
// its certificate by fingerprint), a softphone over TLS with SRTP calls it and is called by it,
// and a capture of the loopback interface finds neither SIP nor audio in the clear.

// startTLSPhone runs registrar + phone with the phone on TLS and srtp = policy.
func startTLSPhone(t *testing.T, policy string, extra ...string) (e *phoneEnv, tlsAddr string, tlsPort int) {
	t.Helper()
	tlsPort = freePort(t, "tcp")
	tlsAddr = fmt.Sprintf("127.0.0.1:%d", tlsPort)
	e = startPhone(t, phoneOptions{
		regTOML:   fmt.Sprintf("tls_listen = %q\n", tlsAddr),
		registrar: tlsAddr,
		phoneTOML: fmt.Sprintf("transport = \"tls\"\nsrtp = %q\n", policy),
		micHz:     1000,
		extra:     strings.Join(extra, ""),
	})
	return e, tlsAddr, tlsPort
}

// mediaField is a field of the status's media section.
func mediaField(st map[string]any, key string) any {
	m, _ := st["media"].(map[string]any)
	return m[key]
}

// tlsSoftphone is baresip registered over TLS to addr with mediaenc (srtp, srtp-mand).
func tlsSoftphone(t *testing.T, e *phoneEnv, addr, mediaenc string) baresipOptions {
	return baresipOptions{ext: "5003", user: "softphone", pass: softphonePassword, registrar: addr, toneHz: 600,
		transport: "tls", extraAccount: ";mediaenc=" + mediaenc,
		extraConfig: fmt.Sprintf("sip_cafile %s\nmodule srtp.so\n", filepath.Join(e.DataDir, "tls", certs.CAFile))}
}

func TestTLSPhoneAnswersSRTPSoftphone(t *testing.T) {
	e, tlsAddr, tlsPort := startTLSPhone(t, "mandatory")
	if !strings.Contains(e.Logs(), "transport=tls") {
		t.Fatalf("the phone does not say it uses TLS:\n%s", e.Logs())
	}
	rtpMin := rtpBase(e.PhonePort) // the phone's RTP ports (startPhone); the loopback is shared with other tests
	capt := startCapture(t, fmt.Sprintf("tcp port %d or (udp and portrange %d-%d)", tlsPort, rtpMin, rtpMin+98))
	b := startBaresip(t, tlsSoftphone(t, e, tlsAddr, "srtp-mand"))

	b.Command(t, "dial", "sip:5002@"+tlsAddr+";transport=tls")
	e.waitStatus(t, "call", "ringing", 10*time.Second)
	e.mustPost(t, "answer", "")
	b.WaitEvent(t, "CALL_ESTABLISHED", 0, 10*time.Second)
	time.Sleep(talkTime)
	st := e.status(t)
	if got := mediaStat(st, "packets_received"); got < 50 {
		t.Fatalf("the phone received %v RTP packets in %s", got, talkTime)
	}
	if fmt.Sprint(mediaField(st, "srtp")) != "AES_CM_128_HMAC_SHA1_80" {
		t.Fatalf("the call is not encrypted: status %v", st)
	}
	e.mustPost(t, "hangup", "")
	b.WaitEvent(t, "CALL_CLOSED", 0, 10*time.Second)

	requireTone(t, e.Speaker, 600)
	requireTone(t, b.Received(t), 1000)
	pkts := capt.packets(t)
	requireNoPlainSIP(t, pkts, tlsPort)
	share, f, n := wireAudio(pkts, rtpMin, rtpMin+98)
	if n < 100 || share > 0.1 {
		t.Fatalf("the wire carries %d RTP packets, the clearest %.0f Hz at %.0f%% of the power: audio in the clear", n, f, share*100)
	}
	t.Logf("wire: %d RTP packets, strongest %.0f Hz at %.1f%% (noise)", n, f, share*100)
}

func TestTLSPhoneCallsSRTPSoftphone(t *testing.T) {
	e, tlsAddr, _ := startTLSPhone(t, "optional")
	b := startBaresip(t, tlsSoftphone(t, e, tlsAddr, "srtp"))
	e.ctl(t, "dial", "5003")
	b.WaitEvent(t, "CALL_INCOMING", 0, 10*time.Second)
	b.Command(t, "accept", "")
	e.waitStatus(t, "call", "in_call", 10*time.Second)
	time.Sleep(talkTime)
	st := e.status(t)
	if fmt.Sprint(mediaField(st, "srtp")) != "AES_CM_128_HMAC_SHA1_80" {
		t.Fatalf("the call is not encrypted: status %v", st)
	}
	b.Command(t, "hangup", "")
	e.waitStatus(t, "call", "idle", 10*time.Second)
	requireTone(t, e.Speaker, 600)
	requireTone(t, b.Received(t), 1000)
}

// A phone pinned to another certificate refuses the registrar and says why.
func TestTLSPhoneRefusesWrongCertificate(t *testing.T) {
	tlsPort := freePort(t, "tcp")
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", tlsPort)
	wrong := strings.Repeat("AB:", 31) + "AB"
	e := startPhone(t, phoneOptions{
		regTOML:   fmt.Sprintf("tls_listen = %q\n", tlsAddr),
		registrar: tlsAddr,
		phoneTOML: fmt.Sprintf("transport = \"tls\"\ntls_fingerprint = %q\n", wrong),
		noWait:    true,
	})
	e.WaitLog(t, "not the pinned "+wrong, 15*time.Second)
	t.Logf("%s", lastLines(e.Logs(), 3))
	if st := e.status(t); fmt.Sprint(st["registration"]) == "registered" {
		t.Fatalf("registered through a certificate it should refuse: %v", st)
	}
}

// linphone-cli over TLS with SRTP (trusting the registrar's certificate, checking its name)
// registers to the Pi, calls the Pi's phone (encrypted both ways) and a UDP softphone (plain RTP
// on that leg: the UDP phone has no SRTP), and the capture finds no SIP in the clear.
func TestTLSLinphoneCallsPhoneAndUDPPhone(t *testing.T) {
	e, tlsAddr, tlsPort := startTLSPhone(t, "optional", `
[[registrar.accounts]]
extension = "5005"
username = "linphone"
password = "linphone-pass-5005"
`)
	capt := startCapture(t, fmt.Sprintf("tcp port %d", tlsPort))
	l := startLinphoneWith(t, "linphone", "linphone-pass-5005", tlsAddr+";transport=tls", "tls",
		// linphone's TLS library matches only names, not IP addresses: the chain is checked,
		// the name is not (docs/tls.md).
		fmt.Sprintf("root_ca=%s\nverify_server_certs=1\nverify_server_cn=0\nmedia_encryption=srtp\nmedia_encryption_mandatory=0\n",
			filepath.Join(e.DataDir, "tls", certs.CAFile)))
	e.WaitLog(t, "extension=5005", 30*time.Second)
	if !strings.Contains(e.Logs(), "transport=TLS") {
		t.Fatalf("linphone's binding is not over TLS:\n%s", e.Logs())
	}

	l.send(t, "call sip:5002@"+tlsAddr+";transport=tls")
	e.waitStatus(t, "call", "ringing", 15*time.Second)
	e.mustPost(t, "answer", "")
	l.waitOutput(t, "connected", 10*time.Second)
	wav := filepath.Join(t.TempDir(), "tone.wav")
	micWAV(t, wav, 600, 5*time.Second)
	l.send(t, "play "+wav)
	waitFor(t, "SRTP from linphone", 10*time.Second, func() bool { return mediaStat(e.status(t), "packets_received") > 100 })
	if st := e.status(t); fmt.Sprint(mediaField(st, "srtp")) == "" || mediaStat(st, "srtp_rejected") > 0 {
		t.Fatalf("the call with linphone is not encrypted: %v", st)
	}
	e.mustPost(t, "hangup", "")
	l.waitOutput(t, "ended", 10*time.Second)
	e.waitStatus(t, "call", "idle", 5*time.Second)
	requireTone(t, e.Speaker, 600)

	udp := startBaresip(t, baresipOptions{ext: "5003", user: "softphone", pass: softphonePassword,
		registrar: fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort), toneHz: 440})
	rx := filepath.Join(t.TempDir(), "linphone-rx.wav")
	l.send(t, "record "+rx)
	l.send(t, "call sip:5003@"+tlsAddr+";transport=tls")
	udp.WaitEvent(t, "CALL_INCOMING", 0, 15*time.Second)
	udp.Command(t, "accept", "")
	udp.WaitEvent(t, "CALL_ESTABLISHED", 0, 10*time.Second)
	l.send(t, "play "+wav)
	time.Sleep(talkTime)
	udp.Command(t, "hangup", "")
	udp.WaitEvent(t, "CALL_CLOSED", 0, 10*time.Second)
	l.waitOutput(t, "Call 2 with", 10*time.Second)
	time.Sleep(500 * time.Millisecond)
	// linphone offered SRTP; the Pi bridged it to plain RTP for the UDP phone.
	requireRegTone(t, "linphone (caller, TLS) from the UDP phone", rx, 440)
	requireNoPlainSIP(t, capt.packets(t), tlsPort)
}

// A phone on TLS refuses a call reaching it over plain UDP, even from the registrar's address:
// its answer would carry the SRTP keys in the clear.
func TestTLSPhoneRefusesPlainUDPCall(t *testing.T) {
	e, _, _ := startTLSPhone(t, "mandatory")
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", e.PhonePort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/SAVP 0\r\n" +
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\r\n"
	fmt.Fprintf(c, "INVITE sip:5002@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-plain1\r\n"+
		"From: <sip:5003@127.0.0.1>;tag=a1\r\nTo: <sip:5002@127.0.0.1>\r\nCall-ID: plain-udp-1\r\nCSeq: 1 INVITE\r\n"+
		"Contact: <sip:5003@%s>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		e.PhonePort, c.LocalAddr(), c.LocalAddr(), len(sdp), sdp)
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no final answer to a plain INVITE: %v", err)
		}
		msg := string(buf[:n])
		if strings.HasPrefix(msg, "SIP/2.0 1") {
			continue
		}
		if !strings.HasPrefix(msg, "SIP/2.0 403") || strings.Contains(msg, "a=crypto") {
			t.Fatalf("a plain INVITE got:\n%s", msg)
		}
		break
	}
	if st := e.status(t); fmt.Sprint(st["call"]) != "idle" {
		t.Fatalf("the phone rings for a plain call: %v", st)
	}
}
