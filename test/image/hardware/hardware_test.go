// Package hardware tests the phone's buttons, LEDs and handset audio on the Pi's own kernel: the
// image boots under QEMU with a simulated GPIO chip (gpio-sim) carrying the phone's named lines and
// snd-aloop as the sound card, and a baresip softphone calls it over a private test LAN.
//
// Run it with test/image/hardware/run.sh, which builds the image and provides the LAN; without
// the DESKPHONE_HW_* variables it is skipped.
package hardware

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deskphone/deskphone/test/tone"
)

const (
	guestAddr = "192.168.77.2"
	hostAddr  = "192.168.77.1"
	token     = "hardware-test-token-0123456789abcdef" // deskphone.toml of this folder
	peerTone  = 600                                    // the peer's microphone
)

func TestHandsetOnRealKernel(t *testing.T) {
	image, kernel, initrd := os.Getenv("DESKPHONE_HW_IMAGE"), os.Getenv("DESKPHONE_HW_KERNEL"), os.Getenv("DESKPHONE_HW_INITRD")
	if image == "" || kernel == "" || initrd == "" {
		t.Skip("run through test/image/hardware/run.sh (needs the test image and a network namespace)")
	}
	g := bootGuest(t, image, kernel, initrd)
	g.waitConsole(t, "Please press Enter", 90*time.Second)
	g.conn.Write([]byte("\n"))
	g.must(t, "stty -echo; echo ready", 20*time.Second)
	g.must(t, ". /run/hwsim.env && test -d $SIM", 10*time.Second)
	t.Logf("guest: %s", strings.Join(g.must(t, "cat /proc/asound/cards | head -1; . /run/hwsim.env; echo $SIM", 10*time.Second), " | "))

	// The phone registers to its own registrar: the status LED goes steady.
	waitStatus(t, func(s status) bool { return s.Registration == "registered" }, 60*time.Second)
	// The LED follows the phone's state on its own goroutine, a moment after the status API (the
	// sound card opens at that same moment, on the test's one emulated core): let it turn on.
	for i := 0; i < 20; i++ {
		if samples(t, g, "STATUS_LED", 1) == "1" {
			break
		}
	}
	if v := samples(t, g, "STATUS_LED", 10); strings.Contains(v, "0") {
		t.Errorf("status LED while registered: %s, want steady 1", v)
	}

	p := startPeer(t, hostAddr, guestAddr, peerTone)

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"call rings the ring LED", func(t *testing.T) {
			p.Command(t, "dial", "sip:5002@"+guestAddr) // through the registrar, as any extension calls
			waitStatus(t, func(s status) bool { return s.Call == "ringing" }, 30*time.Second)
			if ring := samples(t, g, "RING_LED", 30); changes(ring) < 2 {
				t.Errorf("ring LED while ringing: %s, want it blinking", ring)
			}
		}},
		{"bouncing hook off answers once", func(t *testing.T) {
			g.must(t, `. /run/hwsim.env; for v in down up down up down up down; do echo pull-$v > $SIM/sim_gpio$HOOK/pull; done`, 10*time.Second)
			p.WaitEvent(t, "CALL_ESTABLISHED", 0, 15*time.Second) // the peer got 200 OK
			time.Sleep(300 * time.Millisecond)
			if st := getStatus(t); st.Call != "in_call" || !st.OffHook {
				t.Fatalf("after lifting the handset: call %q off_hook %v, want in_call and off hook (a bounce must not hang up)", st.Call, st.OffHook)
			}
			if v := samples(t, g, "RING_LED", 5); strings.Contains(v, "1") {
				t.Errorf("ring LED after answering: %s, want dark", v)
			}
		}},
		{"tones both ways through ALSA", func(t *testing.T) {
			// 1000 Hz into the phone's microphone (checked at the peer at the end); the peer's tone
			// must come out of the phone's speaker.
			if heard := loopTone(t, g, 1000); math.Abs(heard-peerTone) > 20 {
				t.Errorf("the phone's speaker (loopback playback side) carries %.0f Hz, want the peer's %d Hz", heard, peerTone)
			}
		}},
		{"sound card unplugged mid-call", func(t *testing.T) {
			if os.Getenv("DESKPHONE_HW_UNPLUG") == "skip" {
				t.Skip("needs miniaudio's disconnect fix (third_party/malgo through go.mod's replace)")
			}
			// Unbinding the card is what a USB unplug does; rmmod succeeds only once the phone
			// has let go of the dead device.
			g.must(t, `echo snd_aloop.0 > /sys/bus/platform/drivers/snd_aloop/unbind`, 30*time.Second)
			g.must(t, `i=0; until rmmod snd_aloop 2>/dev/null; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done`, 30*time.Second)
			time.Sleep(time.Second)
			if st := getStatus(t); st.Call != "in_call" {
				t.Fatalf("call state %q with the sound card gone, want in_call", st.Call)
			}
			g.must(t, `modprobe snd-aloop`, 10*time.Second)
			for i := 0; ; i++ { // the watchdog retries every 0.5–5 s
				lines, rc := g.sh(t, "hwcheck loop -playback hw:Loopback,1,1 -capture hw:Loopback,1,0 -freq 1500 -seconds 3", 60*time.Second)
				if f, ok := parseCaptured(lines); rc == 0 && ok && math.Abs(f-peerTone) <= 20 {
					break
				}
				if i == 10 {
					t.Fatalf("after the sound card came back the phone's speaker never carried the peer's %d Hz:\n%s", peerTone, strings.Join(lines, "\n"))
				}
				time.Sleep(time.Second)
			}
		}},
		{"hook on hangs up", func(t *testing.T) {
			g.must(t, `. /run/hwsim.env; echo pull-up > $SIM/sim_gpio$HOOK/pull`, 10*time.Second)
			p.WaitEvent(t, "CALL_CLOSED", 0, 15*time.Second) // BYE
		}},
		{"the peer heard the microphone", func(t *testing.T) {
			x, rate := peerHeard(t, p)
			ws := tone.Windows(x, rate, 500*time.Millisecond)
			t.Logf("peer heard (dominant Hz per 0.5 s, 0 = silence): %v", ws)
			first, second := -1, -1
			for i, f := range ws {
				if first < 0 && math.Abs(f-1000) <= 20 {
					first = i
				}
				if first >= 0 && math.Abs(f-1500) <= 20 {
					second = i
				}
			}
			if first < 0 {
				t.Error("the 1000 Hz played into the phone's microphone never reached the peer")
			}
			if second < 0 && os.Getenv("DESKPHONE_HW_UNPLUG") != "skip" {
				t.Error("after the sound card came back, the 1500 Hz played into the microphone never reached the peer")
			}
		}},
		{"the status API shows the sound card and its reopen", func(t *testing.T) {
			st := getStatus(t)
			if st.Audio == nil || !st.Audio.Running {
				t.Fatalf("status audio = %+v, want the running sound card", st.Audio)
			}
			if st.Audio.Reopens < 1 && os.Getenv("DESKPHONE_HW_UNPLUG") != "skip" {
				t.Errorf("status audio = %+v: the card was unplugged and came back, want reopens ≥ 1", *st.Audio)
			}
		}},
	}
	defer func() {
		// What the sound backend's watchdog did, for the record.
		for _, l := range strings.Split(g.console(), "\n") {
			if strings.Contains(l, "component=alsa") {
				t.Log(strings.TrimSpace(l))
			}
		}
	}()
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			return
		}
	}
}

