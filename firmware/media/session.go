package media

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/deskphone/deskphone/firmware/rtpport"
	"github.com/deskphone/deskphone/firmware/sdes"
)

const (
	maxDatagram = 1500 // larger datagrams are not RTP we sent for
	latchWindow = 5    // packets during which Config.Latch may adopt another source (rtpengine's rule)
	pcCN        = 13   // RFC 3389 comfort noise: ignored
)

// Session is the media of one call: an RTP/RTCP port pair, the SDP offer/answer state
// (negotiate.go), the sender (send.go), the receiver with its jitter buffer (receive.go), RTCP and
// the call's statistics (report.go), and DTMF in both directions. One mutex guards it all.
type Session struct {
	cfg     Config
	log     *slog.Logger
	ip      netip.Addr
	port    int
	codecs  []codec
	rtpSock *rtpSocket
	rtcp    *net.UDPConn
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	digits  chan rune

	mu     sync.Mutex
	closed bool
	// attached: the audio loop collects RTP each tick (drainRTP) and receiveRTP sleeps on rxWake.
	attached bool
	rxWake   *sync.Cond
	drainBuf []byte // used by the audio loop only

	// offer/answer (RFC 3264; negotiate.go)
	sessionID, version    uint64
	lastSDP               []byte
	pending               bool
	answered              bool // the last exchange was our offer and the remote's answer
	offeredDir            direction
	localHold, remoteHold bool
	neg                   *negotiation
	keys                  []cryptoAttr // our SRTP master keys, one per suite (srtp.go); nil when SRTP is off
	offeredKeys           []cryptoAttr // the keys of our pending offer

	// sender (send.go)
	ssrc     uint32
	seq      uint16
	ts       uint32
	marker   bool
	txBuf    [maxDatagram]byte
	srtpBuf  [maxDatagram + 32]byte // txBuf encrypted (SRTP adds a 4- or 10-byte tag)
	payload  [jbMaxSamples]byte
	dtmfTx   dtmfSender
	tx       senderStream // counts and the remote's reports about our stream (report.go)
	txErrors uint64

	// receiver (receive.go)
	latched     netip.AddrPort
	heardRemote bool
	rxSinceNeg  int
	jb          *jitterBuffer
	pcm         [jbMaxSamples]int16
	dtmfRx      dtmfReceiver
	rx          receiverStream // RFC 3550 statistics of the stream we receive (report.go)
	rtcpAt      time.Time      // the remote's last RTCP (report.go)
	expectSince time.Time      // media negotiated or taken off hold: silence counts from here

	counters counters
	playout  struct {
		sum   time.Duration
		n     uint64
		worst time.Duration
	}
}

// negotiation is the agreed media.
type negotiation struct {
	remoteRTP, remoteRTCP netip.AddrPort
	send                  codec // codec we send
	dtmfSendPT            int   // -1 = none
	dtmfRecvPT            int
	dir                   direction    // our effective direction
	srtp                  *srtpStreams // nil: plain RTP
	savp                  bool         // negotiated as RTP/SAVP
}

// suite names the SRTP crypto suite in use, "" for plain RTP.
func (n *negotiation) suite() string {
	if n == nil || n.srtp == nil {
		return ""
	}
	return n.srtp.Local.Suite.Name
}

type counters struct {
	malformedRTP, malformedRTCP, foreign, unknownPT uint64
	rtcpSent, rtcpReceived                          uint64
	dtmfSent, dtmfReceived, dtmfDropped             uint64
	ssrcChanges                                     uint64
	panics                                          uint64 // recovered in handleRTP; fuzzing keeps this 0
	early                                           uint64 // RTP/RTCP before media was negotiated
	srtpRejected                                    uint64 // failed SRTP/SRTCP authentication or replay check
}

