#!/usr/bin/env bash
# SRTP bridge benchmark: the CPU of relaying one bridged call (a softphone with SRTP on one leg,
# a plain RTP phone on the other, G.711 in 20 ms packets both ways) and the round trip of one
# packet pair through the bridge. The test phones run in the same process and do their own SRTP,
# so the CPU figure includes them: the bridge's own share is lower.
#
# Usage: test/bench/srtpbridge.sh [packet pairs]   (default 5000; needs go)
set -euo pipefail

PAIRS=${1:-5000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

out=$(go test -run '^$' -bench 'BenchmarkRelay' -benchtime "${PAIRS}x" ./firmware/srtpbridge/ | grep -E '^Benchmark')
cpu=$(awk '/^BenchmarkRelay/ {print $5}' <<<"$out")
rt=$(awk '/^BenchmarkRelay/ {printf "%.1f", $3 / 1e3}' <<<"$out")

echo "== SRTP bridge, loopback, $PAIRS packet pairs (load average $(cut -d' ' -f1 /proc/loadavg))"
printf '%-58s %12s\n' "metric" "value"
printf '%-58s %12s\n' "CPU per second of a bridged call, test phones included (ms/s)" "$cpu"
printf '%-58s %12s\n' "round trip of one packet pair through the bridge (µs)" "$rt"