// loopTone plays freq into the phone's microphone (loopback 1,1 → 0,1) for 3 s while recording the
// phone's speaker (0,0 → 1,0), and returns the speaker's main frequency.
func loopTone(t *testing.T, g *guest, freq int) float64 {
	t.Helper()
	lines := g.must(t, fmt.Sprintf("hwcheck loop -playback hw:Loopback,1,1 -capture hw:Loopback,1,0 -freq %d -seconds 3", freq), 60*time.Second)
	f, ok := parseCaptured(lines)
	if !ok {
		t.Fatalf("hwcheck printed no analysis:\n%s", strings.Join(lines, "\n"))
	}
	return f
}

// parseCaptured reads hwcheck's "captured 3.0 s: main frequency 600 Hz, level -12.0 dBFS".
func parseCaptured(lines []string) (float64, bool) {
	for _, l := range lines {
		if i := strings.Index(l, "main frequency "); i >= 0 {
			var f float64
			if _, err := fmt.Sscanf(l[i:], "main frequency %f Hz", &f); err == nil {
				return f, true
			}
		}
	}
	return 0, false
}

// samples reads a gpio-sim output line n times, 100 ms apart, inside the guest.
func samples(t *testing.T, g *guest, line string, n int) string {
	t.Helper()
	lines := g.must(t, fmt.Sprintf(`. /run/hwsim.env; i=0; s=; while [ $i -lt %d ]; do s=$s$(cat $SIM/sim_gpio$%s/value); i=$((i+1)); sleep 0.1; done; echo "V:$s"`, n, line), 60*time.Second)
	for _, l := range lines {
		if strings.HasPrefix(l, "V:") {
			return l[2:]
		}
	}
	t.Fatalf("no reading of %s", line)
	return ""
}

func changes(s string) int {
	n := 0
	for i := 1; i < len(s); i++ {
		if s[i] != s[i-1] {
			n++
		}
	}
	return n
}

type status struct {
	Registration string `json:"registration"`
	Call         string `json:"call"`
	OffHook      bool   `json:"off_hook"`
	Audio        *struct {
		Running bool   `json:"running"`
		Reopens uint64 `json:"reopens"`
	} `json:"audio"`
}

func getStatus(t *testing.T) status {
	t.Helper()
	st, err := fetchStatus()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func fetchStatus() (status, error) {
	req, _ := http.NewRequest("GET", "http://"+guestAddr+"/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	c := &http.Client{Timeout: 3 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		return status{}, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return status{}, fmt.Errorf("status API: HTTP %s", strconv.Itoa(res.StatusCode))
	}
	var st status
	return st, json.NewDecoder(res.Body).Decode(&st)
}

func waitStatus(t *testing.T, ok func(status) bool, timeout time.Duration) status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last status
	var err error
	for time.Now().Before(deadline) {
		last, err = fetchStatus()
		if err == nil && ok(last) {
			return last
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("phone status never reached the expected state within %v: last %+v, err %v", timeout, last, err)
	return last
}
