#!/usr/bin/env bash
# mkimage.sh: build the deskphone SD card image from the Debian arm64 packages pinned in
# packages.lock, the cross-compiled service binary and overlay/. No root, no loop mounts.
#
# Environment:
#   BIN                the arm64 service binary (default build/deskphone-arm64)
#   OUT                the card image to write (default deskphone-rpi3b.img; OUT.xz is written too)
#   CONFIG             a deskphone.toml to put on the boot partition (default: none, built-in settings)
#   SOURCE_DATE_EPOCH  time stamp of every file (default: the last commit's time)
#   EXTRA_OVERLAY      directories copied over the root file system last (test images)
#   EXTRA_MODULES      out-of-tree .ko files to include and load at boot (test images)
#   EXTRA_KMODS        more modules of the card's kernel to include and load at boot (test images)
#   HOST_BIN           the service built for this computer, to print the example config (default: built)
#   NO_XZ=1            skip the .xz (the tests do not need it)
#   WIFI=0             leave Wi-Fi out altogether (no wifi.cpio.gz add-on on the boot partition)
. "$(dirname "$0")/common.sh"

BIN=${BIN:-$TOP/build/deskphone-arm64}
OUT=${OUT:-$TOP/deskphone-rpi3b.img}
EXTRA_OVERLAY=${EXTRA_OVERLAY:-}
EXTRA_MODULES=${EXTRA_MODULES:-}
EXTRA_KMODS=${EXTRA_KMODS:-}
WIFI=${WIFI:-1}

need genimage genimage
need mkfs.vfat dosfstools
need mcopy mtools
need cpio cpio
need gzip gzip
need xz xz-utils
need depmod kmod
need modprobe kmod
need aarch64-linux-gnu-readelf binutils-aarch64-linux-gnu

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git -C "$TOP" log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH
[ -f "$BIN" ] || die "the service binary $BIN is missing; build it with 'make build-arm64'"
case $(aarch64-linux-gnu-readelf -h "$BIN" 2>/dev/null | awk '/Machine:/ {print $2}') in
AArch64) ;;
*) die "$BIN is not an arm64 (AArch64) program; build it with 'make build-arm64'" ;;
esac
[ -z "${CONFIG:-}" ] || [ -r "$CONFIG" ] || die "CONFIG=$CONFIG: no such file"

step "Debian arm64 packages (pinned in packages.lock)"
"$DEBIAN_DIR/fetch.sh"
DEB=$BUILD/debroot
# The kernel: built from Debian's source and configuration (kernel.sh), laid out as its package.
KERNEL_BUILD=${KERNEL_BUILD:-$TOP/build/kernel}
export KERNEL_BUILD
step "The kernel (buildroot/debian/kernel.builtin, kernel.config)"
"$DEBIAN_DIR/kernel.sh"
KDIR=$KERNEL_BUILD/root
KVER=$(cat "$KERNEL_BUILD/release")
[ -f "$KDIR/lib/modules/$KVER/modules.dep" ] || die "no modules.dep in the kernel build $KDIR"

ROOT=$BUILD/rootfs
step "Assembling the root file system (kernel $KVER)"
info "service: $(size "$BIN") ($BIN)"
rm -rf "$ROOT"
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,usr/lib,lib/aarch64-linux-gnu,etc,proc,sys,dev,run,tmp,data,boot,root,var}
ln -s ../run "$ROOT/var/run"
ln -s ../run/log "$ROOT/var/log"
ln -s ../tmp "$ROOT/var/tmp"
ln -s lib "$ROOT/lib64"

# BusyBox: /bin/sh and /sbin/init, and the other applet links — made here when this computer's
# busybox is the same Debian version (it lists the same applets), else by rcS at boot.
install -m 0755 "$DEB/bin/busybox" "$ROOT/bin/busybox"
ln -s busybox "$ROOT/bin/sh"
ln -s ../bin/busybox "$ROOT/sbin/init"
# The image's is Debian's static build (busybox-static), which has the applets of the dynamic
# one but blkid.
bbver=$(awk '$1 == "busybox-static" {print $2}' "$LOCK")
if [ "$(dpkg-query -W -f='${Version}' busybox 2>/dev/null)" = "$bbver" ]; then
	nlinks=0
	for a in $(busybox --list-full); do
		case $a in bin/busybox | bin/sh | sbin/init | sbin/blkid) continue ;; esac
		mkdir -p "$ROOT/$(dirname "$a")"
		rel=$(dirname "$a" | sed 's|[^/]*|..|g')/bin/busybox
		ln -s "$rel" "$ROOT/$a"
		nlinks=$((nlinks + 1))
	done
	info "busybox $bbver: $nlinks applet links"
