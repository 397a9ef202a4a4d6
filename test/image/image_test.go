//go:build imagetest

package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const netnsEnv = "DESKPHONE_IMAGE_TEST_NETNS"

// servicePID is a guest command printing the PID of `deskphone run` (not of `deskphone clock`).
const servicePID = `ps | awk '/[d]eskphone run/ {print $1}'`

var theLAN *lan

// TestMain puts the whole test binary in a new network namespace (unshare --net): QEMU's tap,
// dnsmasq and the SIP peers all live there and vanish with it.
func TestMain(m *testing.M) {
	if os.Getenv(netnsEnv) == "" {
		if os.Geteuid() != 0 {
			fmt.Println("image tests need root (network namespace, tap device); skipping")
			os.Exit(0)
		}
		exe, _ := os.Executable()
		cmd := exec.Command("unshare", append([]string{"--net", "--", exe}, os.Args[1:]...)...)
		cmd.Env = append(os.Environ(), netnsEnv+"=1")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				os.Exit(ee.ExitCode())
			}
			fmt.Println("unshare (Debian package util-linux):", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	for _, tool := range []string{"qemu-system-aarch64", "dnsmasq", "sipp", "mcopy", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Printf("image tests: %s not found (install qemu-system-arm dnsmasq-base sip-tester mtools iproute2)\n", tool)
			os.Exit(1)
		}
	}
	if _, err := os.Stat(imagePath()); err != nil {
		fmt.Printf("image tests: no image at %s; run `make test-image` (it builds one)\n", imagePath())
		os.Exit(1)
	}
	theLAN = startLAN(fatalTB{}, logDirPath())
	code := m.Run()
	theLAN.stop()
	os.Exit(code)
}

func imagePath() string {
	if p := os.Getenv("DESKPHONE_IMAGE"); p != "" {
		return p
	}
	return "../../deskphone-rpi3b.img"
}

func logDirPath() string {
	d := os.Getenv("DESKPHONE_IMAGE_LOGS")
	if d == "" {
		d = "../../build/image/test-logs"
	}
	os.MkdirAll(d, 0o755)
	abs, _ := filepath.Abs(d)
	return abs
}

func logDir(testing.TB) string { return logDirPath() }

// card copies the image for one test and puts config (a file under testdata, or "") on its boot
// partition as deskphone.toml, the way a user edits the card on a PC.
func card(t *testing.T, config string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "card.img")
	run(t, "cp", "--sparse=always", imagePath(), path)
	if config != "" {
		cmd := exec.Command("mcopy", "-o", "-i", path+"@@4M", filepath.Join("testdata", config), "::deskphone.toml")
		cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mcopy: %v\n%s", err, out)
		}
	}
	return path
}

