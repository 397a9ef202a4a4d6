#!/usr/bin/env bash
# kernel.sh: build the card's kernel from Debian's source of the pinned kernel (linux-source-6.1
# in packages.lock, the same version as linux-image-*-arm64), with Debian's configuration changed
# as kernel.builtin and kernel.config say: the modules the phone needs before it registers built
# in, other boards' drivers left out. Run by mkimage.sh after fetch.sh; rebuilt only when one of
# its inputs changes (the first build takes about 15 minutes on two cores).
#
# Output, laid out like the unpacked Debian kernel package ($KERNEL_BUILD/root, default
# build/kernel/root): boot/vmlinuz-RELEASE (the uncompressed Image), boot/config-RELEASE,
# usr/lib/linux-image-RELEASE/broadcom/*.dtb and lib/modules/RELEASE; RELEASE in
# $KERNEL_BUILD/release.
# Host packages: gcc-aarch64-linux-gnu, gcc and libc6-dev (the kernel's build tools), make, perl,
# flex, bison, bc, libssl-dev, libelf-dev.
. "$(dirname "$0")/common.sh"

need aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
need make make
need gcc gcc
need perl perl
need flex flex
need bison bison
need bc bc
need xz xz-utils
[ -r /usr/include/openssl/evp.h ] || die "OpenSSL's headers are missing; install the Debian package 'libssl-dev'"
[ -r /usr/include/gelf.h ] || die "libelf's headers are missing; install the Debian package 'libelf-dev'"

KB=${KERNEL_BUILD:-$TOP/build/kernel}
DEB=$BUILD/debroot
read -r src_pkg src_ver _ src_path < <(awk '$1 ~ /^linux-source-/ {print; exit}' "$LOCK") ||
	die "no linux-source package in ${LOCK#"$TOP"/}; add it to packages.list and run 'make image-lock'"
img_ver=$(awk '$1 ~ /^linux-image-.*-arm64$/ {print $2; exit}' "$LOCK")
[ "$src_ver" = "$img_ver" ] ||
	die "${LOCK#"$TOP"/} pins $src_pkg $src_ver but the kernel package at $img_ver: the configuration comes from the latter; pin both at one version"
