#!/bin/sh
# version.sh: the image's version, from git (tag or commit, "-dirty" with local changes).
cd "$(dirname "$0")/../.." && git describe --tags --always --dirty 2>/dev/null || echo unknown
