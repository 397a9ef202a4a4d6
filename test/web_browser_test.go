package e2e

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A user's tour of the pages in headless Chromium: http:// leads to the HTTPS login, the printed
// password logs in, the dashboard shows the phone registered, an account made on the page
// registers SIPp, the pairing window opens, a call made from the page's dial pad shows in the
// call log. Screenshots of each page are kept (DESKPHONE_SCREENSHOTS=folder to keep them).
func TestWebPagesInChromium(t *testing.T) {
	fw := t.TempDir()
	e := startWeb(t, phoneOptions{provKeys: fmt.Sprintf("enabled = true\npairing = \"button\"\nfirmware_dir = %q\nntp_server = \"127.0.0.1\"\n", fw)})
	b := startBrowser(t, spkiPin(t, e.DataDir), 1100, 900)

	b.navigate(e.Plain + "/")
	b.waitFor(`location.href.startsWith("`+e.Base+`/login")`, 10*time.Second)
	if got := b.text("#fingerprint"); got != e.Fingerprint {
		t.Fatalf("login page shows fingerprint %q, console %q", got, e.Fingerprint)
	}
	b.screenshot("login")
	b.fill(`input[name=password]`, "not-the-password")
	b.eval(`document.querySelector("form[action='/login']").submit()`)
	b.waitFor(`document.readyState === "complete" && document.body.innerText.includes("Wrong password")`, 10*time.Second)
	b.fill(`input[name=password]`, e.Password)
	b.eval(`document.querySelector("form[action='/login']").submit()`)
	b.waitFor(`location.pathname === "/" && document.querySelector("#registration .badge") && document.querySelector("#registration .badge").innerText === "registered"`, 10*time.Second)
	if cookie := b.eval(`document.cookie`); cookie != "" {
		t.Fatalf("the session cookie is readable by scripts: %v", cookie)
	}
	b.screenshot("dashboard")
	// On a phone-sized screen nothing sticks out sideways: wide tables scroll in their card.
	b.call(b.session, "Emulation.setDeviceMetricsOverride", map[string]any{"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true}, nil)
	b.navigate(e.Base + "/phone")
	b.waitFor(`document.querySelector("#registration .badge")`, 10*time.Second)
	if w := b.eval(`document.documentElement.scrollWidth`); w.(float64) > 390 {
		t.Errorf("the phone page is %v px wide on a 390 px screen", w)
	}
	b.screenshot("phone-sized")
	b.call(b.session, "Emulation.setDeviceMetricsOverride", map[string]any{"width": 1100, "height": 900, "deviceScaleFactor": 1, "mobile": false}, nil)

	// An account made on the page, used by SIPp.
	b.navigate(e.Base + "/accounts")
	b.waitFor(`document.querySelector("#accounts").innerText.includes("softphone2")`, 10*time.Second)
	b.fill(`#add-account [name=extension]`, "5010")
	b.fill(`#add-account [name=username]`, "sipp-user")
	b.fill(`#add-account [name=display_name]`, "SIPp on the bench")
	b.click(`#add-account button`)
	b.waitFor(`document.querySelector("#add-account .msg").innerText.includes("Added 5010")`, 10*time.Second)
	m := regexp.MustCompile(`password (\S+)`).FindStringSubmatch(b.text("#add-account .msg"))
	if m == nil {
		t.Fatalf("no password shown: %q", b.text("#add-account .msg"))
	}
	b.waitFor(`document.querySelector("#accounts").innerText.includes("SIPp on the bench")`, 5*time.Second)
	b.click(`#accounts tbody tr:last-child button`) // Show password of the page-made account (sorted last)
	b.waitFor(`document.querySelector("#accounts code.password")`, 5*time.Second)
	b.screenshot("accounts")
	reg := &regEnv{Addr: fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort)}
	reg.sippRegister(t, "sipp-user", m[1], freePort(t, "udp"))
	b.navigate(e.Base + "/")
	b.waitFor(`document.querySelector("#bindings").innerText.includes("sipp-user") && document.querySelector("#bans tbody tr")`, 10*time.Second)
	b.screenshot("dashboard-devices") // (docs/web-dashboard.png)

	// The log, and a SIP trace of a registration.
	b.navigate(e.Base + "/logs")
	b.waitFor(`document.querySelector("#log").innerText.includes("deskphone ready")`, 10*time.Second)
	b.click("#trace-on")
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(e.Logs(), `msg="web: SIP trace" component=web on=true`); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the trace toggle did not reach the service")
		}
	}
	reg.sippRegister(t, "sipp-user", m[1], freePort(t, "udp"))
	b.waitFor(`document.querySelector("#trace").innerText.includes("REGISTER sip:") && document.querySelector("#trace").innerText.includes("SIP/2.0 200 OK")`, 10*time.Second)
	b.eval(`document.querySelector("#trace details:last-child").open = true`)
	b.screenshot("logs")

	// Pairing.
	b.navigate(e.Base + "/pairing")
	b.waitFor(`document.querySelector("#pairing-state").innerText === "closed"`, 10*time.Second)
	b.click("#pair-open")
	b.waitFor(`document.querySelector("#pairing-state").innerText.startsWith("open")`, 10*time.Second)
	b.screenshot("pairing")
	if st := e.status(t); !strings.Contains(fmt.Sprint(st["provisioning"]), "open:true") {
		t.Fatalf("pairing not open in the service: %v", st["provisioning"])
	}

	// A call from the page's dial pad to a softphone, then the call log.
	bs := startBaresip(t, baresipOptions{ext: "5003", user: "softphone", pass: softphonePassword,
		registrar: fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort), toneHz: 600})
	b.navigate(e.Base + "/phone")
	b.waitFor(`document.querySelector("#call").innerText === "idle"`, 10*time.Second)
	for _, k := range "5003" {
		b.click(fmt.Sprintf(`.key[data-key="%c"]`, k))
	}
	b.waitFor(`document.querySelector("#number").value === "5003"`, 5*time.Second)
	b.waitFor(`document.querySelector("#volumes [name=speaker]").value === "80"`, 5*time.Second)
	b.eval(`(() => { const r = document.querySelector("#volumes [name=ringer]"); r.value = "35"; r.dispatchEvent(new Event("change")); })()`)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, body := do(t, &http.Client{}, "GET", e.api+"volume", "", nil); strings.Contains(body, `"ringer": 35`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ringer slider did not set the volume")
		}
	}
	b.click(`[data-act=dial]`)
	bs.WaitEvent(t, "CALL_INCOMING", 0, 10*time.Second)
	bs.Command(t, "accept", "")
	b.waitFor(`document.querySelector("#call").innerText === "in_call"`, 10*time.Second)
	time.Sleep(2 * time.Second)
	b.screenshot("phone")
	b.click(`[data-act=hangup]`)
	b.waitFor(`document.querySelector("#call").innerText === "idle"`, 10*time.Second)
	e.requireLastCall(t, "out", "5003", "answered", 1)
	b.navigate(e.Base + "/calls")
	b.waitFor(`document.querySelector("#calls tbody").innerText.includes("5003") && document.querySelector("#calls tbody").innerText.includes("answered")`, 10*time.Second)
	b.waitFor(`document.querySelectorAll("#calls svg.plot polyline").length === 2`, 10*time.Second)
	if mos := b.text("#calls tbody tr:first-child td:nth-child(8)"); !strings.HasPrefix(mos, "4.") {
		t.Fatalf("a clean loopback call has MOS %q, want 4.x", mos)
	}
	b.screenshot("calls")

	// A setting: a mistake is shown by line and saves nothing; the fixed file is saved, the old
	// one kept, and the service restarts with it.
	b.navigate(e.Base + "/settings")
	b.waitFor(`document.querySelector("#config-text").value.includes("tone_country = \"fr\"")`, 10*time.Second)
	before, _ := os.ReadFile(e.ConfigPath)
	b.eval(`(() => { const ta = document.querySelector("#config-text"); ta.value = ta.value.replace('tone_country = "fr"', 'tone_country = "xx"'); })()`)
	b.click("#config-save")
	b.waitFor(`document.querySelector("#problems").innerText.includes("phone.tone_country")`, 10*time.Second)
	b.screenshot("settings-problem")
	if after, _ := os.ReadFile(e.ConfigPath); string(after) != string(before) {
		t.Fatal("a config with problems was saved")
	}
	if !regexp.MustCompile(`line \d+: phone.tone_country`).MatchString(b.text("#problems")) {
		t.Fatalf("problem without its line: %q", b.text("#problems"))
	}
	b.eval(`(() => { const ta = document.querySelector("#config-text"); ta.value = ta.value.replace('tone_country = "xx"', 'tone_country = "de"'); })()`)
	b.click("#config-save")
	b.waitFor(`document.querySelector(".msg").innerText.includes("saved")`, 10*time.Second)
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
	b.navigate(base + "/")
	b.waitFor(`location.pathname === "/login"`, 10*time.Second) // sessions end with the process
}