else
	info "busybox $bbver: applet links made at boot (this computer's busybox is another build)"
fi

install -m 0755 "$BIN" "$ROOT/usr/bin/deskphone"
progs="e2fsck mke2fs"
for b in $progs; do install -m 0755 "$DEB/sbin/$b" "$ROOT/sbin/$b"; done
install -m 0644 "$DEB/etc/mke2fs.conf" "$ROOT/etc/mke2fs.conf"

# Shared libraries: what the programs name (DT_NEEDED, recursively), plus what is loaded at run
# time: libasound (malgo's miniaudio dlopens it) and libgcc_s (glibc loads it for thread exit).
find_lib() {
	local d
	for d in lib/aarch64-linux-gnu usr/lib/aarch64-linux-gnu; do
		[ -e "$DEB/$d/$1" ] && { echo "$d/$1"; return; }
	done
	die "library $1 is needed but not in any locked package; add its package to buildroot/debian/packages.list and run 'make image-lock'"
}
copy_lib() { # copy_lib NAME: the library, its symlink chain and its own needs
	local rel
	rel=$(find_lib "$1")
	[ -e "$ROOT/$rel" ] && return
	mkdir -p "$ROOT/$(dirname "$rel")"
	cp -a "$DEB/$rel" "$ROOT/$rel"
	if [ -L "$DEB/$rel" ]; then
		local target
		target=$(readlink "$DEB/$rel")
		cp -a "$DEB/$(dirname "$rel")/$target" "$ROOT/$(dirname "$rel")/"
	fi
	needed "$ROOT/$rel"
}
needed() {
	local n
	for n in $(aarch64-linux-gnu-readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do copy_lib "$n"; done
}
for b in "$ROOT/bin/busybox" "$ROOT/usr/bin/deskphone" $(for p in $progs; do echo "$ROOT/sbin/$p"; done); do needed "$b"; done
copy_lib libasound.so.2
copy_lib libgcc_s.so.1
interp=$(aarch64-linux-gnu-readelf -l "$ROOT/usr/bin/deskphone" | sed -n 's/.*interpreter: \(.*\)\]/\1/p')
if [ -n "$interp" ]; then
	copy_lib "$(basename "$interp")"
	ln -sf "aarch64-linux-gnu/$(basename "$interp")" "$ROOT$interp"
fi
mkdir -p "$ROOT/usr/share"
cp -a "$DEB/usr/share/alsa" "$ROOT/usr/share/alsa"
# Kernel modules: those the init loads (overlay/etc/modules.d) and their dependencies, nothing else.
mods=$(find "$OVERLAY_DIR/etc/modules.d" -maxdepth 1 -type f -exec cat {} + | sed -e 's/#.*//' | tr -s ' \t' '\n' | sed '/^$/d')
# Wi-Fi's modules go to the add-on below.
mods=$(echo "$mods" | grep -vx brcmfmac)
mods="$mods $EXTRA_KMODS"
MROOT=$ROOT/lib/modules/$KVER
mkdir -p "$MROOT"
nmods=0
for m in $mods; do
	deps=$(modprobe -d "$KDIR" -S "$KVER" --show-depends "$m" 2>&1) || die "kernel module '$m' is not in $KVER: $deps"
	for ko in $(echo "$deps" | awk '$1=="insmod" {print $2}'); do
		rel=${ko#"$KDIR"/lib/modules/"$KVER"/}
		[ -e "$MROOT/$rel" ] && continue
		mkdir -p "$MROOT/$(dirname "$rel")"
		cp "$ko" "$MROOT/$rel"
		nmods=$((nmods + 1))
	done
done
for ko in $EXTRA_MODULES; do
	[ -r "$ko" ] || die "EXTRA_MODULES: $ko not found"
	mkdir -p "$MROOT/extra"
	cp "$ko" "$MROOT/extra/"
	nmods=$((nmods + 1))
done
cp "$KDIR/lib/modules/$KVER/modules.builtin" "$KDIR/lib/modules/$KVER/modules.builtin.modinfo" "$KDIR/lib/modules/$KVER/modules.order" "$MROOT/"
info "$nmods kernel modules, $(size "$MROOT")"

# Wi-Fi add-on: wpa_supplicant with the libraries only it needs, brcmfmac with its modules, and
# the chip's firmware — 16 MB the kernel would otherwise unpack on every boot — go into
# wifi.cpio.gz on the boot partition, which the init unpacks only when deskphone.toml sets
# [network] wifi_ssid. They are added to the root here (so that depmod knows the modules) and
# moved out after it.
if [ "$WIFI" != 0 ]; then
	(cd "$ROOT" && find . | LC_ALL=C sort) >"$BUILD/core.list"
	install -m 0755 "$DEB/sbin/wpa_supplicant" "$ROOT/sbin/wpa_supplicant"
	needed "$ROOT/sbin/wpa_supplicant"
	# The firmware of the Pi 3 B+ (43455) and B (43430): the chip's code from firmware-brcm80211,
	# the board's NVRAM settings from raspi-firmware.
	mkdir -p "$ROOT/lib/firmware/brcm"
	for f in brcmfmac43455-sdio.bin brcmfmac43455-sdio.clm_blob brcmfmac43455-sdio.txt \
		brcmfmac43430-sdio.bin brcmfmac43430-sdio.txt; do
		[ -e "$DEB/lib/firmware/brcm/$f" ] || die "Wi-Fi firmware brcm/$f is not in the locked packages (firmware-brcm80211, raspi-firmware)"
		cp -L "$DEB/lib/firmware/brcm/$f" "$ROOT/lib/firmware/brcm/$f"
	done
	for ko in $(modprobe -d "$KDIR" -S "$KVER" --show-depends brcmfmac | awk '$1=="insmod" {print $2}'); do
		rel=${ko#"$KDIR"/lib/modules/"$KVER"/}
		[ -e "$MROOT/$rel" ] && continue
		mkdir -p "$MROOT/$(dirname "$rel")"
		cp "$ko" "$MROOT/$rel"
	done
	(cd "$ROOT" && find . | LC_ALL=C sort) | LC_ALL=C comm -13 "$BUILD/core.list" - >"$BUILD/wifi.list"
fi

# Our files: the overlay (the same one the Buildroot tree uses), then test additions.
cp -a "$OVERLAY_DIR/." "$ROOT/"
find "$ROOT" -name .keep -delete
# The init loads the modules its lists name; those this kernel has built in are turned into a
# comment on the card ("# ext4: built into the kernel"), so that no program is started for them.
sed -e 's|.*/||; s|\.ko$||; s|-|_|g' "$KDIR/lib/modules/$KVER/modules.builtin" >"$BUILD/builtin.names"
for f in "$ROOT"/etc/modules.d/*; do
	[ -f "$f" ] || continue
	awk 'NR == FNR { builtin[$1] = 1; next }
	{ key = $1; sub(/#.*/, "", key); gsub(/-/, "_", key) }
	key in builtin { print "# " key ": built into the kernel"; next }
	{ print }' "$BUILD/builtin.names" "$f" >"$f.new"
	mv "$f.new" "$f"
done
info "modules.d: $(cat "$ROOT"/etc/modules.d/* 2>/dev/null | grep -c ': built into the kernel$') of the modules the init loads are built into the kernel"
if [ -n "$EXTRA_KMODS$EXTRA_MODULES" ]; then
	mkdir -p "$ROOT/etc/modules.d/local"
	{
		echo "# Added to this image at build time."
		for m in $EXTRA_KMODS; do echo "$m"; done
		for ko in $EXTRA_MODULES; do basename "$ko" .ko; done
	} >"$ROOT/etc/modules.d/local/extra"
fi
for d in $EXTRA_OVERLAY; do
	[ -d "$d" ] || die "EXTRA_OVERLAY: $d is not a directory"
	cp -a "$d/." "$ROOT/"
done
depmod -b "$ROOT" "$KVER"
WROOT=$BUILD/wifiroot
rm -rf "$WROOT"
if [ "$WIFI" != 0 ]; then
	mkdir -p "$WROOT"
	while read -r f; do
		[ -d "$ROOT/$f" ] && continue
		mkdir -p "$WROOT/$(dirname "$f")"
		mv "$ROOT/$f" "$WROOT/$f"
	done <"$BUILD/wifi.list"
	LC_ALL=C sort -r "$BUILD/wifi.list" | while read -r f; do
		if [ -d "$ROOT/$f" ]; then rmdir "$ROOT/$f"; fi
	done
fi
info "libraries: $(find "$ROOT/lib/aarch64-linux-gnu" "$ROOT/usr/lib/aarch64-linux-gnu" -name '*.so*' -type f | wc -l) files, $(size "$ROOT/lib/aarch64-linux-gnu" "$ROOT/usr/lib/aarch64-linux-gnu")"
[ "$WIFI" = 0 ] || info "Wi-Fi add-on: wpa_supplicant, $(find "$WROOT" -name '*.so*' -type f | wc -l) libraries, $(find "$WROOT" -name '*.ko' | wc -l) modules, brcm firmware: $(size "$WROOT")"
version=$("$DEBIAN_DIR/version.sh")
cat >"$ROOT/etc/deskphone-release" <<EOR
NAME=deskphone
VERSION=$version
BUILD_EPOCH=$SOURCE_DATE_EPOCH
KERNEL=$KVER
EOR

# Reproducible archive: fixed owner, mode bits from git (not the umask), time stamps, and order.
trees=$ROOT
[ "$WIFI" = 0 ] || trees="$ROOT $WROOT"
# shellcheck disable=SC2086
chmod -R u+rwX,go+rX,go-w $trees
# shellcheck disable=SC2086
find $trees -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
IN=$BUILD/input
rm -rf "$IN"
mkdir -p "$IN/rpi-firmware" "$IN/deskphone/alcatel"
# zstd: about 15% smaller than gzip -9 (less for the firmware to read from the card) and the
# kernel unpacks it about 2.5 times faster (CONFIG_RD_ZSTD).
step "Packing the root file system (cpio, zstd -19)"
(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) |
	zstd -q -19 -c >"$IN/rootfs.cpio.zst"
info "root file system: $(find "$ROOT" | wc -l) files, $(size "$ROOT") unpacked, $(size "$IN/rootfs.cpio.zst") compressed"
if [ "$WIFI" != 0 ]; then
	# gzip, not zstd: BusyBox unpacks it (gunzip | cpio) when Wi-Fi is configured.
	(cd "$WROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) |
		gzip -n -9 >"$IN/wifi.cpio.gz"
	info "Wi-Fi add-on: $(size "$WROOT") unpacked, $(size "$IN/wifi.cpio.gz") compressed (unpacked at boot only when Wi-Fi is configured)"
fi

step "Staging the boot partition"
cp "$KDIR/boot/vmlinuz-$KVER" "$IN/Image"
for dtb in bcm2837-rpi-3-b-plus.dtb bcm2837-rpi-3-b.dtb; do
	cp "$KDIR/usr/lib/linux-image-$KVER/broadcom/$dtb" "$IN/$dtb"
done
for f in bootcode.bin start.elf fixup.dat; do
	cp "$DEB/usr/lib/raspi-firmware/$f" "$IN/rpi-firmware/$f"
done
cp "$BOARD_DIR/config.txt" "$BOARD_DIR/cmdline.txt" "$IN/rpi-firmware/"
cp "$BOARD_DIR/alcatel-README.txt" "$IN/deskphone/alcatel/README.txt"
# The commented example comes from the service itself, built for this computer.
HOST_BIN=${HOST_BIN:-}
if [ -z "$HOST_BIN" ]; then
	need go golang
	HOST_BIN=$BUILD/deskphone-host
	(cd "$TOP" && go build -trimpath -o "$HOST_BIN" ./cmd/deskphone) ||
		die "building the service for this computer (to print its example config) failed; see the compiler output above"
fi
"$HOST_BIN" example >"$IN/deskphone/deskphone.toml.example" || die "'$HOST_BIN example' failed"
if [ -n "${CONFIG:-}" ]; then
	cp "$CONFIG" "$IN/deskphone/deskphone.toml"
	info "deskphone.toml: $CONFIG"
else
	cp "$BOARD_DIR/deskphone.toml" "$IN/deskphone/deskphone.toml"
	info "deskphone.toml: none given, the built-in settings (registrar + phone 5002, DHCP)"
fi
find "$IN" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

step "Assembling the SD card image (genimage)"
GT=$BUILD/genimage
rm -rf "$GT" && mkdir -p "$GT/tmp" "$GT/root" "$GT/out"
# mtools stamps files with the current time unless told to keep the source's (-m).
printf '#!/bin/sh\nexec mcopy -m "$@"\n' >"$GT/mcopy" && chmod +x "$GT/mcopy"
# Without Wi-Fi there is no add-on to put on the card.
if [ "$WIFI" = 0 ]; then
	grep -v '"wifi.cpio.gz"' "$BOARD_DIR/genimage.cfg" >"$GT/genimage.cfg"
else
	cp "$BOARD_DIR/genimage.cfg" "$GT/genimage.cfg"
fi
genimage --config "$GT/genimage.cfg" --inputpath "$IN" --outputpath "$GT/out" \
	--tmppath "$GT/tmp" --rootpath "$GT/root" --mcopy "$GT/mcopy" >"$GT/log" 2>&1 ||
	{ tail -20 "$GT/log" >&2; die "genimage failed (full log: $GT/log)"; }
mv "$GT/out/deskphone-rpi3b.img" "$OUT"
info "$(basename "$OUT"): $(size "$OUT"), sha256 $(sha256sum "$OUT" | cut -c1-16)…"
if [ -z "${NO_XZ:-}" ]; then
	step "Compressing the card image (xz)"
	xz -T2 -6 -c "$OUT" >"$OUT.xz.part" && mv "$OUT.xz.part" "$OUT.xz"
	info "$(basename "$OUT").xz: $(size "$OUT.xz")"
fi

# Summary: what went on the card, and how long each step took.
printf '\033[1m==> What is on the card\033[0m\n' >&2
{
	echo "partition 1, FAT32 DESKBOOT (/boot on the Pi):"
	(cd "$IN" && find . -type f | LC_ALL=C sort | while read -r f; do
		dest=${f#./}
		dest=${dest#rpi-firmware/}
		dest=${dest#deskphone/}
		printf '    %-34s %6s\n' "$dest" "$(size "$f")"
	done)
	echo "  in rootfs.cpio.zst (the root file system, in RAM on the Pi):"
	printf '    %-34s %6s\n' "/usr/bin/deskphone (the service)" "$(size "$ROOT/usr/bin/deskphone")" \
		"/bin/busybox (init, shell, tools)" "$(size "$ROOT/bin/busybox")" \
		"shared libraries, ALSA settings" "$(size "$ROOT/lib/aarch64-linux-gnu" "$ROOT/usr/lib/aarch64-linux-gnu" "$ROOT/usr/share/alsa")" \
		"kernel modules ($nmods)" "$(size "$MROOT")" \
		"e2fsck, mke2fs" "$(size "$ROOT/sbin/e2fsck" "$ROOT/sbin/mke2fs")"
	printf '    %-34s %6s\n' "overlay/ (init scripts, settings)" "$(cd "$OVERLAY_DIR" && find . -type f -exec du -cb {} + | tail -1 | awk '{printf "%.0fK", $1 / 1024}')"
	[ "$WIFI" = 0 ] || printf '  in wifi.cpio.gz (unpacked only when [network] wifi_ssid is set):\n    %-34s %6s\n' "wpa_supplicant, brcmfmac, firmware" "$(size "$WROOT")"
	echo "partition 2, ext4 deskphone-data (/data): blank, created on the first boot"
	echo "kernel $KVER, version $version${CONFIG:+, deskphone.toml from $CONFIG}"
} >&2
printf '\033[1m==> Time per step\033[0m\n' >&2
timings
printf '\033[1m==> Done: write %s (or .xz) to an SD card with Raspberry Pi Imager or dd; see docs/image.md\033[0m\n' "$(basename "$OUT")" >&2
