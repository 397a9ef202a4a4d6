#!/usr/bin/env bash
# Registrar benchmark: authenticated REGISTER/s and call setups/s (INVITE → 407 → INVITE → 180 →
# 200 → ACK → BYE through the registrar to a SIPp callee), against deskphone and against Kamailio
# configured equivalently (test/bench/kamailio/kamailio.cfg: digest auth with qop and nonce
# counts, in-memory location, Record-Route proxy). Both run on loopback on this machine, one
# after the other, driven by the same SIPp scenarios; the table shows deskphone/Kamailio.
# Wall-clock rates depend on what else the machine runs; each row is followed by the servers'
# CPU time per SIP message (from /proc, Kamailio's worker processes included), which does not,
# and by the registrar's allocations per message (test/bench/registrarprofile, same load, in a
# Go process that counts them).
#
# The REGISTER run is SIPp at full rate with 200 registrations in flight over 1,000 accounts
# (30,000 of them: runs of 10,000, half a second, swung by ±10 %);
# every failed registration (a second 401, stale=true or not, a timeout) is counted. SIPp's socket
# buffers are 4 MiB (-buff_size): its default of 64 KiB overflowed with a burst of responses
# (200 phones share its one socket), and the lost ones waited for its 500 ms retransmission.
#
# Knobs (environment): DESKPHONE (binary, default build/deskphone), BENCH_USERS (1000),
# BENCH_REGISTERS (30000), BENCH_REGISTER_CONCURRENCY (200), BENCH_CALLS (4000),
# BENCH_CONCURRENCY (calls in flight, 50).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${DESKPHONE:-$ROOT/build/deskphone}
USERS=${BENCH_USERS:-1000}
REGS=${BENCH_REGISTERS:-30000}
REG_CONC=${BENCH_REGISTER_CONCURRENCY:-200}
CALLS=${BENCH_CALLS:-4000}
CONC=${BENCH_CONCURRENCY:-50}
SIPP_DIR=$ROOT/test/sipp

for tool in sipp kamailio python3; do
	command -v "$tool" >/dev/null || { echo "registrar bench: $tool is missing (make deps installs it)" >&2; exit 1; }
done
if [ ! -x "$BIN" ]; then
	echo "registrar bench: building $BIN" >&2
	(cd "$ROOT" && go build -o "$BIN" ./cmd/deskphone)
fi

WORK=$(mktemp -d /tmp/deskphone-bench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -n "${BENCH_KEEP:-}" ]; then echo "registrar bench: files kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

freeport() {
	python3 -c 'import socket
u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); u.bind(("127.0.0.1",0)); p=u.getsockname()[1]
t=socket.socket(); t.bind(("127.0.0.1",p)); print(p)'
}

# cpu_us PID: CPU time (user + system, µs) of PID and every process under it so far.
cpu_us() {
	python3 - "$1" <<'PY'
import os, sys
tick = os.sysconf("SC_CLK_TCK")
stat = {}
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            f = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stat[int(p)] = (int(f[1]), int(f[11]) + int(f[12]))  # ppid, utime + stime
todo, total = [int(sys.argv[1])], 0
while todo:
    pid = todo.pop()
    total += stat.get(pid, (0, 0))[1]
    todo += [c for c, (pp, _) in stat.items() if pp == pid]
print(total * 1000000 // tick)
PY
}

# wait_sip ADDR: until the server answers OPTIONS.
wait_sip() {
	python3 - "$1" <<'PY'
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); s.settimeout(0.3)
me = "%s:%d" % s.getsockname()
for i in range(100):
    msg = ("OPTIONS sip:%s:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKw%d\r\nFrom: <sip:w@%s>;tag=w\r\n"
           "To: <sip:%s>\r\nCall-ID: w%d\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n") % (host, port, me, i, host, host, i)
    s.sendto(msg.encode(), (host, int(port)))
    try:
        if s.recv(4096).startswith(b"SIP/2.0"):
            sys.exit(0)
    except socket.timeout:
        pass
sys.exit("server at %s does not answer" % sys.argv[1])
PY
}