func abs(t testing.TB, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// sipp runs SIPp to completion; its exit status is the scenario's verdict.
func sipp(t *testing.T, name string, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	logPath := filepath.Join(logDir(t), strings.ReplaceAll(t.Name(), "/", "_")+"-"+name+".log")
	full := append([]string{"-i", hostIP, "-p", "0", "-nostdin", "-trace_err", "-error_file", logPath + ".errors"}, args...)
	cmd := exec.CommandContext(ctx, "sipp", full...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	os.WriteFile(logPath, out, 0o644)
	if err != nil {
		return fmt.Errorf("sipp %s: %v (log %s)\n%s", name, err, logPath, tail(logPath+".errors", 15))
	}
	return nil
}

func register(t *testing.T, pi, user, password string, calls int) error {
	return sipp(t, "register-"+user, "-sf", abs(t, "testdata/register.xml"), "-s", user, "-au", user, "-ap", password,
		"-m", fmt.Sprint(calls), "-r", "10", "-recv_timeout", "5000", pi+":5060")
}

// status reads the service's status API from the LAN.
func status(t *testing.T, pi, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+pi+"/api/v1/status", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	var res *http.Response
	var err error
	for i := 0; i < 20; i++ {
		if res, err = c.Do(req); err == nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("status API on %s: %v", pi, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return res.StatusCode, m
}

// bootToRegistered boots a card and waits for DHCP, "deskphone ready" and the phone's own
// registration, in any order (the service starts before the lease comes); it returns the Pi's
// address.
func bootToRegistered(t *testing.T, g *guest, iface string) string {
	t.Helper()
	addr := `deskphone: ` + iface + ` has address (\S+) \(DHCP`
	pi := g.waitForAllFind(90*time.Second, addr, `msg="deskphone ready"`, `msg=registered `)[1]
	if got := theLAN.lease(g.mac); got != pi {
		t.Fatalf("the Pi says it has %s but the LAN's DHCP server gave %s %q", pi, g.mac, got)
	}
	t.Logf("%s: address %s by DHCP; ready and registered %s after QEMU started", g.machine, pi, g.since())
	return pi
}

func TestFirstBootRegisterCrashAndPowerCut(t *testing.T) {
	c := card(t, "")
	g := boot(t, virt, c, "first-boot")
	pi := bootToRegistered(t, g, "eth0")

	// First boot: passwords generated, shown on the console, stored on the data partition.
	g.cursor = 0
	g.waitFor(`phone system ready: register a softphone to `+regexp.QuoteMeta(pi)+`:5060`, 5*time.Second)
	acct := g.waitFor(`msg=account extension=(\d+) username=softphone password=(\S+)\r?\n`, 5*time.Second)
	if len(acct[2]) < 12 {
		t.Fatalf("generated password %q is too short", acct[2])
	}
	if err := register(t, pi, "softphone", acct[2], 1); err != nil {
		t.Fatalf("a softphone on the LAN cannot register with the password from the console: %v", err)
	}
	if err := register(t, pi, "softphone", "wrong-password", 1); err == nil {
		t.Fatal("registration with a wrong password succeeded")
	}

	// kill -9: init restarts the service, which registers again.
	g.shell("kill -9 $("+servicePID+")", 10*time.Second)
	killed := time.Now()
	g.waitForAll(30*time.Second, `msg="deskphone ready"`, `msg=registered `)
	t.Logf("kill -9 -> ready and registered again in %s", g.lastAt.Sub(killed).Round(10*time.Millisecond))
	if err := register(t, pi, "softphone", acct[2], 1); err != nil {
		t.Fatalf("after the restart the same password no longer works: %v", err)
	}

	// Power cut while the registrar writes bindings: the data partition must come back whole.
	before := g.shell("sha256sum /data/deskphone/accounts.json", 10*time.Second)
	sum := regexp.MustCompile(`[0-9a-f]{64}`).FindString(before)
	if sum == "" {
		t.Fatalf("no accounts file on the data partition: %q", before)
	}
	regs := make(chan error, 1)
	go func() { regs <- register(t, pi, "softphone", acct[2], 40) }()
	time.Sleep(2 * time.Second)
	g.powerOff()
	<-regs
	g2 := boot(t, virt, c, "after-power-cut")
	bootToRegistered(t, g2, "eth0")
	// The binding is in the bindings file or in its journal (kept and appended to after a power cut).
	after := g2.shell("sha256sum /data/deskphone/accounts.json; cat /data/deskphone/bindings.json /data/deskphone/bindings.journal 2>/dev/null | grep -c "+hostIP, 10*time.Second)
	if !strings.Contains(after, sum) {
		t.Fatalf("accounts changed across the power cut: before %s, after:\n%s", sum, after)
	}
	if !regexp.MustCompile(`(?m)^[1-9]\d*$`).MatchString(after) {
		t.Fatalf("the softphone's binding was lost in the power cut:\n%s", after)
	}
	if err := register(t, pi, "softphone", acct[2], 1); err != nil {
		t.Fatalf("after the power cut the softphone cannot register: %v", err)
	}
}

func TestConfigErrorIsReported(t *testing.T) {
	g := boot(t, virt, card(t, "bad.toml"), "bad-config")
	m := g.waitForAllFind(90*time.Second, `deskphone: eth0 has address (\S+) `, `config error: .*line 5`)
	line := g.find(`config error: (.*line 5.*)`)
	t.Logf("console: %s", line[1])
	code, st := status(t, m[1], "")
	if code != http.StatusServiceUnavailable || !strings.Contains(fmt.Sprint(st["config_error"]), "5") {
		t.Fatalf("status API: %d %v, want 503 naming line 5", code, st)
	}
	// It is not restarting in a loop: the service started once and is still the same process.
	pid1 := g.shell(servicePID, 10*time.Second)
	time.Sleep(3 * time.Second)
	if pid2 := g.shell(servicePID, 10*time.Second); strings.TrimSpace(pid1) != strings.TrimSpace(pid2) {
		t.Fatalf("the service restarts in a loop: pid %q then %q", pid1, pid2)
	}
}

func TestRegistersToExternalKamailio(t *testing.T) {
	if _, err := exec.LookPath("kamailio"); err != nil {
		t.Skip("kamailio not installed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logPath := filepath.Join(logDir(t), "kamailio.log")
	k := startPeer(ctx, t, logPath, t.TempDir(), "kamailio", "-f", abs(t, "testdata/kamailio.cfg"), "-DD", "-E",
		"-Y", t.TempDir(), "-P", filepath.Join(t.TempDir(), "kamailio.pid"))
	defer k.kill()
	// The LAN is unplugged until the service runs: it waits for an address, and registers as
	// soon as the lease comes.
	run(t, "ip", "link", "set", tapIface, "down")
	defer run(t, "ip", "link", "set", tapIface, "up")
	g := boot(t, virt, card(t, "external.toml"), "kamailio")
	g.waitFor(`msg="waiting for a network address to register"`, 90*time.Second)
	run(t, "ip", "link", "set", tapIface, "up")
	g.waitForAll(60*time.Second, `deskphone: eth0 has address 192\.168\.77\.58`, `msg="phone address changed"`,
		`msg=registered .*registrar=192\.168\.77\.1:5070`)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(tail(logPath, 200), "REGISTERED sip:5002@") {
		if time.Now().After(deadline) {
			t.Fatalf("Kamailio did not see the registration:\n%s", tail(logPath, 20))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestRaspi3bBootsTheCard(t *testing.T) {
	g := boot(t, raspi3b, card(t, ""), "raspi3b")
	g.waitFor(`board: Raspberry Pi 3 Model B\+ \(rpi3\)`, 60*time.Second)
	g.waitFor(`hardware watchdog left off \(QEMU\)`, 60*time.Second)
	pi := bootToRegistered(t, g, "usb0")
	g.cursor = 0
	acct := g.waitFor(`msg=account extension=(\d+) username=softphone password=(\S+)\r?\n`, 5*time.Second)
	if err := register(t, pi, "softphone", acct[2], 1); err != nil {
		t.Fatalf("a softphone on the LAN cannot register to the raspi3b guest: %v", err)
	}
	// Without Wi-Fi in the settings, the Wi-Fi add-on stays packed on the boot partition, and
	// neither Wi-Fi's driver nor its SD controller's (the card is on the other one) is loaded.
	out := g.shell("command -v wpa_supplicant; grep -o -E '^(brcmfmac|sdhci_iproc) ' /proc/modules; true", 20*time.Second)
	for _, unwanted := range []string{"wpa_supplicant", "brcmfmac", "sdhci_iproc"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("Wi-Fi is not configured, yet %s is there:\n%s", unwanted, out)
		}
	}
	// The CPU clock has its driver: without one the Pi's firmware leaves the cores at 600 MHz once
	// config.txt's initial_turbo is over. (QEMU's firmware has no ARM clock to drive, so only the
	// drivers' presence can be checked here; on a Pi, cpufreq/policy0 shows it at work.)
	out = g.shell("for d in raspberrypi-cpufreq cpufreq-dt; do [ -d /sys/bus/platform/drivers/$d ] && echo has:$d; done; true", 20*time.Second)
	for _, d := range []string{"raspberrypi-cpufreq", "cpufreq-dt"} {
		if !strings.Contains(out, "has:"+d) {
			t.Errorf("the Pi's CPU clock driver %s is missing (the cores would stay at 600 MHz):\n%s", d, out)
		}
	}
}

// TestCardOnTheSecondSDController: a device tree that wires the card to the Pi's second SD
// controller (SDHCI, which on a Pi 3 carries Wi-Fi and is not loaded without it) still boots:
// after 2 s without a card the init loads that controller too, mounts both partitions and the
// phone registers. QEMU moves the card to SDHCI when the SD host controller is disabled; the
// Wi-Fi chip's power sequence, driven by the Pi firmware's GPIO expander, is dropped (QEMU has
// no such firmware).
func TestCardOnTheSecondSDController(t *testing.T) {
	dtb := filepath.Join(t.TempDir(), "sdhci.dtb")
	run(t, "cp", input("bcm2837-rpi-3-b-plus.dtb"), dtb)
	run(t, "fdtput", "-t", "s", dtb, "/soc/mmc@7e202000", "status", "disabled")
	run(t, "fdtput", "-d", dtb, "/soc/mmc@7e300000", "mmc-pwrseq")
	g := bootQEMU(t, raspi3b, card(t, ""), "second-sd-controller", "", []string{"-dtb", dtb})
	g.waitFor(`no card on the SD host controller after 2 s: loading the second SD controller too`, 60*time.Second)
	g.waitFor(`boot partition /dev/mmcblk\dp1 mounted read-only on /boot`, 60*time.Second)
	g.waitFor(`data partition /dev/mmcblk\dp2 .*mounted on /data`, 60*time.Second)
	g.waitFor(`msg=registered `, 60*time.Second)
	if out := g.shell("grep -o '^sdhci_iproc ' /proc/modules", 20*time.Second); !strings.Contains(out, "sdhci_iproc") {
		t.Errorf("the card was found, yet sdhci_iproc is not loaded:\n%s", out)
	}
}

// TestWiFiAddOnIsUnpackedWhenConfigured: with wifi_ssid set, the Wi-Fi add-on (wpa_supplicant,
// its libraries, brcmfmac and the chip's firmware) is unpacked from the boot partition and
// started; QEMU has no Wi-Fi chip, so wlan0 never appears, and the phone works on Ethernet.
func TestWiFiAddOnIsUnpackedWhenConfigured(t *testing.T) {
	g := boot(t, raspi3b, card(t, "wifi.toml"), "wifi")
	g.waitForAll(90*time.Second, `msg="deskphone ready"`, `msg=registered `)
	// The add-on is unpacked and its modules loaded in the background; then the Wi-Fi script
	// waits for wlan0, which QEMU never gives.
	g.cursor = 0
	g.waitFor(`deskphone: Wi-Fi: (no wlan0 interface|joining)`, 60*time.Second)
	out := g.shell("wpa_supplicant -v | head -1; grep -o -E '^(brcmfmac|sdhci_iproc) ' /proc/modules; ls /lib/firmware/brcm/", 20*time.Second)
	for _, want := range []string{"wpa_supplicant v2", "brcmfmac ", "sdhci_iproc ", "brcmfmac43455-sdio.bin", "brcmfmac43430-sdio.bin"} {
		if !strings.Contains(out, want) {
			t.Errorf("Wi-Fi configured: %q missing in the guest:\n%s", want, out)
		}
	}
	g.mu.Lock()
	bad := regexp.MustCompile(`.*(has no wpa_supplicant|add-on .* failed).*`).Find(g.console)
	g.mu.Unlock()
	if bad != nil {
		t.Errorf("console: %s", bad)
	}
}

// fatalTB lets TestMain use the helpers that take a testing.TB.
type fatalTB struct{ testing.TB }

func (fatalTB) Helper()                   {}
func (fatalTB) Fatal(a ...any)            { fmt.Println(a...); os.Exit(1) }
func (fatalTB) Fatalf(f string, a ...any) { fmt.Printf(f+"\n", a...); os.Exit(1) }

// TestHungServiceResetsTheBoard: the service is frozen (SIGSTOP), so nothing feeds the watchdog
// (QEMU's i6300esb on virt, with -action watchdog=reset and -no-reboot: a reset ends QEMU).
func TestHungServiceResetsTheBoard(t *testing.T) {
	g := boot(t, virt, card(t, ""), "watchdog")
	g.waitFor(`msg="hardware watchdog armed"`, 90*time.Second)
	g.waitFor(`msg="deskphone ready"`, 30*time.Second)
	g.shell("kill -STOP $("+servicePID+")", 10*time.Second)
	frozen := time.Now()
	deadline := time.Now().Add(90 * time.Second)
	for {
		g.mu.Lock()
		exited := g.exited
		g.mu.Unlock()
		if exited {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the service has been frozen for 90 s and the watchdog did not reset the board")
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("frozen service -> board reset by the watchdog after %s", time.Since(frozen).Round(100*time.Millisecond))
}

// TestStaticAddressFromConfig: [network] mode = "static" replaces DHCP.
func TestStaticAddressFromConfig(t *testing.T) {
	theLAN.forget(virtMAC)
	g := boot(t, virt, card(t, "static.toml"), "static")
	g.waitForAll(90*time.Second, `eth0 has address 192\.168\.77\.70/24 \(static\)`, `msg="deskphone ready"`, `msg=registered `)
	g.cursor = 0
	acct := g.waitFor(`msg=account extension=(\d+) username=softphone password=(\S+)\r?\n`, 5*time.Second)
	if err := register(t, "192.168.77.70", "softphone", acct[2], 1); err != nil {
		t.Fatalf("a softphone cannot register at the static address: %v", err)
	}
	if lease := theLAN.lease(g.mac); lease != "" {
		t.Fatalf("the Pi asked for a DHCP lease (%s) although its address is static", lease)
	}
}
