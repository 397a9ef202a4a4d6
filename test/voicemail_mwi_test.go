package e2e

import (
	"encoding/json"
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
	e := startVoicemail(t, "127.0.0.1", "")
	uas := freePort(t, "udp")
	e.sippRegister(t, "alcatel", "alcatel-secret-1", uas)
	busy := startSIPp(t, "-sf", sippScenario(t, "phone_uas_busy.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(uas), "-m", "1")
	caller := startSIPp(t, e.Addr, "-sf", depositScenario(t, ulawTone(t, 700, 11*time.Second)), "-s", "5001",
		"-key", "aor", "guillaume", "-au", "guillaume", "-ap", "guillaume-secret-3", "-i", "127.0.0.1",
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePorts(t, "udp", 4)))
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
	e := startVoicemail(t, "127.0.0.1", "")
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
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePorts(t, "udp", 4)))
	b.WaitLog(t, "Voice-Message: 1/0", 10*time.Second)
	if !strings.Contains(b.Log(), "Messages-Waiting: yes") {
		t.Fatalf("NOTIFY with a message:\n%s", b.Log())
	}
	msgs := e.messages(t, "5003", "new")
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	id := strings.TrimSuffix(filepath.Base(msgs[0]), ".wav")
	// The status API and the mailbox listing show it.
	var st struct {
		Voicemail struct {
			Mailboxes map[string]struct{ New, Saved int }
		}
	}
	getJSON(t, e.Web+"status", &st)
	if st.Voicemail.Mailboxes["5003"].New != 1 {
		t.Fatalf("status voicemail = %+v", st.Voicemail)
	}
	var list struct {
		New      int
		Messages []struct{ ID, Caller string }
	}
	getJSON(t, e.Web+"voicemail/5003", &list)
	if list.New != 1 || len(list.Messages) != 1 || list.Messages[0].ID != id || list.Messages[0].Caller != "alcatel" {
		t.Fatalf("listing = %+v", list)
	}
	req, _ := http.NewRequest(http.MethodDelete, e.Web+"voicemail/5003/"+id, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %v %v", res, err)
	}
	res.Body.Close()
	waitFor(t, "a NOTIFY saying 0/0 again", 10*time.Second, func() bool { return strings.Count(b.Log(), "Voice-Message: 0/0") >= 2 })
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// Requests the voicemail must refuse: one sent straight to its port (not through the
// registrar's authentication), a subscription to someone else's mailbox, a too short one, an
// unknown event package. Nothing is recorded.
func TestVoicemailRefusesHostileRequests(t *testing.T) {
	e := startVoicemail(t, "127.0.0.1", "")
	_, after, _ := strings.Cut(e.Logs(), "msg=\"voicemail ready\"")
	_, sipAddr, _ := strings.Cut(after, " sip=")
	sipAddr = strings.Fields(sipAddr)[0]

	direct := newRawUA(t, "127.0.0.1", sipAddr)
	if res := direct.request("INVITE", "sip:deposit-5001@"+sipAddr, "", ""); statusOf(res) != 403 {
		t.Fatalf("INVITE straight to the voicemail port: %q, want 403", res)
	}
	if res := direct.request("SUBSCRIBE", "sip:mwi-5001@"+sipAddr, "", "", "Event: message-summary"); statusOf(res) != 403 {
		t.Fatalf("SUBSCRIBE straight to the voicemail port: %q, want 403", res)
	}
	e.WaitLog(t, "voicemail refused a request that did not come through the registrar", 2*time.Second)

	u := newRawUA(t, "127.0.0.1", e.Addr)
	for _, c := range []struct {
		ruri  string
		extra []string
		want  int
	}{
		{"sip:5001@" + e.Addr, []string{"Event: message-summary"}, 403}, // guillaume asks for alcatel's box
		{"sip:5003@" + e.Addr, []string{"Event: message-summary", "Expires: 5"}, 423},
		{"sip:5003@" + e.Addr, []string{"Event: message-summary", "Expires: soon"}, 400},
		{"sip:5003@" + e.Addr, []string{"Event: presence"}, 405},
	} {
		if res := u.request("SUBSCRIBE", c.ruri, "guillaume", "guillaume-secret-3", c.extra...); statusOf(res) != c.want {
			t.Errorf("SUBSCRIBE %s %v: %q, want %d", c.ruri, c.extra, res, c.want)
		}
	}
	if got := e.messages(t, "5001", "new"); len(got) != 0 {
		t.Fatalf("messages recorded: %v", got)
	}
}
