package registrar

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SIP over WebSocket (RFC 7118) shares the HTTPS port with the pages: the web server routes
// /ws to WebSocket, which checks the request (a WebSocket upgrade asking for the "sip"
// subprotocol, from a page of this same site), takes the connection over and hands it to
// sipgo's WSS transport through wsListener. TLS is the web server's; sipgo sees a WSS connection
// and answers the upgrade itself.

// maxWSConnections bounds the SIP WebSocket connections open at once (a browser tab holds one).
// A connection that brings no complete request for TCPIdleTimeout is closed, unless a browser
// registered over it (browsers send no keep-alives: their registration keeps the connection).
const maxWSConnections = 256

// wsListener is the net.Listener sipgo serves WebSocket connections from: the web server's
// handler pushes the connections it took over.
type wsListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once

	mu     sync.Mutex
	addr   net.Addr
	open   int
	byAddr map[string]*wsConn // by remote address, as sipgo names a request's source
}

func newWSListener() *wsListener {
	return &wsListener{conns: make(chan net.Conn), done: make(chan struct{}), addr: &net.TCPAddr{IP: net.IPv4zero},
		byAddr: map[string]*wsConn{}}
}

// registered does nothing: a WebSocket binding lives and dies with its connection (flow.go).
func (l *wsListener) registered(string, time.Duration) {}

// request notes a complete request that arrived on the connection from src.
func (l *wsListener) request(src string) {
	l.mu.Lock()
	c := l.byAddr[src]
	l.mu.Unlock()
	if c != nil {
		c.lastRequest.Store(time.Now().UnixNano())
	}
}

func (l *wsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *wsListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *wsListener) Addr() net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addr
}

// WebSocket is the handler of SIP over secure WebSocket, for the HTTPS server to mount at /ws;
// port is that server's port, put in the Record-Route entries facing WebSocket clients. It
// refuses requests that are not a WebSocket upgrade for the "sip" subprotocol (400) and pages of
// other sites (403: the Origin must be this host, so a page elsewhere cannot use a visitor's
// browser to place calls). Bindings made over a WebSocket last as long as its connection.
func (r *Registrar) WebSocket(port int) http.Handler {
	r.mu.Lock()
	r.wsPort = port
	r.mu.Unlock()
	r.ws.mu.Lock()
	r.ws.addr = &net.TCPAddr{IP: net.IPv4zero, Port: port}
	r.ws.mu.Unlock()
	return http.HandlerFunc(r.serveWebSocket)
}

func (r *Registrar) serveWebSocket(w http.ResponseWriter, req *http.Request) {
	if err := checkUpgrade(req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !sameOrigin(req) {
		r.log.Warn("SIP WebSocket refused: the page comes from another site", "origin", req.Header.Get("Origin"), "host", req.Host, "src", req.RemoteAddr)
		http.Error(w, "SIP over WebSocket is only for this phone's own pages", http.StatusForbidden)
		return
	}
	r.ws.mu.Lock()
	full := r.ws.open >= maxWSConnections
	if !full {
		r.ws.open++
	}
	r.ws.mu.Unlock()
	if full {
		http.Error(w, "too many SIP WebSocket connections", http.StatusServiceUnavailable)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		r.wsGone()
		http.Error(w, "this server cannot hand over connections", http.StatusInternalServerError)
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		r.wsGone()
		r.log.Debug("SIP WebSocket: cannot take over the connection", "err", err)
		return
	}
	// Replay the upgrade request for sipgo's upgrader, then whatever the browser sent after it.
	var head bytes.Buffer
	fmt.Fprintf(&head, "GET %s HTTP/1.1\r\nHost: %s\r\n", req.URL.RequestURI(), req.Host)
	req.Header.Write(&head)
	head.WriteString("\r\n")
	buffered, _ := brw.Reader.Peek(brw.Reader.Buffered())
	src := conn.RemoteAddr().String()
	wc := &wsConn{Conn: conn, in: io.MultiReader(&head, bytes.NewReader(bytes.Clone(buffered))), idle: r.cfg.TCPIdleTimeout,
		registered: func() bool { return len(r.loc.aorsFrom(src)) > 0 }}
	wc.lastRequest.Store(time.Now().UnixNano())
	r.ws.mu.Lock()
	r.ws.byAddr[src] = wc
	r.ws.mu.Unlock()
	wc.onClose = func() {
		r.ws.mu.Lock()
		if r.ws.byAddr[src] == wc {
			delete(r.ws.byAddr, src)
		}
		r.ws.mu.Unlock()
		r.wsGone()
		r.flowClosed(src)
		r.flowGone(src)
	}
	select {
	case r.ws.conns <- wc:
	case <-r.ws.done:
		wc.Close()
	case <-req.Context().Done():
		wc.Close()
	}
}

func (r *Registrar) wsGone() {
	r.ws.mu.Lock()
	r.ws.open--
	r.ws.mu.Unlock()
}

// checkUpgrade tells why req is not a WebSocket upgrade for SIP (RFC 6455 §4.2.1, RFC 7118 §4).
func checkUpgrade(req *http.Request) error {
	if req.Method != http.MethodGet || !headerHas(req.Header, "Connection", "upgrade") || !headerHas(req.Header, "Upgrade", "websocket") {
		return errors.New("this address takes SIP over WebSocket only (a GET with Upgrade: websocket)")
	}
	if !headerHas(req.Header, "Sec-WebSocket-Protocol", "sip") {
		return errors.New(`the WebSocket subprotocol must be "sip" (RFC 7118)`)
	}
	return nil
}

// headerHas reports whether the comma-separated header name lists token (case-insensitive).
func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// sameOrigin reports whether the page that opened the WebSocket was served by this host (its
// Origin is https://<Host>). Browsers always send Origin; a request without one is refused too.
func sameOrigin(req *http.Request) bool {
	u, err := url.Parse(req.Header.Get("Origin"))
	if err != nil || u.Host == "" {
		return false
	}
	return u.Scheme == "https" && strings.EqualFold(u.Host, req.Host)
}

// wsConn is a connection taken over from the web server: its reads start with the replayed
// upgrade request, and closing it drops the bindings made over it (RFC 5626 §5.5).
type wsConn struct {
	net.Conn
	in          io.Reader
	idle        time.Duration
	registered  func() bool
	lastRequest atomic.Int64 // Unix ns of the last complete request (or the upgrade)
	once        sync.Once
	onClose     func()
}

func (c *wsConn) Read(p []byte) (int, error) {
	if c.in != nil {
		n, err := c.in.Read(p)
		if err != io.EOF {
			return n, err
		}
		c.in = nil
		if n > 0 {
			return n, nil
		}
	}
	for {
		if err := c.Conn.SetReadDeadline(time.Unix(0, c.lastRequest.Load()).Add(c.idle)); err != nil {
			return 0, err
		}
		n, err := c.Conn.Read(p)
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		switch {
		case time.Unix(0, c.lastRequest.Load()).Add(c.idle).After(time.Now()):
		case c.registered():
			c.lastRequest.Store(time.Now().UnixNano())
		default:
			return n, net.ErrClosed // idle and not registered
		}
	}
}

// SetReadDeadline is Read's alone: sipgo's own deadlines would override the idle rule.
func (c *wsConn) SetReadDeadline(time.Time) error { return nil }

// SetDeadline keeps sipgo's write deadline (its upgrade timeout) and leaves reads to Read.
func (c *wsConn) SetDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(t) }

func (c *wsConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.onClose)
	return err
}
