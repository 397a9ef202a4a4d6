# Shared settings and functions for the Debian-package image build. Sourced, not run.
# shellcheck shell=bash

set -euo pipefail

DEBIAN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$DEBIAN_DIR/../.." && pwd)
BOARD_DIR=$TOP/buildroot/board/deskphone
OVERLAY_DIR=$TOP/overlay
LOCK=${LOCK:-$DEBIAN_DIR/packages.lock}
BUILD=${BUILD:-$TOP/build/image}
SUITE=${DEBIAN_SUITE:-bookworm}
COMPONENTS="main non-free-firmware"
KEYRING=${DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}

# step NAME starts a step of the build: it is printed with the time since the build started, and
# the previous step's duration is kept for timings (the summary at the end).
BUILD_T0=${BUILD_T0:-$(date +%s%N)}
export BUILD_T0
STEP_NAME='' STEP_T0=''
STEP_TIMES=()
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", (b - a) / 1e9}'; }
step_end() {
	[ -n "$STEP_NAME" ] && STEP_TIMES+=("$(secs "$STEP_T0" "$(date +%s%N)") s|$STEP_NAME")
	STEP_NAME=''
}
step() {
	step_end
	STEP_NAME=$* STEP_T0=$(date +%s%N)
	printf '\033[1m==> [%6s s] %s\033[0m\n' "$(secs "$BUILD_T0" "$STEP_T0")" "$*" >&2
}
# timings prints how long each step took.
timings() {
	step_end
	local t
	for t in "${STEP_TIMES[@]}"; do printf '    %8s  %s\n' "${t%%|*}" "${t#*|}" >&2; done
	printf '    %8s  %s\n' "$(secs "$BUILD_T0" "$(date +%s%N)") s" "in all" >&2
}
# size FILE...: their apparent size, human readable.
size() { du -ch --apparent-size "$@" 2>/dev/null | tail -1 | cut -f1; }
info() { printf '    %s\n' "$*" >&2; }
die() { printf 'mkimage: error: %s\n' "$*" >&2; exit 1; }

# need TOOL PACKAGE: fail with the Debian package to install when a host tool is missing.
need() {
	command -v "$1" >/dev/null 2>&1 || die "'$1' not found; install the Debian package '$2' (apt-get install $2)"
}

# mirror prints the Debian archive URI: $DEBIAN_MIRROR, else the first one in the host's apt sources.
mirror() {
	if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
	local m
	m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}')
	[ -n "$m" ] || m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1=="deb" {for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' | grep -v security | head -1)
	echo "${m:-http://deb.debian.org/debian}"
}

# apt64 sets up (once) a private apt configuration for Debian's arm64 packages under $BUILD/apt
# and prints the apt options that select it. Nothing outside $BUILD is touched.
APT_DIR=$BUILD/apt
apt64_opts() {
	echo "-oAPT::Architecture=arm64 -oAPT::Architectures=arm64 -oDir::State::Lists=$APT_DIR/lists" \
		"-oDir::Etc::SourceList=$APT_DIR/sources.list -oDir::Etc::SourceParts=/dev/null" \
		"-oDir::Cache=$APT_DIR/cache -oDir::State::status=/dev/null -oDebug::NoLocking=1" \
		"-oAPT::Sandbox::User=root -oquiet=1"
}
apt64_update() {
	need apt-get apt
	[ -r "$KEYRING" ] || die "Debian archive keyring $KEYRING missing; install the Debian package 'debian-archive-keyring'"
	mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
	echo "deb [arch=arm64 signed-by=$KEYRING] $(mirror) $SUITE $COMPONENTS" >"$APT_DIR/sources.list"
	# shellcheck disable=SC2046
	apt-get $(apt64_opts) update >"$APT_DIR/update.log" 2>&1 ||
		die "apt-get update for arm64 failed (see $APT_DIR/update.log); is $(mirror) reachable?"
}
