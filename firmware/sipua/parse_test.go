package sipua

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestInfoDigit(t *testing.T) {
	cases := []struct {
		ct, body string
		digit    rune
		code     int
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', 200},
		{"Application/DTMF-Relay", "signal = #\r\n", '#', 200},
		{"application/dtmf", "9", '9', 200},
		{"application/dtmf", "b", 'B', 200},
		{"application/dtmf-relay", "Duration=160", 0, 400},
		{"application/dtmf-relay", "Signal=x", 0, 400},
		{"text/plain", "Signal=5", 0, 415},
		{"", "", 0, 415},
	}
	for _, c := range cases {
		d, code := infoDigit(c.ct, []byte(c.body))
		if d != c.digit || code != c.code {
			t.Errorf("infoDigit(%q, %q) = %q %d, want %q %d", c.ct, c.body, d, code, c.digit, c.code)
		}
	}
}

// The granted expiry is our Contact's expires parameter, else the Expires header, else what we
// asked (RFC 3261 §10.2.4).
func TestGranted(t *testing.T) {
	u := &UA{cfg: Config{Extension: "5002"}, localIP: "127.0.0.1", port: 5062}
	mk := func(raw string) *sip.Response {
		msg, err := sip.ParseMessage([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		return msg.(*sip.Response)
	}
	head := "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1\r\nFrom: <sip:5002@x>;tag=1\r\nTo: <sip:5002@x>;tag=2\r\nCall-ID: a\r\nCSeq: 1 REGISTER\r\n"
	cases := []struct {
		name, headers string
		want          time.Duration
		bad           bool
	}{
		{"contact param", "Contact: <sip:5002@127.0.0.1:5062>;expires=120\r\nExpires: 3600\r\n", 120 * time.Second, false},
		{"ours among others", "Contact: <sip:5002@10.0.0.9:5060>;expires=30, <sip:5002@127.0.0.1:5062>;expires=90\r\n", 90 * time.Second, false},
		{"expires header", "Contact: <sip:5002@127.0.0.1:5062>\r\nExpires: 600\r\n", 600 * time.Second, false},
		{"nothing", "", time.Hour, false},
		{"removed", "Contact: <sip:5002@127.0.0.1:5062>;expires=0\r\n", 0, true},
		{"garbage", "Expires: soon\r\n", 0, true},
	}
	for _, c := range cases {
		got, err := u.granted(mk(head+c.headers+"Content-Length: 0\r\n\r\n"), time.Hour)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("%s: granted %v, %v; want %v (error %v)", c.name, got, err, c.want, c.bad)
		}
	}
}

func TestRefreshAfter(t *testing.T) {
	for d, want := range map[time.Duration]time.Duration{
		2 * time.Second: time.Second, 60 * time.Second: 45 * time.Second, time.Hour: time.Hour - 30*time.Second,
	} {
		if got := refreshAfter(d); got != want || got <= 0 || got >= d {
			t.Errorf("refreshAfter(%v) = %v, want %v", d, got, want)
		}
	}
}

func FuzzInfoDigit(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	f.Add("application/dtmf", []byte("#"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		d, code := infoDigit(ct, body)
		if code == 200 && !strings.ContainsRune("0123456789*#ABCD", d) {
			t.Fatalf("accepted %q", d)
		}
		if code != 200 && d != 0 {
			t.Fatalf("digit %q with code %d", d, code)
		}
	})
}

func FuzzSipfragStatus(f *testing.F) {
	f.Add([]byte("SIP/2.0 200 OK\r\n"))
	f.Add([]byte("SIP/2.0 100 Trying"))
	f.Fuzz(func(t *testing.T, body []byte) {
		if n, _ := sipfragStatus(body); n != 0 && (n < 100 || n > 699) {
			t.Fatalf("status %d", n)
		}
	})
}

func FuzzSDPHolds(f *testing.F) {
	f.Add([]byte("v=0\r\nc=IN IP4 0.0.0.0\r\na=sendonly\r\n"))
	f.Fuzz(func(t *testing.T, sdp []byte) { sdpHolds(sdp) })
}

// Credentials go only to the registrar's address and only for its realm (CVE-2021-41158 class).
func TestAuthorizeGuard(t *testing.T) {
	u := &UA{cfg: Config{Registrar: "127.0.0.1:5060", BackupRegistrar: "127.0.0.2:5060", Username: "rpi", Password: "pw"},
		regAddr: "127.0.0.1:5060"}
	challenge := func(src, realm string, code int) *sip.Response {
		req := sip.NewRequest(sip.BYE, sip.Uri{Scheme: "sip", User: "5003", Host: "127.0.0.1"})
		res := sip.NewResponseFromRequest(req, code, "Challenge", nil)
		name := "WWW-Authenticate"
		if code == 407 {
			name = "Proxy-Authenticate"
		}
		res.AppendHeader(sip.NewHeader(name, `Digest realm="`+realm+`", nonce="n1", algorithm=MD5`))
		res.SetSource(src)
		return res
	}
	newReq := func() *sip.Request {
		return sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "5003", Host: "127.0.0.1"})
	}
	// A stranger asking first does not get to fix the realm.
	if err := u.authorize(newReq(), challenge("127.0.0.9:5060", "deskphone", 407)); !errors.Is(err, ErrChallengeRefused) {
		t.Fatalf("stranger: %v", err)
	}
	req := newReq()
	if err := u.authorize(req, challenge("127.0.0.1:5060", "deskphone", 401)); err != nil {
		t.Fatalf("registrar: %v", err)
	}
	if h := req.GetHeader("Authorization"); h == nil || !strings.Contains(h.Value(), `username="rpi"`) {
		t.Fatalf("no credentials for the registrar: %v", h)
	}
	req = newReq()
	if err := u.authorize(req, challenge("127.0.0.1:5060", "other-realm", 407)); !errors.Is(err, ErrChallengeRefused) {
		t.Fatalf("registrar with another realm: %v", err)
	}
	if req.GetHeader("Proxy-Authorization") != nil {
		t.Fatal("credentials added for a foreign realm")
	}
	if err := u.authorize(newReq(), challenge("127.0.0.2:5060", "deskphone", 407)); err != nil {
		t.Fatalf("backup registrar: %v", err)
	}
	if err := u.authorize(newReq(), challenge("127.0.0.1:5999", "deskphone", 407)); !errors.Is(err, ErrChallengeRefused) {
		t.Fatalf("registrar's host on another port: %v", err)
	}
}

