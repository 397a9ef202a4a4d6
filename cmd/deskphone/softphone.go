package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/deskphone/deskphone/firmware/config"
	"github.com/deskphone/deskphone/firmware/lanaddr"
	"github.com/deskphone/deskphone/firmware/registrar"
	"github.com/deskphone/deskphone/firmware/softphone"
	"github.com/deskphone/deskphone/firmware/web"
	"github.com/deskphone/deskphone/firmware/webrtcbridge"
)

// bridgeRTPPorts is how many RTP ports (two per call) the media bridge takes, just above the
// phone's own range.
const bridgeRTPPorts = 100

// newMediaBridge builds the bridge between browsers (WebRTC) and plain RTP phones, on the
// registrar's address (or, listening on every address, the LAN address): browsers reach it
// there, as they reach the pages.
func newMediaBridge(f *config.File, log *slog.Logger, dead func(callID, leg string, silent time.Duration, cause string)) (*webrtcbridge.Bridge, error) {
	ip, err := bridgeIP(f.Registrar.Listen)
	if err != nil {
		return nil, err
	}
	lo := f.Phone.RTPPortMax + 2
	if lo%2 == 1 {
		lo++
	}
	if f.Phone.RTPPortMax == 0 || lo+bridgeRTPPorts > 65534 {
		lo = 20000
	}
	b, err := webrtcbridge.New(webrtcbridge.Config{IP: ip, RTPPortMin: lo, RTPPortMax: lo + bridgeRTPPorts - 1,
		OnMediaDead: dead, Log: log.With("component", "webrtc")})
	if err != nil {
		return nil, fmt.Errorf("browser calls: %w", err)
	}
	log.Info("browser calls: WebRTC media on UDP", "ice", b.ICEAddr().String(), "rtp_ports", fmt.Sprintf("%d-%d", lo, lo+bridgeRTPPorts-1))
	return b, nil
}

// lateBridge is the browser media bridge, made once the phone has registered at start: a call
// that needs it before then waits for it.
type lateBridge struct {
	later[*webrtcbridge.Bridge]
}

func newLateBridge() *lateBridge { return &lateBridge{newLater[*webrtcbridge.Bridge]()} }

func (l *lateBridge) Offer(ctx context.Context, callID, fromTag, toTag string, fromBrowser bool, sdp []byte) ([]byte, error) {
	b, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return b.Offer(ctx, callID, fromTag, toTag, fromBrowser, sdp)
}

func (l *lateBridge) Answer(ctx context.Context, callID, fromTag, toTag string, fromBrowser bool, sdp []byte) ([]byte, error) {
	b, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return b.Answer(ctx, callID, fromTag, toTag, fromBrowser, sdp)
}

// Close ends a call's media; before the bridge exists no call has any.
func (l *lateBridge) Close(callID string) {
	if b, ok := l.now(); ok && b != nil {
		b.Close(callID)
	}
}

func bridgeIP(listen string) (netip.Addr, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("registrar listen %q: %w", listen, err)
	}
	if a, err := netip.ParseAddr(host); err == nil && !a.IsUnspecified() {
		return a, nil
	}
	a, err := lanaddr.Default()
	if err != nil {
		return netip.MustParseAddr("127.0.0.1"), nil // no network yet: browsers on this machine only
	}
	return a, nil
}

// mountSoftphone serves the browser phone at /phone/ and its SIP WebSocket at /ws on the HTTPS
// server, when there is one.
func mountSoftphone(srv *web.Server, reg *registrar.Registrar) {
	_, port, err := net.SplitHostPort(srv.HTTPSAddr())
	if err != nil || reg == nil {
		return
	}
	n, _ := strconv.Atoi(port)
	srv.HandlePage("/ws", reg.WebSocket(n))
	srv.HandlePage(softphone.Prefix, softphone.Handler())
}

// recentCallsHandler serves the registrar's recent proxied calls (each leg's transport and media
// protection) as JSON, for the call log page.
func recentCallsHandler(reg *registrar.Registrar) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls := []registrar.CallRecord{}
		if reg != nil {
			calls = append(calls, reg.RecentCalls()...)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(calls)
	})
}