# Accounts: USERS callers and one callee, same passwords on both servers.
INF=$WORK/users.csv
echo "SEQUENTIAL" > "$INF"
DB=$WORK/kamdb
mkdir -p "$DB"
echo "id(int,auto) table_name(string) table_version(int) " > "$DB/version"
echo "0:subscriber:7" >> "$DB/version"
echo "0:location:9" >> "$DB/version"
echo "id(int,auto) username(string) domain(string) password(string) ha1(string) ha1b(string) " > "$DB/subscriber"
ACCTS=$WORK/accounts.toml
: > "$ACCTS"
add_account() { # ext user pass [kamailio-user]: Kamailio knows only one name per subscriber
	printf '[[registrar.accounts]]\nextension = "%s"\nusername = "%s"\npassword = "%s"\n' "$1" "$2" "$3" >> "$ACCTS"
	local user=${4:-$2} ha1 ha1b
	ha1=$(printf '%s' "$user:deskphone:$3" | md5sum | cut -d' ' -f1)
	ha1b=$(printf '%s' "$user@deskphone:deskphone:$3" | md5sum | cut -d' ' -f1)
	echo "$1:$user:deskphone:$3:$ha1:$ha1b:" >> "$DB/subscriber"
}
for i in $(seq 1 "$USERS"); do
	ext=$((20000 + i)); pw="bench-pass-$ext-x"
	add_account "$ext" "u$ext" "$pw"
	echo "u$ext;[authentication username=u$ext password=$pw]" >> "$INF"
done
add_account 7000 callee callee-pass-7000 7000 # registers and is called as 7000 on both

DP_PORT=$(freeport)
KAM_PORT=$(freeport)
WEB_PORT=$(freeport)
mkdir -p "$WORK/dp"
cat > "$WORK/dp/deskphone.toml" <<TOML
data_dir = "$WORK/dp/data"
[registrar]
enabled = true
listen = "127.0.0.1:$DP_PORT"
realm = "deskphone"
qualify_interval = "0s"
never_ban = ["127.0.0.0/8"]   # the benchmark is a flood by design
[phone]
enabled = false
[provisioning]
enabled = false
[web]
listen = "127.0.0.1:$WEB_PORT"
https_listen = "127.0.0.1:0"
$(cat "$ACCTS")
TOML

sed -e "s|LISTEN_ADDR|127.0.0.1:$KAM_PORT|" -e "s|DB_DIR|$DB|" "$ROOT/test/bench/kamailio/kamailio.cfg" > "$WORK/kamailio.cfg"
mkdir -p "$WORK/kamrun"

"$BIN" run --config "$WORK/dp/deskphone.toml" --log-level warn > "$WORK/deskphone.log" 2>&1 &
DP_PID=$!
PIDS+=($DP_PID)
kamailio -f "$WORK/kamailio.cfg" -DD -E -m 256 -M 16 -Y "$WORK/kamrun" -P "$WORK/kamailio.pid" > "$WORK/kamailio.log" 2>&1 &
KAM_PID=$!
PIDS+=($KAM_PID)
wait_sip "127.0.0.1:$DP_PORT" || { cat "$WORK/deskphone.log" >&2; exit 1; }
wait_sip "127.0.0.1:$KAM_PORT" || { cat "$WORK/kamailio.log" >&2; exit 1; }

# run_sipp NAME TARGET COUNT ARGS...: prints calls/s (successful calls over wall time), successful
# and failed calls. LIMIT (environment) is the number of calls in flight, CONC by default.
run_sipp() {
	local name=$1 target=$2 count=$3; shift 3
	local dir=$WORK/$name
	mkdir -p "$dir"
	local start end
	start=$(date +%s.%N)
	# timeout: SIPp once stayed in its event loop for minutes after "Test Terminated" (12,000
	# calls); its statistics file is complete by then.
	(cd "$dir" && timeout -k 5 300 sipp "$target" -nostdin -i 127.0.0.1 -p "$(freeport)" -r 100000 -l "${LIMIT:-$CONC}" -m "$count" \
		-timeout 120s -trace_stat -stf stat.csv -fd 60 -buff_size 4194304 "$@" > sipp.out 2>&1) || true
	end=$(date +%s.%N)
	python3 - "$dir/stat.csv" "$start" "$end" <<'PY'
import sys
rows = [l.rstrip("\n").split(";") for l in open(sys.argv[1]) if l.strip()]
head, last = rows[0], rows[-1]
ok = int(last[head.index("SuccessfulCall(C)")]); bad = int(last[head.index("FailedCall(C)")])
print("%.0f %d %d" % (ok / (float(sys.argv[3]) - float(sys.argv[2])), ok, bad))
PY
}