src_deb=$BUILD/debs/${src_path##*/}
[ -r "$src_deb" ] || die "$src_deb missing (fetch.sh downloads it)"
debian_config=$(ls "$DEB"/boot/config-*-arm64 2>/dev/null | head -1)
[ -n "$debian_config" ] || die "no Debian kernel configuration (boot/config-*-arm64) in the unpacked linux-image package"

stamp=$(cat "$0" "$DEBIAN_DIR/kernel.builtin" "$DEBIAN_DIR/kernel.config" "$debian_config" <(echo "$src_ver") | sha256sum | cut -c1-16)
if [ "$(cat "$KB/stamp" 2>/dev/null)" = "$stamp" ] && [ -s "$KB/release" ]; then
	info "kernel $(cat "$KB/release") is up to date ($KB)"
	exit 0
fi

SRC=$KB/linux-source-${src_pkg#linux-source-}
if [ "$(cat "$KB/source.version" 2>/dev/null)" != "$src_ver" ]; then
	step "Unpacking the kernel source ($src_pkg $src_ver)"
	rm -rf "$KB"
	mkdir -p "$KB"
	dpkg-deb --fsys-tarfile "$src_deb" | tar -xO --wildcards './usr/src/linux-source-*.tar.xz' | tar -xJ -C "$KB"
	[ -d "$SRC" ] || die "the source package did not unpack to $SRC"
	echo "$src_ver" >"$KB/source.version"
fi

step "Configuring the kernel (Debian's, modules of kernel.builtin built in)"
# The same source and settings give the same kernel: its time stamp is the source's.
kstamp=$(stat -c %Y "$SRC/Makefile")
kmake() {
	make --no-print-directory -C "$SRC" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- \
		KBUILD_BUILD_TIMESTAMP="@$kstamp" KBUILD_BUILD_USER=deskphone KBUILD_BUILD_HOST=deskphone "$@"
}
cp "$debian_config" "$SRC/.config"
# localyesconfig keeps the modules an lsmod listing names, built in with what they need, and
# leaves every other module out.
{
	echo "Module Size Used by"
	awk '{ sub(/#.*/, "") } NF { gsub(/-/, "_", $1); print $1, 0, 0 }' "$DEBIAN_DIR/kernel.builtin"
} >"$KB/lsmod"
kmake LSMOD="$KB/lsmod" localyesconfig >"$KB/config.log" 2>&1 < /dev/null ||
	{ tail -20 "$KB/config.log" >&2; die "localyesconfig failed (full log: $KB/config.log)"; }
# kernel.config's lines, then the settings they imply.
while IFS= read -r line; do
	case $line in
	'# CONFIG_'*' is not set') sym=${line#\# CONFIG_}; "$SRC/scripts/config" --file "$SRC/.config" --disable "${sym%% *}" ;;
	CONFIG_*=\"*) sym=${line%%=*}; val=${line#*=}; val=${val#\"}; "$SRC/scripts/config" --file "$SRC/.config" --set-str "${sym#CONFIG_}" "${val%\"}" ;;
	CONFIG_*=*) sym=${line%%=*}; "$SRC/scripts/config" --file "$SRC/.config" --set-val "${sym#CONFIG_}" "${line#*=}" ;;
	esac
done <"$DEBIAN_DIR/kernel.config"
kmake olddefconfig >>"$KB/config.log" 2>&1 </dev/null || die "olddefconfig failed (log: $KB/config.log)"
bad=
while IFS= read -r line; do
	case $line in
	'# CONFIG_'*' is not set') sym=${line#\# }; sym=${sym%% *}; grep -q "^$sym=" "$SRC/.config" && bad="$bad $sym" ;;
	CONFIG_*=*) grep -qxF "$line" "$SRC/.config" || bad="$bad ${line%%=*}" ;;
	esac
done <"$DEBIAN_DIR/kernel.config"
[ -z "$bad" ] || die "kernel.config asks for what the kernel's own rules undo (a dependency missing?):$bad"
info "$(grep -c '=y$' "$SRC/.config") options built in, $(grep -c '=m$' "$SRC/.config") as modules"

step "Building the kernel ($src_ver, $(nproc) jobs; the first build takes a while)"
kmake -j"$(nproc)" Image modules dtbs >"$KB/build.log" 2>&1 </dev/null ||
	{ tail -30 "$KB/build.log" >&2; die "the kernel build failed (full log: $KB/build.log)"; }
release=$(kmake -s kernelrelease)
R=$KB/root
rm -rf "$R"
mkdir -p "$R/boot" "$R/usr/lib/linux-image-$release/broadcom"
cp "$SRC/arch/arm64/boot/Image" "$R/boot/vmlinuz-$release"
cp "$SRC/.config" "$R/boot/config-$release"
cp "$SRC"/arch/arm64/boot/dts/broadcom/bcm2837-rpi-3-b*.dtb "$R/usr/lib/linux-image-$release/broadcom/"
kmake INSTALL_MOD_PATH="$R" INSTALL_MOD_STRIP=1 DEPMOD=true modules_install >>"$KB/build.log" 2>&1 </dev/null ||
	die "installing the kernel's modules failed (log: $KB/build.log)"
rm -f "$R/lib/modules/$release/build" "$R/lib/modules/$release/source"
depmod -b "$R" "$release"
info "kernel $release: Image $(size "$R/boot/vmlinuz-$release"), $(find "$R/lib/modules" -name '*.ko' | wc -l) modules"
echo "$release" >"$KB/release"
echo "$stamp" >"$KB/stamp"
