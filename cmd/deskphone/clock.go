package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"syscall"
	"time"

	"github.com/deskphone/deskphone/firmware/sntp"
)

// cmdClock implements `deskphone clock sync SERVER…`: the appliance's init sets the Pi's clock
// (the Pi has no battery-backed clock) from the first server that answers.
func cmdClock(args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 || args[0] != "sync" {
		fmt.Fprintln(stderr, "usage: deskphone clock sync SERVER [SERVER…]")
		return 2
	}
	for _, server := range args[1:] {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		off, err := sntp.Query(ctx, server)
		cancel()
		if err != nil {
			fmt.Fprintln(stderr, "deskphone clock:", err)
			continue
		}
		now := time.Now().Add(off)
		tv := syscall.NsecToTimeval(now.UnixNano())
		if err := syscall.Settimeofday(&tv); err != nil {
			fmt.Fprintf(stderr, "deskphone clock: set the clock: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "clock set from %s (corrected by %s): %s\n", server, off.Round(time.Millisecond), now.UTC().Format(time.RFC3339))
		return 0
	}
	fmt.Fprintln(stderr, "deskphone clock: no time server answered; the clock is unchanged")
	return 1
}

// runTimeServer answers SNTP on port 123 for the LAN's phones. Not being able to bind (not root,
// or another NTP server runs) is not fatal: the phones then need another time server.
func runTimeServer(ctx context.Context, addr string, log *slog.Logger) error {
	if err := sntp.New(log, nil).Run(ctx, addr); err != nil {
		log.Warn("no time server for the phones on this machine", "err", err)
	}
	return nil
}