declare -A RESULT CPU
for srv in deskphone kamailio; do
	if [ "$srv" = deskphone ]; then port=$DP_PORT pid=$DP_PID; else port=$KAM_PORT pid=$KAM_PID; fi
	target=127.0.0.1:$port
	# warm-up: every user registers once (first-time bindings are written to disk by deskphone)
	run_sipp "$srv-warm" "$target" "$USERS" -sf "$SIPP_DIR/register_bench.xml" -inf "$INF" > /dev/null
	cpu0=$(cpu_us "$pid")
	RESULT[$srv-reg]=$(LIMIT=$REG_CONC run_sipp "$srv-reg" "$target" "$REGS" -sf "$SIPP_DIR/register_bench.xml" -inf "$INF")
	CPU[$srv-reg]=$(( $(cpu_us "$pid") - cpu0 ))
	uas_port=$(freeport)
	(cd "$WORK" && sipp "$target" -nostdin -sf "$SIPP_DIR/register_ok.xml" -key aor 7000 -key expires 3600 \
		-au 7000 -ap callee-pass-7000 -i 127.0.0.1 -p "$uas_port" -m 1 -timeout 10s > "$WORK/$srv-callee-reg.out" 2>&1) \
		|| { echo "callee could not register to $srv" >&2; cat "$WORK/$srv-callee-reg.out" >&2; exit 1; }
	(cd "$WORK" && exec sipp -nostdin -sf "$SIPP_DIR/uas_bench.xml" -i 127.0.0.1 -p "$uas_port" > "$WORK/$srv-uas.out" 2>&1) &
	uas_pid=$!
	PIDS+=($uas_pid)
	sleep 0.5
	cpu0=$(cpu_us "$pid")
	RESULT[$srv-call]=$(run_sipp "$srv-call" "$target" "$CALLS" -sf "$SIPP_DIR/uac_bench.xml" -s 7000 -inf "$INF")
	CPU[$srv-call]=$(( $(cpu_us "$pid") - cpu0 ))
	kill "$uas_pid" 2>/dev/null || true
	if [ "$srv" = deskphone ]; then # resident memory after both runs (what gc_percent costs), and peak since start
		RSS=$(awk '/^VmRSS:/ {r = $2} /^VmHWM:/ {h = $2} END {printf "%.1f (%.1f)", r / 1024, h / 1024}' "/proc/$pid/status")
	fi
done

# Allocations: the same load on the registrar in a Go process that counts them (make bench-profile).
ALLOCS=$(cd "$ROOT" && go run ./test/bench/registrarprofile -summary -out "$WORK/profile" -users "$USERS" \
	-registers "$REGS" -calls "$CALLS" 2>"$WORK/profile.log") || { echo "registrar bench: allocation run failed" >&2; cat "$WORK/profile.log" >&2; ALLOCS=""; }

# Flood: a fresh registrar (no never_ban) while 50 loopback sources ask for challenges.
FLOOD_PORT=$(freeport)
FLOOD_WEB=$(freeport)
mkdir -p "$WORK/flood"
sed -e "s|$WORK/dp/data|$WORK/flood/data|" -e "s|127.0.0.1:$DP_PORT|127.0.0.1:$FLOOD_PORT|" \
	-e "s|127.0.0.1:$WEB_PORT|127.0.0.1:$FLOOD_WEB|" -e '/^never_ban/d' "$WORK/dp/deskphone.toml" > "$WORK/flood/deskphone.toml"
