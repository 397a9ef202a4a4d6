package watchdog

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

// ioctl numbers from include/uapi/linux/watchdog.h: _IOWR('W', 6, int) and _IOR('W', 7, int).
const (
	wdiocSetTimeout = 0xc0045706
	wdiocGetTimeout = 0x80045707
)

// setTimeout asks the driver for timeout (whole seconds, at least 1) and returns what it set.
func setTimeout(f *os.File, timeout time.Duration) (time.Duration, error) {
	secs := int32(0)
	if timeout > 0 {
		secs = int32((timeout + time.Second - 1) / time.Second)
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), wdiocSetTimeout, uintptr(unsafe.Pointer(&secs))); errno != 0 {
			secs = 0 // not supported: fall through and read the driver's own value
		}
	}
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), wdiocGetTimeout, uintptr(unsafe.Pointer(&secs))); errno != 0 {
		return 0, errno
	}
	return time.Duration(secs) * time.Second, nil
}
