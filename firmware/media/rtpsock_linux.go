package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// On Linux the RTP port is a plain blocking socket kept out of Go's network poller, with kernel
// arrival timestamps (SO_TIMESTAMPNS, socket(7)). While a call is connected to the audio loop,
// the loop collects the queued packets once per 20 ms tick with non-blocking reads, so a packet
// costs no thread wake-up of its own; jitter and latency are still measured from the true
// arrival time. Otherwise the session's goroutine waits in a blocking read.

const canDrain = true

// rtpRecvTimeout bounds a blocking read so the reader notices Close and attach.
const rtpRecvTimeout = 200 * time.Millisecond

type rtpSocket struct {
	mu     sync.RWMutex // RLock around every syscall on fd; Lock to close it
	fd     int
	closed bool
	port   int
	oob    [64]byte // drain only (the audio loop)
	oobG   [64]byte // the blocking reader goroutine only
	// destination cache for sendto
	lastDst netip.AddrPort
	lastSA  syscall.Sockaddr
}

func sockaddr(ap netip.AddrPort) syscall.Sockaddr {
	if ap.Addr().Is4() {
		return &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	return &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}

// listenRTP binds the RTP socket on ip:port.
func listenRTP(ip netip.Addr, port int) (*rtpSocket, error) {
	family := syscall.AF_INET
	if ip.Is6() {
		family = syscall.AF_INET6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("media: RTP socket: %w", err)
	}
	tv := syscall.NsecToTimeval(int64(rtpRecvTimeout))
	for _, err := range []error{
		syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1),
		syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv),
		syscall.Bind(fd, sockaddr(netip.AddrPortFrom(ip, uint16(port)))),
	} {
		if err != nil {
			syscall.Close(fd)
			return nil, fmt.Errorf("media: RTP socket on %s port %d: %w", ip, port, err)
		}
	}
	return &rtpSocket{fd: fd, port: port}, nil
}

// errNoPacket means no datagram was waiting (or the blocking read timed out).
var errNoPacket = errors.New("no packet waiting")

// errSocketClosed is returned after close.
var errSocketClosed = errors.New("RTP socket closed")

// read receives one datagram; block=false returns errNoPacket at once when none is queued.
// The drain (block=false) and the goroutine (block=true) each use their own control buffer.
func (r *rtpSocket) read(buf []byte, block bool) (n int, src netip.AddrPort, arrival time.Time, err error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return 0, src, time.Time{}, errSocketClosed
	}
	oob, flags := r.oob[:], syscall.MSG_DONTWAIT
	if block {
		oob, flags = r.oobG[:], 0
	}
	n, oobn, _, from, err := syscall.Recvmsg(r.fd, buf, oob, flags)
	now := time.Now()
	if err == syscall.EAGAIN || err == syscall.EWOULDBLOCK || err == syscall.EINTR {
		return 0, src, now, errNoPacket
	}
	if err != nil {
		return 0, src, now, err
	}
	switch a := from.(type) {
	case *syscall.SockaddrInet4:
		src = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *syscall.SockaddrInet6:
		src = netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	default:
		return 0, src, now, errNoPacket // e.g. a zero-length read after shutdown
	}
	return n, src, kernelArrival(oob[:oobn], now), nil
}

// write sends b to dst from the RTP port (symmetric RTP). Callers serialise writes.
func (r *rtpSocket) write(b []byte, dst netip.AddrPort) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return errSocketClosed
	}
	if dst != r.lastDst || r.lastSA == nil {
		r.lastDst, r.lastSA = dst, sockaddr(dst)
	}
	return syscall.Sendto(r.fd, b, 0, r.lastSA)
}

// shutdown wakes a blocked reader; close must follow once readers are gone.
func (r *rtpSocket) shutdown() { syscall.Shutdown(r.fd, syscall.SHUT_RDWR) }

func (r *rtpSocket) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	return syscall.Close(r.fd)
}

// kernelArrival turns the SCM_TIMESTAMPNS control message into a time on the monotonic clock
// (now minus the packet's age), so a wall-clock step cannot disturb the jitter estimate.
func kernelArrival(oob []byte, now time.Time) time.Time {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return now
	}
	for _, m := range msgs {
		if m.Header.Level != syscall.SOL_SOCKET || m.Header.Type != syscall.SCM_TIMESTAMPNS {
			continue
		}
		var sec, nsec int64
		switch len(m.Data) {
		case 16:
			sec, nsec = int64(binary.NativeEndian.Uint64(m.Data)), int64(binary.NativeEndian.Uint64(m.Data[8:]))
		case 8:
			sec, nsec = int64(int32(binary.NativeEndian.Uint32(m.Data))), int64(int32(binary.NativeEndian.Uint32(m.Data[4:])))
		default:
			return now
		}
		age := now.Round(0).Sub(time.Unix(sec, nsec))
		if age < 0 || age > 2*time.Second {
			return now
		}
		return now.Add(-age)
	}
	return now
}
