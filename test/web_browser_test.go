package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deskphone/deskphone/test/chromium"
)

// A user's tour of the pages in headless Chromium: http:// leads to the HTTPS login, the printed
// password logs in, the dashboard shows the phone registered, an account made on the page
// registers SIPp, the pairing window opens, a call made from the page's dial pad shows in the
// call log. Screenshots of each page are kept (DESKPHONE_SCREENSHOTS=folder to keep them).
func TestWebPagesInChromium(t *testing.T) {
	fw := t.TempDir()
	e := startWeb(t, phoneOptions{provKeys: fmt.Sprintf("enabled = true\npairing = \"button\"\nfirmware_dir = %q\nntp_server = \"127.0.0.1\"\n", fw)})
	b := chromium.Start(t, chromium.Options{SPKI: chromium.SPKIPin(t, filepath.Join(e.DataDir, "tls", "server.crt"))})

	b.Navigate(e.Plain + "/")
	b.WaitFor(`location.href.startsWith("`+e.Base+`/login")`, 10*time.Second)
	if got := b.Text("#fingerprint"); got != e.Fingerprint {
		t.Fatalf("login page shows fingerprint %q, console %q", got, e.Fingerprint)
	}
	b.Screenshot("login")
	b.Fill(`input[name=password]`, "not-the-password")
	b.Eval(`document.querySelector("form[action='/login']").submit()`)
	b.WaitFor(`document.readyState === "complete" && document.body.innerText.includes("Wrong password")`, 10*time.Second)
	b.Fill(`input[name=password]`, e.Password)
	b.Eval(`document.querySelector("form[action='/login']").submit()`)
	b.WaitFor(`location.pathname === "/" && document.querySelector("#registration .badge") && document.querySelector("#registration .badge").innerText === "registered"`, 10*time.Second)
	if cookie := b.Eval(`document.cookie`); cookie != "" {
		t.Fatalf("the session cookie is readable by scripts: %v", cookie)
	}
	b.Screenshot("dashboard")
	// On a phone-sized screen nothing sticks out sideways: wide tables scroll in their card.
	b.SetViewport(390, 844)
	b.Navigate(e.Base + "/phone")
	b.WaitFor(`document.querySelector("#registration .badge")`, 10*time.Second)
	if w := b.Eval(`document.documentElement.scrollWidth`); w.(float64) > 390 {
		t.Errorf("the phone page is %v px wide on a 390 px screen", w)
	}
	b.Screenshot("phone-sized")
	b.SetViewport(1100, 900)

	// An account made on the page, used by SIPp.
	b.Navigate(e.Base + "/accounts")
	b.WaitFor(`document.querySelector("#accounts").innerText.includes("softphone2")`, 10*time.Second)
	b.Fill(`#add-account [name=extension]`, "5010")
	b.Fill(`#add-account [name=username]`, "sipp-user")
	b.Fill(`#add-account [name=display_name]`, "SIPp on the bench")
	b.Click(`#add-account button`)
	b.WaitFor(`document.querySelector("#add-account .msg").innerText.includes("Added 5010")`, 10*time.Second)
	m := regexp.MustCompile(`password (\S+)`).FindStringSubmatch(b.Text("#add-account .msg"))
	if m == nil {
		t.Fatalf("no password shown: %q", b.Text("#add-account .msg"))
	}
	b.WaitFor(`document.querySelector("#accounts").innerText.includes("SIPp on the bench")`, 5*time.Second)
	b.Click(`#accounts tbody tr:last-child button`) // Show password of the page-made account (sorted last)
	b.WaitFor(`document.querySelector("#accounts code.password")`, 5*time.Second)
	b.Screenshot("accounts")
	reg := &regEnv{Addr: fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort)}
	reg.sippRegister(t, "sipp-user", m[1], freePort(t, "udp"))
	b.Navigate(e.Base + "/")
	b.WaitFor(`document.querySelector("#bindings").innerText.includes("sipp-user") && document.querySelector("#bans tbody tr")`, 10*time.Second)
	b.Screenshot("dashboard-devices") // (docs/web-dashboard.png)

	// The log, and a SIP trace of a registration.
	b.Navigate(e.Base + "/logs")
	b.WaitFor(`document.querySelector("#log").innerText.includes("deskphone ready")`, 10*time.Second)
	b.Click("#trace-on")
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(e.Logs(), `msg="web: SIP trace" component=web on=true`); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the trace toggle did not reach the service")
		}
	}
	reg.sippRegister(t, "sipp-user", m[1], freePort(t, "udp"))
	b.WaitFor(`document.querySelector("#trace").innerText.includes("REGISTER sip:") && document.querySelector("#trace").innerText.includes("SIP/2.0 200 OK")`, 10*time.Second)
	b.Eval(`document.querySelector("#trace details:last-child").open = true`)
	b.Screenshot("logs")

	// Pairing.
	b.Navigate(e.Base + "/pairing")
	b.WaitFor(`document.querySelector("#pairing-state").innerText === "closed"`, 10*time.Second)
	b.Click("#pair-open")
	b.WaitFor(`document.querySelector("#pairing-state").innerText.startsWith("open")`, 10*time.Second)
	b.Screenshot("pairing")
	if st := e.status(t); !strings.Contains(fmt.Sprint(st["provisioning"]), "open:true") {
		t.Fatalf("pairing not open in the service: %v", st["provisioning"])
	}

	// A call from the page's dial pad to a softphone, then the call log.
	bs := startBaresip(t, baresipOptions{ext: "5003", user: "softphone", pass: softphonePassword,
		registrar: fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort), toneHz: 600})
	b.Navigate(e.Base + "/phone")
	b.WaitFor(`document.querySelector("#call").innerText === "idle"`, 10*time.Second)
	for _, k := range "5003" {
		b.Click(fmt.Sprintf(`.key[data-key="%c"]`, k))
	}
	b.WaitFor(`document.querySelector("#number").value === "5003"`, 5*time.Second)
	b.WaitFor(`document.querySelector("#volumes [name=speaker]").value === "80"`, 5*time.Second)
	b.Eval(`(() => { const r = document.querySelector("#volumes [name=ringer]"); r.value = "35"; r.dispatchEvent(new Event("change")); })()`)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, body := do(t, &http.Client{}, "GET", e.api+"volume", "", nil); strings.Contains(body, `"ringer": 35`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ringer slider did not set the volume")
		}
	}
	b.Click(`[data-act=dial]`)
	bs.WaitEvent(t, "CALL_INCOMING", 0, 10*time.Second)
	bs.Command(t, "accept", "")
	b.WaitFor(`document.querySelector("#call").innerText === "in_call"`, 10*time.Second)
	time.Sleep(2 * time.Second)
	b.Screenshot("phone")
	b.Click(`[data-act=hangup]`)
	b.WaitFor(`document.querySelector("#call").innerText === "idle"`, 10*time.Second)
	e.requireLastCall(t, "out", "5003", "answered", 1)
	b.Navigate(e.Base + "/calls")
	b.WaitFor(`document.querySelector("#calls tbody").innerText.includes("5003") && document.querySelector("#calls tbody").innerText.includes("answered")`, 10*time.Second)
	b.WaitFor(`document.querySelectorAll("#calls svg.plot polyline").length === 2`, 10*time.Second)
	if mos := b.Text("#calls tbody tr:first-child td:nth-child(10)"); !strings.HasPrefix(mos, "4.") {
		t.Fatalf("a clean loopback call has MOS %q, want 4.x", mos)
	}
	// Which calls were encrypted: the phone's own call (UDP, plain RTP), and the same call as
	// the registrar relayed it, leg by leg.
	if sig, audio := b.Text("#calls tbody tr:first-child td:nth-child(6)"), b.Text("#calls tbody tr:first-child td:nth-child(7)"); sig != "UDP" || audio != "RTP" {
		t.Fatalf("the call log says signalling %q audio %q, want UDP and RTP", sig, audio)
	}
	b.WaitFor(`document.querySelector("#proxied tbody").innerText.includes("5002") && document.querySelector("#proxied tbody").innerText.includes("ended")`, 10*time.Second)
	if row := b.Text("#proxied tbody tr:first-child"); !strings.Contains(row, "UDP / UDP") || !strings.Contains(row, "RTP / RTP") || !strings.Contains(row, "plain RTP (not encrypted)") {
		t.Fatalf("the registrar's call list row says %q", row)
	}
	b.Screenshot("calls")

	// A setting: a mistake is shown by line and saves nothing; the fixed file is saved, the old
	// one kept, and the service restarts with it.
	b.Navigate(e.Base + "/settings")
	b.WaitFor(`document.querySelector("#config-text").value.includes("tone_country = \"fr\"")`, 10*time.Second)
	before, _ := os.ReadFile(e.ConfigPath)
	b.Eval(`(() => { const ta = document.querySelector("#config-text"); ta.value = ta.value.replace('tone_country = "fr"', 'tone_country = "xx"'); })()`)
	b.Click("#config-save")
	b.WaitFor(`document.querySelector("#problems").innerText.includes("phone.tone_country")`, 10*time.Second)
	b.Screenshot("settings-problem")
	if after, _ := os.ReadFile(e.ConfigPath); string(after) != string(before) {
		t.Fatal("a config with problems was saved")
	}
	if !regexp.MustCompile(`line \d+: phone.tone_country`).MatchString(b.Text("#problems")) {
		t.Fatalf("problem without its line: %q", b.Text("#problems"))
	}
	b.Eval(`(() => { const ta = document.querySelector("#config-text"); ta.value = ta.value.replace('tone_country = "xx"', 'tone_country = "de"'); })()`)
	b.Click("#config-save")
	b.WaitFor(`document.querySelector(".msg").innerText.includes("saved")`, 10*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(e.Logs(), "deskphone ready") < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the service did not restart after saving")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if cur, _ := os.ReadFile(e.ConfigPath); !strings.Contains(string(cur), `tone_country = "de"`) {
		t.Fatal("the new config is not in the file")
	}
	if old, _ := os.ReadFile(e.ConfigPath + ".old"); string(old) != string(before) {
		t.Fatal("the previous config was not kept as .old")
	}
	e.waitStatus(t, "registration", "registered", 10*time.Second)
	base := e.status(t)["web"].(map[string]any)["url"].(string) // (https_listen is port 0 in tests)
	b.Navigate(base + "/")
	b.WaitFor(`location.pathname === "/login"`, 10*time.Second) // sessions end with the process
}
