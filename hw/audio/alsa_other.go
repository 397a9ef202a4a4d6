//go:build !linux || !cgo

package audio

import (
	"errors"
	"log/slog"
)

// ErrNoALSA is returned where the alsa backend was not built in (not Linux, or built without cgo).
var ErrNoALSA = errors.New("this build has no ALSA support (build on Linux with CGO_ENABLED=1)")

// OpenALSA is not available in this build.
func OpenALSA(cfg ALSAConfig, log *slog.Logger) (*ALSADevice, error) { return nil, ErrNoALSA }

// List is not available in this build.
func List() ([]DeviceInfo, error) { return nil, ErrNoALSA }