// A registrar that keeps failing is retried after 1 s, 2 s, 4 s … up to the maximum, alternating
// with the backup; a success resets the backoff and the next wait is the refresh of the granted
// expiry. The schedule runs on synctest's clock.
func TestRegistrationBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ev := newEvents()
		u := &UA{cfg: Config{Extension: "5002", Registrar: "primary:5060", BackupRegistrar: "backup:5060",
			BackoffMin: time.Second, BackoffMax: 8 * time.Second, Expires: time.Hour}, lis: ev, log: testLog(t)}
		type try struct {
			addr string
			wait time.Duration // since the previous REGISTER
		}
		var tries []try
		last := time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go u.keepRegistered(ctx, func(ctx context.Context, addr string, expires time.Duration) (time.Duration, error) {
			if expires == 0 {
				return 0, nil
			}
			tries = append(tries, try{addr, time.Since(last).Round(time.Millisecond)})
			last = time.Now()
			if len(tries) < 6 {
				return 0, errors.New("503 Service Unavailable")
			}
			return 120 * time.Second, nil
		})
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		want := []try{{"primary:5060", 0}, {"backup:5060", time.Second}, {"primary:5060", 2 * time.Second},
			{"backup:5060", 4 * time.Second}, {"primary:5060", 8 * time.Second}, {"backup:5060", 8 * time.Second},
			{"backup:5060", 90 * time.Second}}
		if fmt.Sprint(tries) != fmt.Sprint(want) {
			t.Fatalf("REGISTERs went\n%v\nwant\n%v", tries, want)
		}
		ev.want(t, "reg registered")
	})
}
