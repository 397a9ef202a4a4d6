#!/usr/bin/env bash
# Audio path benchmark: what the sound hardware edge (hw/audio) costs and how much delay it adds.
#
#   host   the ALSA backend's work per 20 ms and the delay its own queue and resampling filters
#          add (a fake device wired back to itself, no device buffering); the file backend's
#          receive path, RTP arrival -> speaker frame (test/bench/mediacall, file backend)
#   QEMU   round trip WriteFrame -> ALSA -> snd-aloop -> ALSA -> ReadFrame on the emulated Pi
#          (the backend's playback + capture latency with the device's periods); with QEMU=1,
#          needs root and what test/image/hardware/run.sh needs
#
# Usage: test/bench/audio.sh            (QEMU=1 test/bench/audio.sh for the emulated Pi too)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
row() { printf '%-58s %14s %12s\n' "$1" "$2" "$3"; }

bench=$(go test -run '^$' -bench 'ALSA|RoundTrip48k' -benchtime 500x ./hw/audio/ ./hw/audio/resample/ 2>&1) ||
	{ echo "$bench" >&2; exit 1; }
ns() { awk -v b="$1" '$1 ~ "^"b"(-[0-9]+)?$" {print $3; exit}' <<<"$bench"; }
metric() { awk -v b="$1" -v u="$2" '$1 ~ "^"b"(-[0-9]+)?$" {for (i=1;i<=NF;i++) if ($(i+1)==u) print $i; exit}' <<<"$bench"; }
cb=$(ns BenchmarkALSACallback)
rs=$(ns BenchmarkRoundTrip48k)
rt=$(metric BenchmarkALSARoundTrip ms/roundtrip)

rx=-
if [ -d test/bench/mediacall ] && command -v sox >/dev/null; then
	tmp=$(mktemp -d)
	sox -n -r 8000 -c 1 -b 16 -e signed-integer "$tmp/sine.wav" synth 30 sine 1000 vol 0.3
	if go run ./test/bench/mediacall -input "$tmp/sine.wav" -duration 5s -warmup 1s >"$tmp/out.json" 2>"$tmp/err"; then
		rx=$(sed -n 's/.*"playout_delay_ms":\([0-9.]*\).*/\1/p' "$tmp/out.json")
		rx=$(printf '%.1f' "${rx:-0}")
	fi
	rm -rf "$tmp"
fi

qemu=-
if [ "${QEMU:-}" = 1 ]; then
	out=$(DESKPHONE_HW_BENCH=1 test/image/hardware/run.sh -test.run LoopbackLatency 2>&1) || { echo "$out" | tail -30 >&2; exit 1; }
	qemu=$(sed -n 's/.*BENCH qemu-aloop round trip.*: mean \([0-9.]*\) ms, min \([0-9.]*\) ms, max \([0-9.]*\) ms.*/\1 (\2–\3)/p' <<<"$out")
fi

echo "== Audio path (hw/audio), $(date -u +%Y-%m-%d) on $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
row "metric" "value" "goal"
row "ALSA backend work per 20 ms duplex period (µs, host)" "$(awk -v n="$cb" 'BEGIN {printf "%.0f", n/1000}')" "< 2000"
row "  of which resampling 8k<->48k, both ways (µs)" "$(awk -v n="$rs" 'BEGIN {printf "%.0f", n/1000}')" ""
row "delay added by the backend, speaker -> mic (ms)" "$rt" "≤ 50"
row "  (40 ms jitter prefill + the 3.7 kHz filters, 2 ms each way)" "" ""
row "file backend: RTP arrival -> speaker frame (ms, mean)" "$rx" "≤ 40"
row "QEMU snd-aloop: WriteFrame -> card -> ReadFrame (ms)" "$qemu" "≤ 150"
row "  (both directions: queue, filters, 3 × 20 ms periods each way)" "" ""
[ "$qemu" = - ] && echo "(QEMU=1 $0 measures the emulated Pi; it needs root and builds the test image)"
exit 0
