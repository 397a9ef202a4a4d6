#!/usr/bin/env bash
# WebRTC bridge benchmark: how long a browser call takes to set up through the bridge (offer,
# answer, ICE-lite checks, DTLS handshake) and the CPU it costs, then the CPU of relaying one
# call's G.711 both ways (20 ms packets, SRTP toward the browser). The browser side is a pion peer
# in the same process, so both CPU figures include it: the bridge's own share is lower. The
# setup time is mostly connectivity checks and the DTLS handshake; the bridge's own
# part is the Offer + Answer line.
#
# The last block is a browser call through the registrar: headless Chromium on the real
# deskphone's /phone/ page calls baresip (UDP, auto-answer); setup is the page's Call press to
# the media connected (SIP over WSS with digest, the bridge, ICE, DTLS), CPU is the deskphone process's
# alone (its idle rate subtracted; the test harness runs it with debug logging).
#
# Usage: test/bench/webrtc.sh [setups] [packet pairs] [browser calls]   (default 30 setups, 5000
# pairs, 5 browser calls; the Chromium lines need the chromium package, the last one baresip too)
set -euo pipefail

SETUPS=${1:-30}
PAIRS=${2:-5000}
CALLS=${3:-5}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

out=$(go test -run '^$' -bench 'BenchmarkCallSetup' -benchtime "${SETUPS}x" ./firmware/webrtcbridge/ | grep -E '^Benchmark'
	go test -run '^$' -bench 'BenchmarkRelay' -benchtime "${PAIRS}x" ./firmware/webrtcbridge/ | grep -E '^Benchmark')
setup_ms=$(awk '/^BenchmarkCallSetup/ {printf "%.1f", $3 / 1e6}' <<<"$out")
setup_cpu=$(awk '/^BenchmarkCallSetup/ {print $5}' <<<"$out")
setup_sdp=$(awk '/^BenchmarkCallSetup/ {print $7}' <<<"$out")
relay_cpu=$(awk '/^BenchmarkRelay/ {print $5}' <<<"$out")
relay_us=$(awk '/^BenchmarkRelay/ {printf "%.1f", $3 / 1e3}' <<<"$out")
# The same setup with a real browser: headless Chromium offering and answering (test/ end to end).
chromium_ms=n/a
if command -v chromium >/dev/null; then
	chromium_ms=$(go test -count=1 -run 'TestWebRTC(BrowserCallsPhone|PhoneCallsBrowser)$' -v ./test/ 2>&1 |
		awk '/setup: Chromium connected/ {for (i = 1; i <= NF; i++) if ($i == "connected") {s += $(i + 1); n++}} END {if (n) printf "%.1f", s / n; else print "failed"}')
fi
page=""
if command -v chromium >/dev/null && command -v baresip >/dev/null; then
	page=$(DESKPHONE_BENCH=1 DESKPHONE_BENCH_CALLS="$CALLS" go test -count=1 -run '^TestSoftphoneBench$' -v ./test/ 2>&1 | grep -o 'bench: .*' || true)
fi
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$page"; }

echo "== WebRTC bridge, loopback, $SETUPS call setups and $PAIRS packet pairs (load average $(cut -d' ' -f1 /proc/loadavg))"
printf '%-52s %12s\n' "metric" "value"
printf '%-52s %12s\n' "bridge Offer + Answer per call (ms, mean)" "$setup_sdp"
printf '%-52s %12s\n' "call setup, offer to connected (ms, mean)" "$setup_ms"
printf '%-52s %12s\n' "call setup with headless Chromium (ms, mean of 2)" "$chromium_ms"
printf '%-52s %12s\n' "CPU per call setup, both ends (ms)" "$setup_cpu"
printf '%-52s %12s\n' "CPU per second of a bridged call, both ends (ms/s)" "$relay_cpu"
printf '%-52s %12s\n' "round trip of one packet pair through the bridge (µs)" "$relay_us"
echo
echo "== browser calls through the registrar: /phone/ in headless Chromium -> deskphone -> baresip (UDP), ${CALLS} calls"
printf '%-52s %12s\n' "metric" "value"
printf '%-52s %12s\n' "call setup, Call pressed to media connected (ms, mean)" "$(field setup_ms || true)"
printf '%-52s %12s\n' "deskphone CPU per call setup (ms)" "$(field setup_cpu_ms || true)"
printf '%-52s %12s\n' "deskphone CPU per second of a bridged call (ms/s)" "$(field call_cpu_ms_per_s || true)"
printf '%-52s %12s\n' "deskphone CPU idle, for reference (ms/s)" "$(field idle_cpu_ms_per_s || true)"
