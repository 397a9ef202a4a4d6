package main

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A browser call arriving while the media bridge is still being made (at start, before the
// phone's first registration) waits for it instead of failing; hanging up before then is a no-op.
func TestLateBridgeWaitsForTheBridge(t *testing.T) {
	l := newLateBridge()
	l.Close("early") // must not block or panic

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.Offer(ctx, "c", "f", "", true, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Offer before the bridge exists returned %v; want it to wait until the context ends", err)
	}

	done := make(chan error, 1)
	go func() {
		_, err := l.Answer(context.Background(), "c", "f", "t", false, nil)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Answer returned %v before the bridge was made", err)
	case <-time.After(20 * time.Millisecond):
	}
	failed := errors.New("port taken")
	l.set(nil, failed)
	if err := <-done; !errors.Is(err, failed) {
		t.Fatalf("Answer after the bridge failed: %v; want %v", err, failed)
	}
	l.Close("c")
}
