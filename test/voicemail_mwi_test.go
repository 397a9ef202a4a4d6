package e2e

import (
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A phone that does not subscribe (SIPp playing the Alcatel) is busy; the caller leaves a
// message; the phone then gets an unsolicited NOTIFY saying one message waits.
func TestVoicemailUnsolicitedMWISIPp(t *testing.T) {
	e := startVoicemail(t, "")
	uas := freePort(t, "udp")
	e.sippRegister(t, "alcatel", "alcatel-secret-1", uas)
	busy := startSIPp(t, "-sf", sippScenario(t, "phone_uas_busy.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(uas), "-m", "1")
	caller := startSIPp(t, e.Addr, "-sf", depositScenario(t, ulawTone(t, 700, 11*time.Second)), "-s", "5001",
		"-key", "aor", "guillaume", "-au", "guillaume", "-ap", "guillaume-secret-3", "-i", "127.0.0.1",
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")&^1))
	if err := busy(); err != nil {
		t.Fatal(err)
	}
	// The phone is free again (the same port) when the message is filed.
	notified := startSIPp(t, "-sf", sippScenario(t, "voicemail_mwi_alcatel.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(uas), "-m", "1")
	if err := caller(); err != nil {
		t.Fatal(err)
	}
	if err := notified(); err != nil {
		t.Fatal(err)
	}
}

// baresip subscribes to its mailbox (RFC 3842): the first NOTIFY says nothing waits; after a
// caller leaves a message it says 1 new; after the message is deleted through the HTTP API it
// says 0 again.
func TestVoicemailMWIBaresip(t *testing.T) {
	e := startVoicemail(t, "")
	b := startBaresip(t, baresipOptions{ext: "5003", user: "guillaume", pass: "guillaume-secret-3", registrar: e.Addr, modules: []string{"mwi.so"}})
	e.WaitLog(t, "message-summary subscription", 10*time.Second)
	// baresip 1.0 prints each NOTIFY body under "----- MWI for <aor> -----".
	b.WaitLog(t, "Voice-Message: 0/0", 10*time.Second)
	if !strings.Contains(b.Log(), "Messages-Waiting: no") {
		t.Fatalf("first NOTIFY:\n%s", b.Log())
	}
	// A caller reaches the mailbox: baresip rings (manual answer) past no_answer.
	runSIPp(t, e.Addr, "-sf", depositScenario(t, ulawTone(t, 700, 11*time.Second)), "-s", "5003",
		"-key", "aor", "alcatel", "-au", "alcatel", "-ap", "alcatel-secret-1", "-i", "127.0.0.1",
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")&^1))
	b.WaitLog(t, "Voice-Message: 1/0", 10*time.Second)
	if !strings.Contains(b.Log(), "Messages-Waiting: yes") {
		t.Fatalf("NOTIFY with a message:\n%s", b.Log())
	}
	msgs := e.messages(t, "5003", "new")
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	id := strings.TrimSuffix(filepath.Base(msgs[0]), ".wav")
	req, _ := http.NewRequest(http.MethodDelete, e.Web+"voicemail/5003/"+id, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %v %v", res, err)
	}
	res.Body.Close()
	waitFor(t, "a NOTIFY saying 0/0 again", 10*time.Second, func() bool { return strings.Count(b.Log(), "Voice-Message: 0/0") >= 2 })
}
