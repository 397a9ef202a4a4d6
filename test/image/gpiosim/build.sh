#!/usr/bin/env bash
# build.sh: build the gpio-sim kernel module for the kernel pinned in buildroot/debian/packages.lock.
#
# Debian's arm64 kernels are built without CONFIG_GPIO_SIM, so the image tests cannot simulate
# buttons and LEDs with them. This builds drivers/gpio/gpio-sim.c (with kernel/irq/irq_sim.c, also
# missing) out of tree against Debian's own arm64 headers of the same kernel, cross-compiled.
# One change to irq_sim.c: irq_to_desc() is not exported to modules, generic_handle_irq() does the
# same job here.
#
# Output: $BUILD/gpiosim/gpio-sim.ko (default build/image/gpiosim/), rebuilt only when the kernel
# changes. Pass it to the image build as EXTRA_MODULES, with EXTRA_KMODS=configfs.
# Host packages: gcc-aarch64-linux-gnu, linux-kbuild-6.1 (the headers' build tools), make, dpkg.
. "$(dirname "$0")/../../../buildroot/debian/common.sh"

need aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
need make make
need dpkg-deb dpkg

kpkg=$(awk '$1 ~ /^linux-image-.*-arm64$/ {print $1; exit}' "$LOCK")
kver_deb=$(awk '$1 ~ /^linux-image-.*-arm64$/ {print $2; exit}' "$LOCK")
[ -n "$kpkg" ] || die "no linux-image package in ${LOCK#"$TOP"/}"
KVER=${kpkg#linux-image-}           # 6.1.0-50-arm64
ABI=${KVER%-arm64}                  # 6.1.0-50
SERIES=$(echo "$KVER" | cut -d. -f1,2)  # 6.1
KBUILD=/usr/lib/linux-kbuild-$SERIES
[ -d "$KBUILD" ] || die "$KBUILD missing; install the Debian package 'linux-kbuild-$SERIES'"

OUTDIR=$BUILD/gpiosim
KO=$OUTDIR/gpio-sim.ko
if [ -f "$KO" ] && [ "$(cat "$OUTDIR/stamp" 2>/dev/null)" = "$KVER $kver_deb" ]; then
	info "gpio-sim.ko for $KVER is up to date: $KO"
	exit 0
fi

step "Building gpio-sim.ko for $KVER ($kver_deb)"
W=$OUTDIR/work
rm -rf "$W"
mkdir -p "$W/debs" "$W/kh" "$W/src" "$W/mod"
[ -f "$APT_DIR/sources.list" ] || apt64_update
# shellcheck disable=SC2046
(cd "$W/debs" && apt-get $(apt64_opts) download \
	"linux-headers-$KVER=$kver_deb" "linux-headers-$ABI-common=$kver_deb" "linux-source-$SERIES=$kver_deb" \
	>"$W/download.log" 2>&1) || {
	# the package index may be stale; refresh it once
	apt64_update
	# shellcheck disable=SC2046
	(cd "$W/debs" && apt-get $(apt64_opts) download \
		"linux-headers-$KVER=$kver_deb" "linux-headers-$ABI-common=$kver_deb" "linux-source-$SERIES=$kver_deb" \
		>"$W/download.log" 2>&1) || die "downloading the kernel headers and source failed (see $W/download.log)"
}
for d in "$W"/debs/linux-headers-*.deb; do dpkg-deb -x "$d" "$W/kh"; done
dpkg-deb -x "$W"/debs/linux-source-*.deb "$W/src"
tar -xJf "$W/src/usr/src/linux-source-$SERIES.tar.xz" -C "$W/src" \
	"linux-source-$SERIES/drivers/gpio/gpio-sim.c" "linux-source-$SERIES/drivers/gpio/gpiolib.h" \
	"linux-source-$SERIES/kernel/irq/irq_sim.c"
# The arm64 header tree runs the host's (amd64) kbuild tools and includes its common part by path.
mkdir -p "$W/kh/usr/lib"
ln -sfn "$KBUILD" "$W/kh/usr/lib/linux-kbuild-$SERIES"
sed -i "s#^include /usr/src/#include $W/kh/usr/src/#" "$W/kh/usr/src/linux-headers-$KVER/Makefile"

S=$W/src/linux-source-$SERIES
cp "$S/drivers/gpio/gpio-sim.c" "$W/mod/gpio-sim-core.c"
cp "$S/drivers/gpio/gpiolib.h" "$S/kernel/irq/irq_sim.c" "$W/mod/"
grep -q 'handle_simple_irq(irq_to_desc(irqnum));' "$W/mod/irq_sim.c" ||
	die "irq_sim.c of $KVER changed: the irq_to_desc patch no longer applies"
sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' "$W/mod/irq_sim.c"
printf 'obj-m := gpio-sim.o\ngpio-sim-y := gpio-sim-core.o irq_sim.o\n' >"$W/mod/Kbuild"
make -C "$W/kh/usr/src/linux-headers-$KVER" M="$W/mod" ARCH=arm64 \
	CROSS_COMPILE=aarch64-linux-gnu- CC=aarch64-linux-gnu-gcc modules >"$W/make.log" 2>&1 ||
	{ tail -20 "$W/make.log" >&2; die "building gpio-sim failed (full log: $W/make.log)"; }
aarch64-linux-gnu-strip --strip-debug -o "$KO" "$W/mod/gpio-sim.ko"
echo "$KVER $kver_deb" >"$OUTDIR/stamp"
rm -rf "$W"
info "built $KO ($(du -h "$KO" | cut -f1))"
