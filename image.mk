# image.mk — the Raspberry Pi 3 B+ SD card image, its QEMU simulator and its tests.
# Included by the Makefile. docs/image.md explains the image; buildroot/debian/ builds it.

IMAGE       ?= deskphone-rpi3b.img
IMAGE_BUILD ?= $(BUILD)/image
# CONFIG=path/to/deskphone.toml puts your settings on the card's boot partition.
CONFIG      ?=

# The tests run as root (sudo resets PATH, so name go by its full path).
IMAGE_GO := $(or $(shell command -v $(GO) 2>/dev/null),$(GO))

IMAGE_ENV = BUILD=$(abspath $(IMAGE_BUILD)) BIN=$(abspath $(BUILD)/deskphone-arm64) \
	HOST_BIN=$(abspath $(BUILD)/deskphone) OUT=$(abspath $(IMAGE)) \
	CONFIG=$(if $(CONFIG),$(abspath $(CONFIG)))

.PHONY: image image-lock sim test-image bench-image

# image: deskphone-rpi3b.img and deskphone-rpi3b.img.xz, from the Debian packages pinned in
# buildroot/debian/packages.lock, the cross-built service and overlay/.
image: build build-arm64
	$(IMAGE_ENV) buildroot/debian/mkimage.sh

# image-lock: pin the Debian packages the archive has now (when `make image` says it moved on).
image-lock:
	BUILD=$(abspath $(IMAGE_BUILD)) buildroot/debian/lock.sh

# sim: boot the image in QEMU's Raspberry Pi 3 (B+ device tree), console on this terminal.
# Ctrl-A X quits. SIP on 127.0.0.1:5060, the web pages on https://127.0.0.1:8443/.
sim: image
	BUILD=$(abspath $(IMAGE_BUILD)) IMAGE=$(abspath $(IMAGE)) buildroot/debian/sim.sh

# test-image: build the image, boot it under QEMU on a test LAN in a network namespace and call
# it from SIPp, baresip and Kamailio there (needs root: it makes the namespace and a tap device).
test-image: image
	cd test/image && $(SUDO) env DESKPHONE_IMAGE=$(abspath $(IMAGE)) \
		DESKPHONE_IMAGE_INPUT=$(abspath $(IMAGE_BUILD))/input \
		DESKPHONE_IMAGE_LOGS=$(abspath $(IMAGE_BUILD))/test-logs \
		$(IMAGE_GO) test -tags imagetest -count=1 -timeout 15m -v .

# bench-image: QEMU start -> registered, image sizes, RAM after boot, the service's RSS, and
# the same kernel booting a bare BusyBox for comparison.
bench-image: image
	cd test/image && $(SUDO) env DESKPHONE_IMAGE=$(abspath $(IMAGE)) \
		DESKPHONE_IMAGE_INPUT=$(abspath $(IMAGE_BUILD))/input \
		DESKPHONE_IMAGE_LOGS=$(abspath $(IMAGE_BUILD))/test-logs \
		$(IMAGE_GO) test -tags imagetest -count=1 -timeout 15m -run '^$$' -bench . -benchtime 1x -v .