"$BIN" run --config "$WORK/flood/deskphone.toml" --log-level warn > "$WORK/flood.log" 2>&1 &
FLOOD_PID=$!
PIDS+=($FLOOD_PID)
wait_sip "127.0.0.1:$FLOOD_PORT" || { cat "$WORK/flood.log" >&2; exit 1; }
FLOOD=$(python3 "$ROOT/test/bench/registrar_flood.py" "127.0.0.1:$FLOOD_PORT" "$FLOOD_PID" u20001 bench-pass-20001-x) \
	|| { echo "registrar bench: flood run failed" >&2; FLOOD=""; }
kill "$FLOOD_PID" 2>/dev/null || true

python3 - "${RESULT[deskphone-reg]}" "${RESULT[kamailio-reg]}" "${RESULT[deskphone-call]}" "${RESULT[kamailio-call]}" "$USERS" "$REG_CONC" "$CONC" "$REGS" \
	"${CPU[deskphone-reg]} ${CPU[kamailio-reg]} ${CPU[deskphone-call]} ${CPU[kamailio-call]}" "$ALLOCS" "$RSS" <<'PY'
import sys
dr, kr, dc, kc = [list(map(float, a.split())) for a in sys.argv[1:5]]
cpu = list(map(float, sys.argv[9].split()))
allocs = {l.split()[0]: list(map(float, l.split()[1:])) for l in sys.argv[10].splitlines() if l.strip()}
print()
print("Registrar benchmark: SIPp on loopback at full rate, %s accounts, same machine, same run" % sys.argv[5])
print("%-44s %12s %12s %8s" % ("", "deskphone", "Kamailio", "ratio"))
rows = (("authenticated REGISTER/s (%s, %s in flight)" % (sys.argv[8], sys.argv[6]), dr, kr, True, "register", 4, cpu[0:2]),
        ("call setups/s (INVITE…BYE, %s in flight)" % sys.argv[7], dc, kc, False, "call", 16, cpu[2:4]))
for name, d, k, always, op, msgs, (dcpu, kcpu) in rows:
    print("%-44s %12.0f %12.0f %8.2f" % (name, d[0], k[0], d[0] / k[0] if k[0] else 0))
    if always or d[2] or k[2]:
        print("%-44s %12d %12d" % ("  failed", d[2], k[2]))
    # CPU per message: the server's user + system time over the messages it read or sent for the
    # successful operations (%d per %s), its children (Kamailio's workers) included.
    dm, km = dcpu / max(d[1], 1) / msgs, kcpu / max(k[1], 1) / msgs
    print("%-44s %12.1f %12.1f %8.2f" % ("  CPU µs per message (%d per %s)" % (msgs, op), dm, km, km / dm if dm else 0))
    if op in allocs:
        print("%-44s %12.1f %12s" % ("  allocations per message", allocs[op][1] / msgs, "–"))
print("%-44s %12s" % ("registrar RSS after both runs (peak), MiB", sys.argv[11]))
print("ratio: deskphone as a multiple of Kamailio, higher is better (CPU rows: Kamailio's time over deskphone's)")
PY
if [ -n "$FLOOD" ]; then
	read -r banned slowest phone p99 peak after settled <<< "$FLOOD"
	echo
	echo "Flood: ${FLOOD_SOURCES:-50} loopback sources × ${FLOOD_RATE:-100} REGISTER/s for ${FLOOD_SECONDS:-10} s, a registered phone re-registering every 0.2 s"
	printf '%-44s %12s %12s\n' "" "measured" "goal"
	printf '%-44s %12s %12s\n' "sources banned" "$banned" "all"
	printf '%-44s %12s %12s\n' "slowest ban after its first packet (s)" "$slowest" "< 3"
	printf '%-44s %12s %12s\n' "phone registrations ok / tried" "$phone" "all"
	printf '%-44s %12s %12s\n' "phone REGISTER (401 + 200) p99 (s)" "$p99" "< 2"
	printf '%-44s %12s %12s\n' "registrar RSS peak during the flood (MiB)" "$peak" ""
	printf '%-44s %12s %12s\n' "registrar RSS ${settled} s after it (MiB)" "$after" "< 48"
fi
