//go:build !linux

package watchdog

import (
	"errors"
	"os"
	"time"
)

func setTimeout(*os.File, time.Duration) (time.Duration, error) {
	return 0, errors.New("setting a watchdog timeout is only supported on Linux")
}
