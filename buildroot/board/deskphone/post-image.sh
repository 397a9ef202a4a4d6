#!/bin/sh
# Buildroot post-image script: lay out the boot partition's deskphone files next to Buildroot's
# images and assemble the SD card with the same genimage.cfg the Debian-package build uses.
set -e

BOARD_DIR=$(dirname "$0")
mkdir -p "${BINARIES_DIR}/deskphone/alcatel"
cp "${BOARD_DIR}/alcatel-README.txt" "${BINARIES_DIR}/deskphone/alcatel/README.txt"
if [ -n "${DESKPHONE_CONFIG}" ]; then
	cp "${DESKPHONE_CONFIG}" "${BINARIES_DIR}/deskphone/deskphone.toml"
else
	cp "${BOARD_DIR}/deskphone.toml" "${BINARIES_DIR}/deskphone/deskphone.toml"
fi
cat >"${BINARIES_DIR}/deskphone/deskphone.toml.example" <<'EOT'
# Every setting with its default: run `deskphone example` on the Pi's serial console, or on
# any computer with the deskphone source (`go run ./cmd/deskphone example`).
EOT

# Same bytes from the same inputs: fixed time stamps, and mcopy keeps them (-m).
EPOCH=${SOURCE_DATE_EPOCH:-$(date +%s)}
find "${BINARIES_DIR}/deskphone" "${BINARIES_DIR}/rpi-firmware" -exec touch -h -d "@${EPOCH}" {} +
GENIMAGE_TMP="${BUILD_DIR}/genimage.tmp"
ROOTPATH_TMP=$(mktemp -d)
trap 'rm -rf "${ROOTPATH_TMP}"' EXIT
printf '#!/bin/sh\nexec mcopy -m "$@"\n' >"${ROOTPATH_TMP}.mcopy"
chmod +x "${ROOTPATH_TMP}.mcopy"
rm -rf "${GENIMAGE_TMP}"
# Buildroot puts Wi-Fi in the root file system: no wifi.cpio.gz add-on.
grep -v '"wifi.cpio.gz"' "${BOARD_DIR}/genimage.cfg" >"${ROOTPATH_TMP}.genimage.cfg"
genimage \
	--rootpath "${ROOTPATH_TMP}" \
	--tmppath "${GENIMAGE_TMP}" \
	--inputpath "${BINARIES_DIR}" \
	--outputpath "${BINARIES_DIR}" \
	--mcopy "${ROOTPATH_TMP}.mcopy" \
	--config "${ROOTPATH_TMP}.genimage.cfg"
rm -f "${ROOTPATH_TMP}.mcopy" "${ROOTPATH_TMP}.genimage.cfg"
