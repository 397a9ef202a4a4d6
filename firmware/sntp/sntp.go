// Package sntp answers SNTP time requests (RFC 4330) so the phones on the LAN — the Alcatel's
// sntp_addr points at the Pi — set their clocks from the phone system without another server.
package sntp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"
)

// packetLen is the size of an NTP header without extensions or authenticator (RFC 4330 §4).
const packetLen = 48

// ntpEpochOffset is the number of seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
const ntpEpochOffset = 2208988800

// Server answers client-mode requests with the system clock.
type Server struct {
	log   *slog.Logger
	clock func() time.Time

	answered atomic.Uint64
	dropped  atomic.Uint64
}

// New returns a server reading the time from clock (nil: the system clock) and logging to log
// (nil: nowhere).
func New(log *slog.Logger, clock func() time.Time) *Server {
	if clock == nil {
		clock = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{log: log, clock: clock}
}

// Stats reports how many requests were answered and how many were dropped as malformed.
func (s *Server) Stats() (answered, dropped uint64) { return s.answered.Load(), s.dropped.Load() }

// Run listens on addr ("0.0.0.0:123") until ctx ends.
func (s *Server) Run(ctx context.Context, addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("time server: listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, pc)
}

// Serve answers requests arriving on pc until ctx ends; it closes pc.
func (s *Server) Serve(ctx context.Context, pc net.PacketConn) error {
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()
	defer pc.Close()
	buf := make([]byte, 512)
	out := make([]byte, packetLen)
	for {
		n, from, err := pc.ReadFrom(buf)
		rx := s.clock()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("time server: %w", err)
		}
		if !Answer(buf[:n], rx, s.clock, out) {
			s.dropped.Add(1)
			continue
		}
		if _, err := pc.WriteTo(out, from); err != nil {
			s.log.Debug("time server: reply not sent", "to", from.String(), "err", err)
			continue
		}
		s.answered.Add(1)
	}
}

// Answer fills out (48 bytes) with the reply to req received at rx, and reports whether req is a
// well-formed client request (RFC 4330 §5: mode 3, version 1–4). Anything else gets no reply.
func Answer(req []byte, rx time.Time, clock func() time.Time, out []byte) bool {
	if len(req) < packetLen || len(out) < packetLen {
		return false
	}
	vn := req[0] >> 3 & 0x7
	mode := req[0] & 0x7
	if mode != 3 || vn < 1 || vn > 4 {
		return false
	}
	clear(out[:packetLen])
	out[0] = 0<<6 | vn<<3 | 4 // leap indicator 0, the client's version, mode 4 (server)
	out[1] = 2                // stratum 2: a secondary server (the Pi's clock is set by NTP at boot)
	out[2] = req[2]           // poll interval: echo the client's
	out[3] = 0xec             // precision: 2^-20 s
	// root delay 0, root dispersion ~15 ms
	binary.BigEndian.PutUint32(out[8:], 0x0000_0400)
	copy(out[12:16], []byte{127, 127, 1, 0}) // reference id: the local clock
	putTime(out[16:], rx)                    // reference timestamp
	copy(out[24:32], req[40:48])             // originate = the client's transmit timestamp
	putTime(out[32:], rx)                    // receive timestamp
	putTime(out[40:], clock())               // transmit timestamp
	return true
}

func putTime(b []byte, t time.Time) {
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	binary.BigEndian.PutUint32(b, uint32(secs))
	binary.BigEndian.PutUint32(b[4:], uint32(frac))
}

// Time decodes a 64-bit NTP timestamp (era 0).
func Time(b []byte) time.Time {
	secs := int64(binary.BigEndian.Uint32(b)) - ntpEpochOffset
	frac := int64(binary.BigEndian.Uint32(b[4:]))
	return time.Unix(secs, frac*1e9>>32).UTC()
}
