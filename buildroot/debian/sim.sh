#!/usr/bin/env bash
# sim.sh: boot the card image in QEMU's Raspberry Pi 3 with the Pi 3 B+ device tree, the serial
# console on this terminal. The card is a copy (build/image/sim-card.img) kept between runs so
# accounts survive; SIM_FRESH=1 starts again from the image.
. "$(dirname "$0")/common.sh"

need qemu-system-aarch64 qemu-system-arm
IMAGE=${IMAGE:-$TOP/deskphone-rpi3b.img}
IN=$BUILD/input
[ -f "$IMAGE" ] && [ -f "$IN/Image" ] || die "no image yet; run 'make image' first"
CARD=$BUILD/sim-card.img
if [ -n "${SIM_FRESH:-}" ] || [ ! -f "$CARD" ] || [ "$IMAGE" -nt "$CARD" ]; then
	cp --sparse=always "$IMAGE" "$CARD"
	info "fresh card: $CARD"
fi
SIP_PORT=${SIM_SIP_PORT:-5060}
WEB_PORT=${SIM_WEB_PORT:-8080}
HTTPS_PORT=${SIM_HTTPS_PORT:-8443}
step "Booting the Raspberry Pi 3 B+ in QEMU (about 10-30 s). Ctrl-A X quits; Enter gives a shell."
info "From this computer: softphone to 127.0.0.1:$SIP_PORT (accounts and passwords are printed below),"
info "web pages https://127.0.0.1:$HTTPS_PORT/ (CA: http://127.0.0.1:$WEB_PORT/ca.crt). Console log: $BUILD/sim-console.log"
cmdline=$(sed -e 's/console=[^ ]*//g' "$IN/rpi-firmware/cmdline.txt")
exec qemu-system-aarch64 -M raspi3b -accel tcg,thread=single -nographic -no-reboot \
	-kernel "$IN/Image" -initrd "$IN/rootfs.cpio.zst" -dtb "$IN/bcm2837-rpi-3-b-plus.dtb" \
	-append "$cmdline console=ttyS1,115200" \
	-drive "file=$CARD,if=sd,format=raw" \
	-netdev "user,id=n0,hostfwd=udp:127.0.0.1:$SIP_PORT-:5060,hostfwd=tcp:127.0.0.1:$SIP_PORT-:5060,hostfwd=tcp:127.0.0.1:$WEB_PORT-:80,hostfwd=tcp:127.0.0.1:$HTTPS_PORT-:443" \
	-device usb-net,netdev=n0 \
	-serial null -chardev "stdio,id=con,mux=on,signal=off,logfile=$BUILD/sim-console.log" -serial chardev:con -mon chardev=con,mode=readline
