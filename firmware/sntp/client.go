package sntp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"time"
)

// ErrBadReply is returned by Query when the server's answer is not a usable time.
var ErrBadReply = errors.New("unusable reply from the time server")

// Query asks server ("host" or "host:port"; port 123 by default) for the time and returns the
// offset to add to the local clock (RFC 4330 §5: ((T2 - T1) + (T3 - T4)) / 2).
func Query(ctx context.Context, server string) (time.Duration, error) {
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(server, "123")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", server)
	if err != nil {
		return 0, fmt.Errorf("time server %s: %w", server, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	} else {
		conn.SetDeadline(time.Now().Add(5 * time.Second))
	}
	req := make([]byte, packetLen)
	req[0] = 4<<3 | 3
	// A random transmit timestamp: the reply must echo it (no blind spoofing), RFC 4330 §5.
	if _, err := rand.Read(req[40:48]); err != nil {
		return 0, fmt.Errorf("time server %s: random request id: %w", server, err)
	}
	t1 := time.Now()
	if _, err := conn.Write(req); err != nil {
		return 0, fmt.Errorf("time server %s: %w", server, err)
	}
	buf := make([]byte, 512)
	for {
		n, err := conn.Read(buf)
		t4 := time.Now()
		if err != nil {
			return 0, fmt.Errorf("time server %s: %w", server, err)
		}
		if n < packetLen || buf[0]&7 != 4 || string(buf[24:32]) != string(req[40:48]) {
			continue // not the answer to our request
		}
		if buf[1] == 0 || buf[1] > 15 || buf[0]>>6 == 3 {
			return 0, fmt.Errorf("time server %s is not synchronised: %w", server, ErrBadReply)
		}
		t2, t3 := Time(buf[32:40]), Time(buf[40:48])
		return (t2.Sub(t1) + t3.Sub(t4)) / 2, nil
	}
}
