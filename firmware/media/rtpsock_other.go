//go:build !linux

package media

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"time"
)

// Elsewhere the RTP port is an ordinary net.UDPConn read by the session's goroutine as packets
// arrive; the audio loop does not collect them.

const canDrain = false

type rtpSocket struct {
	conn *net.UDPConn
	port int
}

func listenRTP(ip netip.Addr, port int) (*rtpSocket, error) {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
	if err != nil {
		return nil, err
	}
	return &rtpSocket{conn: c, port: port}, nil
}

var (
	errNoPacket     = errors.New("no packet waiting")
	errSocketClosed = errors.New("RTP socket closed")
)

func (r *rtpSocket) read(buf []byte, block bool) (int, netip.AddrPort, time.Time, error) {
	if !block {
		return 0, netip.AddrPort{}, time.Now(), errNoPacket
	}
	r.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	n, src, err := r.conn.ReadFromUDPAddrPort(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, src, time.Now(), errNoPacket
	}
	if errors.Is(err, net.ErrClosed) {
		return 0, src, time.Now(), errSocketClosed
	}
	return n, netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), time.Now(), err
}

func (r *rtpSocket) write(b []byte, dst netip.AddrPort) error {
	_, err := r.conn.WriteToUDPAddrPort(b, dst)
	return err
}

func (r *rtpSocket) shutdown()    {}
func (r *rtpSocket) close() error { return r.conn.Close() }