// NewSession binds an even RTP port and the RTCP port above it in [PortMin, PortMax] on
// cfg.LocalIP and starts receiving. Close releases them.
func NewSession(cfg Config, log *slog.Logger) (*Session, error) {
	def := DefaultConfig()
	cfg.DTMFPayloadType = cmp.Or(cfg.DTMFPayloadType, def.DTMFPayloadType)
	cfg.JitterMin = cmp.Or(cfg.JitterMin, def.JitterMin)
	cfg.JitterMax = cmp.Or(cfg.JitterMax, def.JitterMax)
	cfg.PTime = cmp.Or(cfg.PTime, def.PTime)
	if len(cfg.Codecs) == 0 {
		cfg.Codecs = def.Codecs
	}
	if ps := cfg.Check(); len(ps) > 0 {
		return nil, ps[0]
	}
	ip, err := netip.ParseAddr(cfg.LocalIP)
	if err != nil || ip.IsUnspecified() {
		return nil, fmt.Errorf("media: local address %q must be this host's IP address as peers reach it", cfg.LocalIP)
	}
	ip = ip.Unmap()
	var codecs []codec
	for _, name := range cfg.Codecs {
		c, _ := codecByName(name) // Check refused unknown names
		codecs = append(codecs, c)
	}
	if cfg.CNAME == "" {
		cfg.CNAME = "deskphone@" + ip.String()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sock, rtcpConn, err := bindPair(ip, cfg.PortMin, cfg.PortMax)
	if err != nil {
		return nil, err
	}
	port := sock.port
	s := &Session{
		cfg: cfg, ip: ip, port: port, codecs: codecs, rtpSock: sock, rtcp: rtcpConn,
		drainBuf: make([]byte, maxDatagram+1),
		log:      log.With("rtp_port", port),
		digits:   make(chan rune, 32),
		jb:       newJitterBuffer(cfg.JitterMin, cfg.JitterMax),
		marker:   true, version: 1,
	}
	s.rxWake = sync.NewCond(&s.mu)
	var r [18]byte
	if _, err := rand.Read(r[:]); err != nil {
		sock.close()
		rtcpConn.Close()
		return nil, fmt.Errorf("media: random: %w", err)
	}
	s.ssrc = binary.BigEndian.Uint32(r[0:])
	s.seq = binary.BigEndian.Uint16(r[4:])
	s.ts = binary.BigEndian.Uint32(r[6:])
	s.sessionID = binary.BigEndian.Uint64(r[10:]) >> 2 // fits NTP-style ids, positive
	if cfg.SRTP == SRTPOptional || cfg.SRTP == SRTPMandatory {
		if s.keys, err = sdes.NewKeys(); err != nil {
			sock.close()
			rtcpConn.Close()
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(3)
	go s.receiveRTP(ctx)
	go s.receiveRTCP(ctx)
	go s.reportLoop(ctx)
	return s, nil
}

// bindPair binds RTP on an even port and RTCP on the next port (RFC 3550 §11), trying ports
// from a random start within the range.
func bindPair(ip netip.Addr, lo, hi int) (*rtpSocket, *net.UDPConn, error) {
	ports, err := rtpport.NewRange(lo, hi)
	if err != nil {
		return nil, nil, fmt.Errorf("media: %w", err)
	}
	var a *rtpSocket
	var b *net.UDPConn
	_, err = ports.Pair(256, func(p int) bool {
		if a, err = listenRTP(ip, p); err != nil {
			return false
		}
		if b, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(p+1)))); err != nil {
			a.close()
			return false
		}
		return true
	})
	if err != nil {
		return nil, nil, fmt.Errorf("media: %w on %s", err, ip)
	}
	return a, b, nil
}

// LocalPort returns the bound RTP port (RTCP is LocalPort()+1).
func (s *Session) LocalPort() int { return s.port }

// Close stops the session: it sends an RTCP BYE, releases the ports and waits for its goroutines.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.sendReportLocked(true)
	s.closed = true
	s.rxWake.Broadcast()
	s.mu.Unlock()
	s.cancel()
	s.rtpSock.shutdown()
	err2 := s.rtcp.Close()
	s.wg.Wait()
	err1 := s.rtpSock.close()
	close(s.digits)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("media: close: %w", err)
	}
	return nil
}
