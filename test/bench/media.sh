#!/usr/bin/env bash
# Media benchmark: one G.711 call on loopback, deskphone's media path against baresip doing the
# same call (WAV source at 8 kHz, no sound card). Prints CPU time per second of call, resident
# memory, the ratio to baresip, and deskphone's receive-path latency at zero network jitter.
#
# Both processes are measured the same way, from /proc/<pid>/stat, over the same windows: the
# machine may be busy with other work, so the table shows the ratio over the whole run and the
# ratio in each window.
#
# Usage: test/bench/media.sh [seconds] [windows]   (default 30 s in 3 windows; needs go, sox, baresip)
#        GOMAXPROCS=1 test/bench/media.sh          measures deskphone as run with GOMAXPROCS=1
set -euo pipefail

SECS=${1:-30}
WINDOWS=${2:-3}
WARMUP=3
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/media-bench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

for tool in go sox baresip; do
	command -v "$tool" >/dev/null || { echo "media.sh: $tool not found (apt-get install golang sox baresip-core)" >&2; exit 1; }
done

echo "== Go micro-benchmarks (firmware/media)"
(cd "$ROOT" && go test -run '^$' -bench . -benchtime 2000x ./firmware/media/ ./firmware/media/g711/ | grep -E '^Benchmark')
echo

sox -n -r 8000 -c 1 -b 16 -e signed-integer "$WORK/sine.wav" synth $((SECS + WARMUP + 30)) sine 1000 vol 0.3
(cd "$ROOT" && go build -o "$WORK/mediacall" ./test/bench/mediacall)

# --- baresip: caller A and auto-answering callee B, measured B.
free_port() { # an even UDP port with its neighbour free on 127.0.0.1
	while :; do
		p=$(( (RANDOM % 10000) * 2 + 30000 ))
		ss -Huln "sport = :$p or sport = :$((p + 1))" | grep -q . || { echo "$p"; return; }
	done
}
PA=$(free_port); PB=$(free_port); RTP=$(free_port)
for r in a b; do
	port=$PA; [ $r = b ] && port=$PB
	mkdir -p "$WORK/$r"
	cat >"$WORK/$r/config" <<CONF
poll_method		epoll
net_interface		127.0.0.1
sip_listen		127.0.0.1:$port
audio_source		aufile,$WORK/sine.wav
audio_player		aubridge,null$r
audio_alert		aubridge,alert$r
ausrc_srate		8000
auplay_srate		8000
ausrc_channels		1
auplay_channels		1
rtp_ports		$RTP-$((RTP + 40))
module_path		/usr/lib/baresip/modules
module			g711.so
module			aufile.so
module			aubridge.so
module_app		account.so
module_app		menu.so
CONF
	echo "<sip:$r@127.0.0.1:$port>;regint=0;answermode=auto;audio_codecs=PCMA" >"$WORK/$r/accounts"
done
LIMIT=$((SECS + WARMUP + 15))
baresip -f "$WORK/b" -t "$LIMIT" </dev/null >"$WORK/b.log" 2>&1 &
PB_PID=$!; PIDS+=("$PB_PID")
sleep 1
baresip -f "$WORK/a" -t "$LIMIT" -e "/dial sip:b@127.0.0.1:$PB" </dev/null >"$WORK/a.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 50); do grep -q 'Call established' "$WORK/b.log" && break; sleep 0.2; done
grep -q 'Call established' "$WORK/b.log" || { echo "media.sh: baresip call did not connect" >&2; tail -20 "$WORK/b.log" >&2; exit 1; }
# deskphone: one endpoint measured, its peer in a second process; it runs during the same
# window as the baresip measurement so both see the same machine load.
"$WORK/mediacall" -input "$WORK/sine.wav" -duration "$((SECS + 1))s" -warmup "${WARMUP}s" >"$WORK/desk.json" &
DESK_PID=$!; PIDS+=("$DESK_PID")
sleep "$WARMUP"
TCK=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
per_s() { awk -v t0="$1" -v t1="$2" -v w0="$3" -v w1="$4" -v hz="$TCK" 'BEGIN {printf "%.2f", (t1 - t0) * 1000 / hz / (w1 - w0)}'; }
DT0=$(ticks "$DESK_PID"); BT0=$(ticks "$PB_PID"); W0=$(date +%s.%N)
WIN_RATIOS=""
dt=$DT0; bt=$BT0; w=$W0
for _ in $(seq "$WINDOWS"); do
	sleep $((SECS / WINDOWS))
	dn=$(ticks "$DESK_PID"); bn=$(ticks "$PB_PID"); wn=$(date +%s.%N)
	WIN_RATIOS+=" $(awk -v d=$((dn - dt)) -v b=$((bn - bt)) 'BEGIN { if (b > 0) printf "%.2f×", d / b; else print "n/a" }')"
	dt=$dn; bt=$bn; w=$wn
done
D_CPU=$(per_s "$DT0" "$dt" "$W0" "$w")
B_CPU=$(per_s "$BT0" "$bt" "$W0" "$w")
D_RSS=$(rss "$DESK_PID")
B_RSS=$(rss "$PB_PID")
RTP_OK=$(grep -c 'incoming rtp for .audio. established' "$WORK/b.log" || true)
wait "$DESK_PID" || { echo "media.sh: mediacall failed" >&2; exit 1; }
DESK=$(cat "$WORK/desk.json")
field() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p" <<<"$2"; }
D_LAT=$(field playout_delay_ms "$DESK")
D_LATMAX=$(field playout_delay_max_ms "$DESK")
D_RX=$(field packets_received "$DESK")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "n/a" }'; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
echo "== One G.711 (PCMA, 20 ms) call on loopback, ${SECS} s measured after ${WARMUP} s (both at once; load average $(cut -d' ' -f1 /proc/loadavg); deskphone GOMAXPROCS=${GOMAXPROCS:-default})"
printf '%-44s %12s %12s %10s %10s\n' "metric" "deskphone" "baresip" "ratio" "goal"
printf '%-44s %12.2f %12.2f %10s %10s\n' "CPU time per second of call (ms/s)" "$D_CPU" "$B_CPU" "$(ratio "$D_CPU" "$B_CPU")" "≤ 1.0×"
printf '%-44s %12s %12s %10s\n' "  CPU ratio in each $((SECS / WINDOWS)) s window" "" "" "$WIN_RATIOS"
printf '%-44s %12s %12s %10s %10s\n' "resident memory during the call (MiB)" "$(mib "$D_RSS")" "$(mib "$B_RSS")" "$(ratio "$D_RSS" "$B_RSS")" "≤ 20 MiB"
printf '%-44s %12.1f %12s %10s %10s\n' "receive latency, RTP in → device (ms, mean)" "$D_LAT" "-" "" "≤ 40 ms"
printf '%-44s %12.1f %12s %10s %10s\n' "receive latency, worst frame (ms)" "$D_LATMAX" "-" "" ""
echo "(deskphone received $D_RX packets; baresip RTP established: $RTP_OK; each column is one endpoint process, user+system time from /proc)"
