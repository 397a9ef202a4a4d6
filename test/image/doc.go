// Package image boots the deskphone SD card image under QEMU on a test LAN and checks it from
// real SIP peers on that LAN, as a user would: DHCP, registration, calls, crash and power-cut
// recovery, config errors.
//
// Run it with `make test-image` (root is needed for the network namespace and the tap device).
// The test re-executes itself in a fresh network namespace (unshare --net) that holds a bridge
// 192.168.77.1/24, a tap device for QEMU and dnsmasq as the DHCP server; nothing leaves that
// namespace. Environment: DESKPHONE_IMAGE (the card image), DESKPHONE_IMAGE_INPUT (the folder
// with Image, rootfs.cpio.zst and the DTBs), DESKPHONE_IMAGE_LOGS (where consoles are kept).
package image
