package registrar

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// udpReaders reads the UDP socket with one goroutine per core, as Kamailio's UDP workers each
// read the same socket: every reader runs the read filter (bans, flood count, screening, and the
// fast paths that answer REGISTERs and relay call messages, stateless.go and fastcall.go) on the
// datagram it got, so these are handled side by side instead of one after the other in sipgo's
// single read loop. What the filter leaves (requests with a transaction, responses to them)
// goes on, in the order the readers pass it, to sipgo, which reads it from this PacketConn;
// sipgo writes straight to the socket.
//
// The kernel hands each datagram to one reader; UDP keeps no order between datagrams anyway, and
// the messages of one call are put back in order per call where it matters (newCallQueues).
//
// The logs page's SIP trace sees every datagram as before: sipgo traces those it reads from
// here; a datagram the filter consumed (a REGISTER answered, a call's ACK or BYE relayed, a
// malformed request refused) is traced by its reader, raw as it came and with the time it came
// (so that it is listed before its answer, traced as it was sent), as sipgo's read loop did.
type udpReaders struct {
	net.PacketConn                         // the socket
	filter         sip.TransportReadFilter // what sipgo's read loop ran before
	trace          Tracer                  // nil: no trace
	in             chan udpDatagram        // datagrams for sipgo, filtered
	done           chan struct{}           // closed when the socket is closed or a reader failed
	once           sync.Once
	err            error // why the readers stopped, unless the socket was closed; set before done closes
	bufs           sync.Pool
}

type udpDatagram struct {
	data *[]byte
	from net.Addr
}

func newUDPReaders(conn net.PacketConn, filter sip.TransportReadFilter, trace Tracer) *udpReaders {
	u := &udpReaders{PacketConn: conn, filter: filter, trace: trace, in: make(chan udpDatagram, 256), done: make(chan struct{})}
	u.bufs.New = func() any { b := make([]byte, 0, 2048); return &b }
	return u
}

// read is one reader: it runs until the socket is closed.
func (u *udpReaders) read() {
	buf := make([]byte, sip.TransportBufferReadSize)
	raw := make([]byte, 0, sip.TransportBufferReadSize) // the datagram as read, for the trace
	props := sip.TransportReadProps{Transport: "UDP", LocalAddr: u.LocalAddr()}
	local := u.LocalAddr().String()
	for {
		n, from, err := u.PacketConn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				err = nil
			} else {
				err = fmt.Errorf("read the SIP UDP socket: %w", err)
			}
			u.stop(err)
			return
		}
		data := buf[:n]
		if len(bytes.Trim(data, "\x00")) == 0 {
			continue // as sipgo's read loop
		}
		props.RemoteAddr = from
		tracing := u.trace != nil && u.trace.On()
		var at time.Time
		if tracing {
			at = time.Now()
			raw = append(raw[:0], data...) // the filter may answer from (and reuse) buf
		}
		data, err = u.filter(props, data)
		if err != nil || len(data) == 0 {
			if tracing {
				u.trace.SIPTraceReadAt(at, "UDP", local, from.String(), raw)
			}
			continue // UDP datagrams are dropped, never fail the socket (guard.readFilter)
		}
		b := u.bufs.Get().(*[]byte)
		*b = append((*b)[:0], data...) // buf is read into again at once
		select {
		case u.in <- udpDatagram{data: b, from: from}:
		case <-u.done:
			return
		}
	}
}

func (u *udpReaders) stop(err error) {
	u.once.Do(func() {
		u.err = err
		close(u.done)
	})
}

// ReadFrom is sipgo's read: the next datagram the readers left to it.
func (u *udpReaders) ReadFrom(p []byte) (int, net.Addr, error) {
	select {
	case d := <-u.in:
		n := copy(p, *d.data)
		u.bufs.Put(d.data)
		return n, d.from, nil
	case <-u.done:
		if u.err != nil {
			return 0, nil, u.err
		}
		return 0, nil, net.ErrClosed
	}
}

// Close closes the socket; the readers and sipgo's read loop stop.
func (u *udpReaders) Close() error {
	err := u.PacketConn.Close()
	u.stop(nil)
	return err
}

// preFiltered is the read filter installed in sipgo: datagrams of the UDP socket were filtered
// by its readers already (udpReaders); everything else (TCP, TLS, WebSocket) goes through filter.
func (r *Registrar) preFiltered(filter sip.TransportReadFilter) sip.TransportReadFilter {
	return func(info sip.TransportReadProps, data []byte) ([]byte, error) {
		// The socket's address is the same value at every read (no String per datagram).
		if u := r.udpReaders.Load(); u != nil && info.LocalAddr == u.LocalAddr() {
			return data, nil
		}
		return filter(info, data)
	}
}
