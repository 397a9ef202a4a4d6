################################################################################
#
# deskphone
#
################################################################################

# Built from the source tree this external tree lives in.
DESKPHONE_VERSION = $(shell git -C $(BR2_EXTERNAL_DESKPHONE_PATH) describe --tags --always --dirty 2>/dev/null || echo local)
DESKPHONE_SITE = $(BR2_EXTERNAL_DESKPHONE_PATH)/..
DESKPHONE_SITE_METHOD = local
DESKPHONE_GOMOD = github.com/deskphone/deskphone
DESKPHONE_BUILD_TARGETS = cmd/deskphone
DESKPHONE_LDFLAGS = -X main.version=$(DESKPHONE_VERSION)
DESKPHONE_DEPENDENCIES = alsa-lib
DESKPHONE_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude build --exclude vendor --exclude '*.img' --exclude '*.img.xz'

# A local source tree gets no vendoring from Buildroot's download step, and Go builds run with
# GOFLAGS=-mod=vendor GOPROXY=off: vendor the modules named in go.sum before building. This is
# the one step that needs the Go module proxy (or GOPROXY from the environment).
define DESKPHONE_VENDOR_MODULES
	cd $(@D) && $(HOST_GO_COMMON_ENV) GOFLAGS=-mod=mod \
		GOPROXY=$(if $(GOPROXY),$(GOPROXY),https://proxy.golang.org,direct) \
		$(GO_BIN) mod vendor
endef
DESKPHONE_PRE_BUILD_HOOKS += DESKPHONE_VENDOR_MODULES

# /etc/deskphone-release marks the appliance image (the service arms the hardware watchdog only
# there) and gives init the build time, the earliest the clock may read.
define DESKPHONE_INSTALL_RELEASE
	printf 'NAME=deskphone\nVERSION=%s\nBUILD_EPOCH=%s\n' '$(DESKPHONE_VERSION)' \
		"$${SOURCE_DATE_EPOCH:-$$(date +%s)}" > $(TARGET_DIR)/etc/deskphone-release
endef
DESKPHONE_POST_INSTALL_TARGET_HOOKS += DESKPHONE_INSTALL_RELEASE

$(eval $(golang-package))
