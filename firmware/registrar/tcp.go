package registrar

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// TCP connections are a resource an attacker can hold without sending a request (field notes
// T17, slowloris). The listener bounds them: per source (a phone needs one), in total (the
// oldest idle connection without a registration gives way to a new one), and in time: a
// connection is closed when it brings no complete request for TCPIdleTimeout, however many bytes
// trickle in, unless a phone registered over it. A registered phone behind NAT keeps its
// connection as long as its binding lives (RFC 5626 §3.5.1: its CRLFCRLF keep-alives are
// answered with CRLF by sipgo's TCP transport) and the registrar reaches it over it.

// maxConnsPerSource bounds the TCP connections one address may hold open.
const maxConnsPerSource = 16

// registeredGrace keeps a registered phone's connection this long past its binding's expiry, for
// a late re-REGISTER.
const registeredGrace = 32 * time.Second

// tcpListener wraps the TCP listener given to sipgo.
type tcpListener struct {
	net.Listener
	g        *guard
	done     <-chan struct{}
	idle     time.Duration
	maxConns int

	mu        sync.Mutex
	perSource map[netip.Addr]int
	conns     map[string]*tcpConn // by remote address, as sipgo names a request's source
}

func newTCPListener(l net.Listener, g *guard, idle time.Duration, maxConns int, done <-chan struct{}) *tcpListener {
	return &tcpListener{Listener: l, g: g, done: done, idle: idle, maxConns: maxConns,
		perSource: map[netip.Addr]int{}, conns: map[string]*tcpConn{}}
}

// Accept refuses banned sources and sources at their cap, makes room at the total cap, and rides
// out accept errors (such as running out of file descriptors) instead of stopping the registrar.
func (l *tcpListener) Accept() (net.Conn, error) {
	backoff := 5 * time.Millisecond
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			l.g.log.Warn("cannot accept a TCP connection; retrying", "err", err)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-l.done:
				t.Stop()
				return nil, err
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		if tc := l.admit(c); tc != nil {
			return tc, nil
		}
		c.Close()
	}
}

func (l *tcpListener) admit(c net.Conn) *tcpConn {
	ip, ok := addrIP(c.RemoteAddr())
	if !ok {
		return nil
	}
	if l.g.banned(ip) {
		l.g.dropped.Add(1)
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.perSource[ip]; n >= maxConnsPerSource && !l.g.exempt(ip) {
		l.g.log.Debug("too many TCP connections from one source", "src", ip.String(), "open", n)
		return nil
	}
	if len(l.conns) >= l.maxConns && !l.evictLocked() {
		l.g.log.Warn("TCP connection refused: every connection belongs to a registered phone", "src", ip.String(), "open", len(l.conns))
		return nil
	}
	tc := &tcpConn{Conn: c, l: l, ip: ip, key: c.RemoteAddr().String()}
	tc.lastRequest.Store(time.Now().UnixNano())
	l.perSource[ip]++
	l.conns[tc.key] = tc
	return tc
}

// evictLocked closes the connection without a registration that has been quiet longest.
func (l *tcpListener) evictLocked() bool {
	var victim *tcpConn
	for _, c := range l.conns {
		if c.keepUntil.Load() == 0 && (victim == nil || c.lastRequest.Load() < victim.lastRequest.Load()) {
			victim = c
		}
	}
	if victim == nil {
		return false
	}
	l.g.log.Debug("TCP connection closed to make room", "src", victim.key)
	victim.forgetLocked()
	victim.Conn.Close() // sipgo's reader gets an error and lets go of it
	return true
}

// request notes a complete request that arrived on the connection from src.
func (l *tcpListener) request(src string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	c := l.conns[src]
	l.mu.Unlock()
	if c != nil {
		c.lastRequest.Store(time.Now().UnixNano())
	}
}

// registered keeps the connection from src open for d (the binding's lifetime) plus a grace
// period; d = 0 (the phone unregistered) puts it back under the idle rule.
func (l *tcpListener) registered(src string, d time.Duration) {
	if l == nil {
		return
	}
	l.mu.Lock()
	c := l.conns[src]
	l.mu.Unlock()
	if c == nil {
		return
	}
	if d <= 0 {
		c.keepUntil.Store(0)
		return
	}
	c.keepUntil.Store(time.Now().Add(d + registeredGrace).UnixNano())
}

// open is the number of accepted connections still open.
func (l *tcpListener) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// tcpConn is one accepted connection.
type tcpConn struct {
	net.Conn
	l           *tcpListener
	ip          netip.Addr
	key         string
	lastRequest atomic.Int64 // Unix ns of the last complete request (or the accept)
	keepUntil   atomic.Int64 // Unix ns; 0 when no phone registered over the connection
	once        sync.Once
}

func (c *tcpConn) deadline() time.Time {
	return time.Unix(0, max(c.lastRequest.Load()+int64(c.l.idle), c.keepUntil.Load()))
}

// Read reads with the connection's deadline, moved along by requests and registrations.
func (c *tcpConn) Read(b []byte) (int, error) {
	for {
		if err := c.Conn.SetReadDeadline(c.deadline()); err != nil {
			return 0, err
		}
		n, err := c.Conn.Read(b)
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			if c.deadline().After(time.Now()) {
				continue
			}
			c.l.g.log.Debug("idle TCP connection closed", "src", c.key, "idle", c.l.idle)
			return n, net.ErrClosed
		}
		return n, err
	}
}

// SetReadDeadline is Read's alone: sipgo's own read timeout would override the idle rule.
func (c *tcpConn) SetReadDeadline(time.Time) error { return nil }

func (c *tcpConn) forgetLocked() {
	c.once.Do(func() {
		if c.l.perSource[c.ip] <= 1 {
			delete(c.l.perSource, c.ip)
		} else {
			c.l.perSource[c.ip]--
		}
		if c.l.conns[c.key] == c {
			delete(c.l.conns, c.key)
		}
	})
}

func (c *tcpConn) Close() error {
	c.l.mu.Lock()
	c.forgetLocked()
	c.l.mu.Unlock()
	return c.Conn.Close()
}
