#!/usr/bin/env bash
# fetch.sh: download the packages pinned in packages.lock into $BUILD/debs, verify each SHA256,
# and unpack them all into $BUILD/debroot. Downloads are cached; a checksum mismatch is fatal.
. "$(dirname "$0")/common.sh"

need sha256sum coreutils
need dpkg-deb dpkg
need curl curl
[ -r "$LOCK" ] || die "${LOCK#"$TOP"/} is missing; create it with 'make image-lock'"

DEBS=$BUILD/debs
mkdir -p "$DEBS"
base=$(mirror)
step "Fetching $(grep -c '^[^#]' "$LOCK") pinned Debian arm64 packages from $base"
moved=()
while read -r pkg ver sha path; do
	case $pkg in '#'* | '') continue ;; esac
	deb=$DEBS/${path##*/}
	if [ -f "$deb" ] && echo "$sha  $deb" | sha256sum -c --status; then
		info "cached      $pkg $ver"
		continue
	fi
	code=$(curl -sS -L -o "$deb.part" -w '%{http_code}' "$base/$path") || die "downloading $base/$path failed (network?)"
	if [ "$code" = 404 ]; then
		rm -f "$deb.part"
		moved+=("$pkg $ver")
		continue
	fi
	[ "$code" = 200 ] || die "downloading $base/$path: HTTP $code"
	echo "$sha  $deb.part" | sha256sum -c --status ||
		die "$pkg $ver: SHA256 of the download does not match packages.lock (got $(sha256sum <"$deb.part" | cut -c1-64)); refusing to use it"
	mv "$deb.part" "$deb"
	info "downloaded  $pkg $ver"
done <"$LOCK"
if [ ${#moved[@]} -gt 0 ]; then
	printf 'mkimage: error: the Debian archive has moved on; these pinned versions are no longer in it:\n' >&2
	printf '    %s\n' "${moved[@]}" >&2
	printf 'Pin the versions it has now with:  make image-lock   (then rebuild and commit buildroot/debian/packages.lock)\n' >&2
	exit 2
fi

# Unpack into a fresh tree so that nothing from an earlier lock lingers.
stamp=$(sha256sum "$LOCK" | cut -c1-16)
if [ "$(cat "$BUILD/debroot.stamp" 2>/dev/null)" != "$stamp" ]; then
	step "Unpacking packages"
	rm -rf "$BUILD/debroot"
	mkdir -p "$BUILD/debroot"
	while read -r pkg ver sha path; do
		# The kernel's source is unpacked by kernel.sh, where it is built.
		case $pkg in '#'* | '' | linux-source-*) continue ;; esac
		dpkg-deb -x "$DEBS/${path##*/}" "$BUILD/debroot"
	done <"$LOCK"
	echo "$stamp" >"$BUILD/debroot.stamp"
fi
