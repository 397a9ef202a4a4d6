package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kamailio is a Kamailio registrar and proxy on loopback (test/kamailio/kamailio.cfg).
type kamailio struct {
	Addr string
	out  *syncBuffer
}

// startKamailio runs Kamailio with accounts user:password from users.
func startKamailio(t *testing.T, users map[string]string) *kamailio {
	t.Helper()
	return startKamailioWith(t, users, nil)
}

// startKamailioWith is startKamailio with the configuration passed through edit first.
func startKamailioWith(t *testing.T, users map[string]string, edit func(cfg string) string) *kamailio {
	t.Helper()
	requireTool(t, "kamailio", "kamailio")
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	os.Mkdir(db, 0o755)
	os.WriteFile(filepath.Join(db, "version"), []byte("table_name(str) table_version(int)\nsubscriber:7\nlocation:9\n"), 0o644)
	var sub strings.Builder
	sub.WriteString("id(int,auto) username(str) domain(str,null) password(str) ha1(str,null) ha1b(str,null)\n")
	i := 1
	for u, p := range users {
		fmt.Fprintf(&sub, "%d:%s:deskphone:%s::\n", i, u, p)
		i++
	}
	os.WriteFile(filepath.Join(db, "subscriber"), []byte(sub.String()), 0o644)
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "test", "kamailio", "kamailio.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t, "udp")
	k := &kamailio{Addr: fmt.Sprintf("127.0.0.1:%d", port)}
	cfg := strings.NewReplacer("LISTEN_ADDR", k.Addr, "DB_DIR", db).Replace(string(src))
	if edit != nil {
		cfg = edit(cfg)
	}
	cfgPath := filepath.Join(dir, "kamailio.cfg")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	run := filepath.Join(dir, "run")
	os.Mkdir(run, 0o755)
	_, k.out = startPeerProcess(t, "kamailio", "-f", cfgPath, "-DD", "-E", "-Y", run, "-w", dir)
	// Ready when it answers OPTIONS.
	waitFor(t, "kamailio to answer", 10*time.Second, func() bool {
		c, err := net.Dial("udp", k.Addr)
		if err != nil {
			return false
		}
		defer c.Close()
		fmt.Fprintf(c, "OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-probe%d\r\nFrom: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:%s>\r\nCall-ID: probe-%d\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
			k.Addr, c.LocalAddr(), time.Now().UnixNano(), k.Addr, time.Now().UnixNano())
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		buf := make([]byte, 2048)
		n, err := c.Read(buf)
		return err == nil && strings.HasPrefix(string(buf[:n]), "SIP/2.0 200")
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kamailio log:\n%s", lastLines(k.out.String(), 40))
		}
	})
	return k
}

// The office path: Kamailio is the registrar, the Pi is an ordinary extension of it (no
// built-in registrar). A softphone calls the Pi and the Pi calls the softphone, both through
// Kamailio, with audio checked both ways each time.
func TestPhoneThroughKamailio(t *testing.T) {
	k := startKamailio(t, map[string]string{"5002": "pi-secret-5002", "5003": "soft-secret-5003"})
	e := startPhone(t, phoneOptions{noRegistr: true, username: "5002", phoneTOML: fmt.Sprintf(
		"registrar = %q\npassword = \"pi-secret-5002\"\nexpires = \"120s\"\n", k.Addr)})
	e.waitStatus(t, "registration", "registered", 10*time.Second)
	b := startBaresip(t, baresipOptions{ext: "5003", user: "5003", pass: "soft-secret-5003", registrar: k.Addr, toneHz: 600})

	t.Run("softphone calls the Pi", func(t *testing.T) {
		b.Command(t, "dial", "sip:5002@"+k.Addr)
		e.waitStatus(t, "call", "ringing", 10*time.Second)
		e.mustPost(t, "answer", "")
		n, _ := b.WaitEvent(t, "CALL_ESTABLISHED", 0, 10*time.Second)
		time.Sleep(talkTime)
		e.mustPost(t, "hangup", "")
		b.WaitEvent(t, "CALL_CLOSED", n, 10*time.Second)
		e.waitStatus(t, "call", "idle", 5*time.Second)
		requireTone(t, e.Speaker, 600)
		requireTone(t, b.Received(t), 1000)
		e.requireLastCall(t, "in", "5003", "answered", 2)
	})
	t.Run("the Pi calls the softphone", func(t *testing.T) {
		before := b.Events()
		e.mustPost(t, "dial", `{"to":"5003"}`)
		b.WaitEvent(t, "CALL_INCOMING", before, 10*time.Second)
		b.Command(t, "accept", "")
		e.waitStatus(t, "call", "in_call", 10*time.Second)
		time.Sleep(talkTime)
		b.Command(t, "hangup", "")
		e.waitStatus(t, "call", "idle", 10*time.Second)
		requireTone(t, b.Received(t), 1000)
		e.requireLastCall(t, "out", "5003", "answered", 2)
	})
}
