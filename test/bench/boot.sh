#!/usr/bin/env bash
# Boot benchmark: the SD card image booted under QEMU (raspi3b and virt), QEMU start -> the phone
# registered, with the boot timeline (kernel, modules, mounts, fsck, network, DHCP lease, clock,
# service start, first REGISTER answered) next to the same kernel booting a bare BusyBox, as
# ratios. Several boots per figure (BENCH_BOOTS, default 3), shown as ranges: QEMU's timings move
# with the load on this machine. Builds the image first (make image, without the .xz).
#
# Needs root (the image test's network namespace) and the image tools (make deps).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" != 0 ] && ! sudo -n true 2>/dev/null; then
	echo "boot bench: needs root (network namespace and tap device for QEMU); skipped" >&2
	exit 0
fi
command -v qemu-system-aarch64 >/dev/null || { echo "boot bench: qemu-system-aarch64 is missing (make deps installs it)" >&2; exit 1; }
export BENCH_BOOTS=${BENCH_BOOTS:-3}
log=$(mktemp /tmp/deskphone-boot-bench.XXXXXX)
if ! make -C "$ROOT" --no-print-directory bench-image NO_XZ=1 >"$log" 2>&1; then
	tail -40 "$log" >&2
	echo "boot bench: failed (whole output in $log)" >&2
	exit 1
fi
sed -n '/deskphone image (QEMU/,/^BenchmarkImage/p' "$log" |
	sed -e 's/^ *bench_test.go:[0-9]*: *//' -e '/^BenchmarkImage/d' -e 's/^        //'
rm -f "$log"
