# deskphone — build, test and run. `make help` lists the targets.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BUILD     := build
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages the tests and the image build need: real SIP peers, the arm64 cross compiler,
# QEMU and the image tools.
DEBIAN_PACKAGES := sip-tester baresip-core linphone-cli kamailio sipvicious sox \
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
	qemu-system-arm genimage dnsmasq-base mtools dosfstools e2fsprogs kmod cpio xz-utils \
	iproute2 ntpsec-ntpdig busybox ca-certificates git curl chromium \
	tcpdump kamailio-tls-modules zstd device-tree-compiler \
	make gcc libc6-dev perl flex bison bc libssl-dev libelf-dev

.PHONY: help build build-arm64 test test-go test-hardware bench bench-profile run web deps fmt vet clean

help:
	@echo "make image        build the SD card image deskphone-rpi3b.img(.xz) for the Raspberry Pi 3 B+"
	@echo "make sim          boot that image in QEMU, console on this terminal"
	@echo "make run          run the phone + registrar on this computer (config in $(BUILD)/run/)"
	@echo "make web          where the web pages of 'make run' are, their fingerprint and password"
	@echo "make test         install the test peers if missing, then run every test (image ones too)"
	@echo "make bench        print the benchmark tables"
	@echo "make bench-profile  CPU and allocation profiles of the registrar under the bench load"
	@echo "make build        build $(BUILD)/deskphone for this computer"
	@echo "make build-arm64  cross-build $(BUILD)/deskphone-arm64 for the Raspberry Pi 3 B+"
	@echo "make deps         install the Debian packages the tests and the image need"

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BUILD)/deskphone ./cmd/deskphone

build-arm64:
	CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc \
		$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BUILD)/deskphone-arm64 ./cmd/deskphone

# deps installs what is missing (as root, or through sudo).
deps:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		$(SUDO) apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
	$(GO) mod download

# test: everything — unit tests, end-to-end tests with real SIP peers, the card image booted
# under QEMU on a test LAN, and the hardware test on the Pi's kernel (gpio-sim, snd-aloop).
test: deps test-go test-image test-hardware

# test-go runs the unit tests and the end-to-end tests with real peers.
# The firmware must build without cgo (it never needs the hardware); its tests, and the hardware
# edge's, run with the race detector. The browser tests save screenshots in build/screenshots.
test-go: vet
	CGO_ENABLED=0 $(GO) test -count=1 -run '^$$' ./firmware/... ./provisioning/... >/dev/null
	$(GO) test -race -count=1 ./firmware/... ./provisioning/... ./hw/...
	DESKPHONE_SCREENSHOTS=$(abspath $(BUILD))/screenshots \
		$(GO) test -count=1 -timeout 25m $$($(GO) list ./... | grep -v -e /firmware/ -e /provisioning -e /hw/)

# test-hardware: the image with a simulated GPIO chip and a loopback sound card; a call is
# answered by lifting the (simulated) hook and carries tones both ways through ALSA.
test-hardware: build-arm64
	$(SUDO) test/image/hardware/run.sh

bench: deps build
	@for s in test/bench/*.sh; do [ -x "$$s" ] && "$$s" || true; done

# bench-profile: the registrar bench's load (SIPp REGISTERs, then calls) on a registrar running
# in the profiling program; profiles in $(BUILD)/profile, top functions printed.
bench-profile: deps
	$(GO) run ./test/bench/registrarprofile -out $(BUILD)/profile
	@for p in register call; do \
		echo; echo "CPU, $$p run: top functions (cumulative)"; \
		$(GO) tool pprof -top -cum -nodecount=30 $(BUILD)/profile/cpu-$$p.pprof 2>/dev/null | tail -n +5; \
		echo; echo "Allocated space, $$p run: top functions"; \
		$(GO) tool pprof -top -sample_index=alloc_space -nodecount=15 -base $(BUILD)/profile/allocs-$$p-base.pprof \
			$(BUILD)/profile/allocs-$$p.pprof 2>/dev/null | tail -n +5; \
	done

# run: the microphone is a WAV file (a 440 Hz tone, then silence, looping); everything the
# speaker plays is written to build/run/speaker.wav.
run: deps build
	@mkdir -p $(BUILD)/run
	@[ -f $(BUILD)/run/deskphone.toml ] || $(BUILD)/deskphone example --dev $(BUILD)/run > $(BUILD)/run/deskphone.toml
	@[ -f $(BUILD)/run/mic.wav ] || sox -q -n -r 8000 -c 1 -b 16 $(BUILD)/run/mic.wav synth 1 sine 440 vol 0.3 pad 0 1
	$(BUILD)/deskphone run --config $(BUILD)/run/deskphone.toml

# vet: formatting and go vet.
vet:
	@bad=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$bad" ] || { echo "not gofmt-formatted: $$bad"; exit 1; }
	$(GO) vet ./...

# web: the page address, the CA fingerprint to compare in the browser, and the page password
# (on the Pi itself: deskphone web).
web: build
	@mkdir -p $(BUILD)/run
	@[ -f $(BUILD)/run/deskphone.toml ] || $(BUILD)/deskphone example --dev $(BUILD)/run > $(BUILD)/run/deskphone.toml
	@$(BUILD)/deskphone web --config $(BUILD)/run/deskphone.toml

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BUILD)

include image.mk

# The image needs the cross compiler and the image tools.
image: deps
