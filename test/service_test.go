package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A broken config is reported with its line by `deskphone check`, and `run` says what is wrong
// instead of exiting into a silent restart loop.
func TestCheckReportsEveryProblemWithItsLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "deskphone.toml")
	os.WriteFile(path, []byte(`data_dir = "`+dir+`"
[registrar]
listen = "0.0.0.0:5060"

[[registrar.accounts]]
extension = "5001"
username = "alcatel"
password = "1111"
`), 0o600)
	out, err := exec.Command(deskphoneBinary(t), "check", "--config", path).CombinedOutput()
	if code := exitCode(err); code != 1 {
		t.Fatalf("check exit code %d, want 1; output:\n%s", code, out)
	}
	if !strings.Contains(string(out), "line 8: registrar.accounts.0.password: is too short") {
		t.Fatalf("check output does not point at the short password:\n%s", out)
	}
	good := filepath.Join(dir, "good.toml")
	ex, err := exec.Command(deskphoneBinary(t), "example").Output()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(good, ex, 0o600)
	if out, err := exec.Command(deskphoneBinary(t), "check", "--config", good).CombinedOutput(); err != nil {
		t.Fatalf("the shipped example config does not check: %v\n%s", err, out)
	}
}

// `deskphone check` accepts what real PBX setups write: an account named by its own number (the
// usual PBX style, and what SIPVicious' svcrack tries), and, with Asterisk as the registrar, the
// Pi's endpoint named "rpi"; two different accounts sharing a name are still refused.
func TestCheckAcceptsPBXStyleNames(t *testing.T) {
	dir := t.TempDir()
	check := func(name, body string) (string, int) {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(`data_dir = "`+dir+`"
`+body), 0o600)
		out, err := exec.Command(deskphoneBinary(t), "check", "--config", path).CombinedOutput()
		return string(out), exitCode(err)
	}
	if out, code := check("numbered.toml", `
[[registrar.accounts]]
extension = "5001"
username = "5001"
password = "long-enough-pw"
`); code != 0 {
		t.Errorf("an account named by its number does not check (exit %d):\n%s", code, out)
	}
	if out, code := check("asterisk.toml", `
[registrar]
enabled = false
[provisioning]
enabled = false
[phone]
registrar = "192.168.1.10:5060"
extension = "rpi"
username = "rpi"
password = "from-asterisk"
`); code != 0 {
		t.Errorf("the Pi as Asterisk's endpoint rpi does not check (exit %d):\n%s", code, out)
	}
	out, code := check("clash.toml", `
[[registrar.accounts]]
extension = "5001"
username = "5001"
password = "long-enough-pw"

[[registrar.accounts]]
extension = "5002"
username = "5001"
password = "long-enough-pw"
`)
	if code != 1 || !strings.Contains(out, `line 8: registrar.accounts.1: "5001" is already used by registrar.accounts.0`) {
		t.Errorf("two accounts sharing a name: exit %d, want 1 and the clash at line 8:\n%s", code, out)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// A service started on a broken config keeps running and says what is wrong, on its log and on
// the status API, instead of exiting into a silent respawn loop.
func TestRunWithBrokenConfigExplainsItself(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "deskphone.toml")
	port := freePort(t, "tcp")
	os.WriteFile(path, []byte(fmt.Sprintf("data_dir = %q\n[web]\nlisten = \"127.0.0.1:%d\"\n[phone]\ntransport = \"carrier-pigeon\"\n", dir, port)), 0o600)
	var logs syncBuffer
	cmd := exec.Command(deskphoneBinary(t), "run", "--config", path)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var body []byte
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/status", port))
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(string(body), "phone.transport") {
		t.Fatalf("status API does not report the config error: %q\nlog:\n%s", body, logs.String())
	}
	if !strings.Contains(logs.String(), `line 5: phone.transport: must be \"udp\", \"tcp\" or \"tls\"`) {
		t.Fatalf("log does not report the config error with its line:\n%s", logs.String())
	}
	if cmd.ProcessState != nil {
		t.Fatal("service exited on a broken config")
	}
}

// minimalConfig is a registrar + phone + API config on free loopback ports with silent audio.
func minimalConfig(t *testing.T) (cfg string, sipPort, phonePort, webPort int) {
	sipPort, phonePort, webPort = freePort(t, "both"), freePort(t, "both"), freePort(t, "tcp")
	cfg = fmt.Sprintf(`[registrar]
listen = "127.0.0.1:%d"
[phone]
registrar = "127.0.0.1:%d"
listen = "127.0.0.1:%d"
[audio]
backend = "null"
[web]
listen = "127.0.0.1:%d"
https_listen = "127.0.0.1:0"
[provisioning]
firmware_dir = "%s"
`, sipPort, sipPort, phonePort, webPort, t.TempDir())
	return
}

// First boot with no accounts generates strong, distinct passwords for the phone and two
// softphones, keeps them in data_dir, and finds the same ones after a restart.
func TestFirstBootGeneratesAndKeepsAccounts(t *testing.T) {
	cfg, _, _, _ := minimalConfig(t)
	s := startService(t, cfg)
	read := func() map[string]string {
		b, err := os.ReadFile(filepath.Join(s.DataDir, "accounts.json"))
		if err != nil {
			t.Fatal(err)
		}
		var f struct {
			Accounts []struct{ Extension, Password string }
		}
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, a := range f.Accounts {
			m[a.Extension] = a.Password
		}
		return m
	}
	first := read()
	seen := map[string]bool{}
	for _, ext := range []string{"5002", "5003", "5004"} {
		pw := first[ext]
		if len(pw) < 16 || seen[pw] {
			t.Fatalf("account %s has password %q: want 16+ characters, unique", ext, pw)
		}
		seen[pw] = true
		if !strings.Contains(s.Logs(), "extension="+ext) {
			t.Errorf("the console does not show account %s", ext)
		}
	}
	s.Restart(t)
	if again := read(); fmt.Sprint(again) != fmt.Sprint(first) {
		t.Fatalf("accounts changed across a restart:\n%v\n%v", first, again)
	}
}

// `deskphone ctl pair` opens the Alcatel pairing window of the running service, and
// `deskphone ctl status` tells the user the address to type on the handset.
func TestCtlPairOpensThePairingWindow(t *testing.T) {
	cfg, _, _, webPort := minimalConfig(t)
	s := startService(t, cfg)
	ctl := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(deskphoneBinary(t), append([]string{"ctl", "--config", s.ConfigPath}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("deskphone ctl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	pairing := func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/status", webPort))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st struct {
			Provisioning struct {
				Pairing struct{ Open bool } `json:"pairing"`
			} `json:"provisioning"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st.Provisioning.Pairing.Open
	}
	if pairing() {
		t.Fatal("pairing window open before anyone asked (mode button)")
	}
	ctl("pair")
	if !pairing() {
		t.Fatal("deskphone ctl pair did not open the pairing window")
	}
	var out string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if out = ctl("status"); strings.Contains(out, "registration: registered") {
			break
		}
	}
	if !strings.Contains(out, "registration: registered") {
		t.Errorf("ctl status does not show the phone registered:\n%s", out)
	}
}
