#!/usr/bin/env bash
# run.sh: the hardware test on the real kernel. Builds the image with the test additions
# (gpio-sim, snd-aloop, hwcheck, deskphone.toml of this folder), then runs the Go test inside a
# fresh network namespace where QEMU's tap device and the SIP peer live: nothing leaves the machine.
#
#   test/image/hardware/run.sh [go test flags, e.g. -run Hook -v]
#
# Needs root (network namespace, tap device), qemu-system-arm, baresip-core, and what the image
# build needs (see docs/image.md).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../../.." && pwd)
HERE=$TOP/test/image/hardware
export BUILD=${HWBUILD:-$TOP/build/image-hw}
mkdir -p "$BUILD"
# Share the downloaded Debian packages with the normal image build.
[ -e "$BUILD/debs" ] || { mkdir -p "$TOP/build/image/debs" && ln -s ../image/debs "$BUILD/debs"; }

if [ -z "${HW_SKIP_BUILD:-}" ]; then # HW_SKIP_BUILD=1: reuse the last image (changing only the test)
echo "==> building deskphone and hwcheck for arm64"
(cd "$TOP" && CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc \
	go build -trimpath -o "$BUILD/deskphone-arm64" ./cmd/deskphone &&
	CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc \
		go build -trimpath -o "$BUILD/hwcheck-arm64" ./cmd/hwcheck)
OV=$BUILD/overlay
rm -rf "$OV" && mkdir -p "$OV/usr/bin"
cp -a "$HERE/overlay/." "$OV/"
install -m 0755 "$BUILD/hwcheck-arm64" "$OV/usr/bin/hwcheck"
BIN=$BUILD/deskphone-arm64 OUT=$BUILD/deskphone-hw.img NO_XZ=1 CONFIG=$HERE/deskphone.toml \
	EXTRA_KMODS="configfs gpio-sim snd-aloop" EXTRA_OVERLAY=$OV \
	"$TOP/buildroot/debian/mkimage.sh"
fi

# Unplugging the sound card mid-call needs miniaudio's disconnect fix (third_party/malgo, used
# through go.mod's replace); without it the kernel cannot release the card and that step is skipped.
if [ -z "$(cd "$TOP" && go list -m -f '{{if .Replace}}patched{{end}}' github.com/gen2brain/malgo)" ]; then
	echo "==> go.mod does not use third_party/malgo: the unplug step will be skipped"
	export DESKPHONE_HW_UNPLUG=skip
fi
echo "==> running the test in a private network namespace"
export DESKPHONE_HW_IMAGE=$BUILD/deskphone-hw.img DESKPHONE_HW_KERNEL=$BUILD/input/Image \
	DESKPHONE_HW_INITRD=$BUILD/input/rootfs.cpio.zst
cd "$TOP"
go test -c -o "$BUILD/hardware.test" ./test/image/hardware
exec unshare --net -- sh -c '
	ip link set lo up
	ip tuntap add dev tap0 mode tap
	ip link set tap0 up
	ip addr add 192.168.77.1/24 dev tap0
	exec "$0" -test.v -test.timeout 10m "$@"' "$BUILD/hardware.test" "$@"
