package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/deskphone/deskphone/firmware/voicemail"
	"github.com/deskphone/deskphone/hw/gpio"
	"github.com/deskphone/deskphone/hw/gpio/gpiotest"
)

// The message LED follows the Pi's own mailbox: on while a new message waits, off once every
// message has been heard (saved) or deleted; other mailboxes do not touch it.
func TestMessageLEDFollowsOwnMailbox(t *testing.T) {
	dir := t.TempDir()
	store, err := voicemail.OpenStore(dir, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	seed := func(box, id string) {
		p := filepath.Join(dir, box, voicemail.FolderNew, id+".wav")
		os.MkdirAll(filepath.Dir(p), 0o750)
		if err := os.WriteFile(p, make([]byte, 44+16000), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	seed("5002", "20261201T100000.000Z-5001")
	seed("5002", "20261201T110000.000Z-5003")
	seed("5003", "20261201T120000.000Z-5001")

	b, h := gpiotest.New(), newFakeHandset()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- bridgeHardware(ctx, b, h, nil, messageWaiting(store, "5002"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	defer func() {
		cancel()
		<-done
	}()
	wait := func(p gpio.Pattern, what string) {
		t.Helper()
		c, stop := context.WithTimeout(ctx, 5*time.Second)
		defer stop()
		if !b.WaitPattern(c, gpio.MessageLED, p) {
			t.Fatalf("%s: message LED shows %v, want %v", what, b.Pattern(gpio.MessageLED), p)
		}
	}
	wait(gpio.On, "two new messages at start")
	if err := store.Save("5002", "20261201T100000.000Z-5001"); err != nil {
		t.Fatal(err)
	}
	if err := store.Delete("5003", "20261201T120000.000Z-5001"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	wait(gpio.On, "one new message left")
	if err := store.Delete("5002", "20261201T110000.000Z-5003"); err != nil {
		t.Fatal(err)
	}
	wait(gpio.Off, "no new message")
	var led []gpio.Pattern
	for _, c := range b.History() {
		if c.Output == gpio.MessageLED {
			led = append(led, c.Pattern)
		}
	}
	for i, p := range led[:len(led)-1] {
		if p != gpio.On {
			t.Fatalf("message LED went %v (change %d of %v) while a new message was waiting", p, i, led)
		}
	}
}
