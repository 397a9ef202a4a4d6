#!/usr/bin/env bash
# WebRTC bridge benchmark: how long a browser call takes to set up through the bridge (offer,
# answer, ICE-lite checks, DTLS handshake) and the CPU it costs, then the CPU of relaying one
# call's G.711 both ways (20 ms packets, SRTP toward the browser). The browser side is a pion peer
# in the same process, so both CPU figures include it: the bridge's own share is lower. The
# setup time is mostly connectivity checks and the DTLS handshake; the bridge's own
# part is the Offer + Answer line.
#
# Usage: test/bench/webrtc.sh [setups] [packet pairs]   (default 30 setups, 5000 pairs; the
# Chromium line needs the chromium package)
set -euo pipefail

SETUPS=${1:-30}
PAIRS=${2:-5000}
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

echo "== WebRTC bridge, loopback, $SETUPS call setups and $PAIRS packet pairs (load average $(cut -d' ' -f1 /proc/loadavg))"
printf '%-52s %12s\n' "metric" "value"
printf '%-52s %12s\n' "bridge Offer + Answer per call (ms, mean)" "$setup_sdp"
printf '%-52s %12s\n' "call setup, offer to connected (ms, mean)" "$setup_ms"
printf '%-52s %12s\n' "call setup with headless Chromium (ms, mean of 2)" "$chromium_ms"
printf '%-52s %12s\n' "CPU per call setup, both ends (ms)" "$setup_cpu"
printf '%-52s %12s\n' "CPU per second of a bridged call, both ends (ms/s)" "$relay_cpu"
printf '%-52s %12s\n' "round trip of one packet pair through the bridge (µs)" "$relay_us"
