package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSoftphoneBench measures browser calls bridged through the registrar, for
// test/bench/webrtc.sh (it runs only with DESKPHONE_BENCH=1): headless Chromium on /phone/ calls
// baresip (UDP, auto-answer) through the real deskphone. Setup is the page's time from pressing
// Call to the call answered and its media connected (INVITE over WSS with digest, the bridge's
// offer/answer, ICE, DTLS: RTCPeerConnection.connectionState "connected"); CPU is the
// deskphone process's alone (user + system, its idle rate subtracted), logging at debug level
// as the test harness runs it.
func TestSoftphoneBench(t *testing.T) {
	if os.Getenv("DESKPHONE_BENCH") == "" {
		t.Skip("a measurement: set DESKPHONE_BENCH=1 (test/bench/webrtc.sh does)")
	}
	calls, _ := strconv.Atoi(os.Getenv("DESKPHONE_BENCH_CALLS"))
	if calls <= 0 {
		calls = 5
	}
	e := startWeb(t, phoneOptions{})
	page := openSoftphone(t, e, "softphone")
	startBaresip(t, baresipOptions{ext: "5004", user: "softphone2", pass: softphonePassword,
		registrar: fmt.Sprintf("127.0.0.1:%d", e.RegistrarPort), answer: "auto"})
	pid := e.cmd.Process.Pid
	rate := func(d time.Duration) float64 { // CPU ms per second of the process over d
		c0, t0 := processCPU(t, pid), time.Now()
		time.Sleep(d)
		return (processCPU(t, pid) - c0) / time.Since(t0).Seconds()
	}
	idle := rate(5 * time.Second)
	var setupMs, setupCPU, callRate float64
	for i := 0; i < calls; i++ {
		c0, t0 := processCPU(t, pid), time.Now()
		var ms float64
		page.EvalInto(`(async () => {
			const t = performance.now();
			$("number").value = "5004"; $("call").click();
			while ($("status").textContent !== "connected" || !session || !session.connection ||
				session.connection.connectionState !== "connected") await new Promise(r => setTimeout(r, 5));
			return performance.now() - t;
		})()`, &ms)
		setupCPU += processCPU(t, pid) - c0 - idle*time.Since(t0).Seconds()
		setupMs += ms
		if i == 0 {
			callRate = rate(10*time.Second) - idle
		}
		page.Eval(`$("hangup").click()`)
		page.WaitFor(`$("incall").hidden && !$("call").disabled`, 10*time.Second)
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("bench: calls=%d setup_ms=%.0f setup_cpu_ms=%.1f call_cpu_ms_per_s=%.2f idle_cpu_ms_per_s=%.2f",
		calls, setupMs/float64(calls), setupCPU/float64(calls), callRate, idle)
}

// processCPU is the user + system CPU time of process pid so far, in ms.
func processCPU(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from the 3rd on
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) * 10 // clock ticks of 10 ms (USER_HZ 100)
}
