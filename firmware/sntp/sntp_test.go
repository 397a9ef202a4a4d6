package sntp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestAnswerFields(t *testing.T) {
	now := time.Date(2026, 11, 26, 8, 0, 0, 500_000_000, time.UTC)
	req := make([]byte, 48)
	req[0] = 4<<3 | 3
	putTime(req[40:], now.Add(-time.Second))
	out := make([]byte, 48)
	if !Answer(req, now, func() time.Time { return now }, out) {
		t.Fatal("a v4 client request was refused")
	}
	if out[0] != 4<<3|4 || out[1] != 2 {
		t.Fatalf("header %08b stratum %d", out[0], out[1])
	}
	if got := Time(out[40:]); !got.Equal(now) {
		t.Fatalf("transmit time %v, want %v", got, now)
	}
	if got := Time(out[24:]); !got.Equal(now.Add(-time.Second)) {
		t.Fatalf("originate %v does not echo the client's transmit time", got)
	}
}

func TestAnswerRefusesWhatIsNotAClientRequest(t *testing.T) {
	out := make([]byte, 48)
	for name, req := range map[string][]byte{
		"short":       make([]byte, 47),
		"server mode": append([]byte{4<<3 | 4}, make([]byte, 47)...),
		"version 0":   append([]byte{0<<3 | 3}, make([]byte, 47)...),
		"version 7":   append([]byte{7<<3 | 3}, make([]byte, 47)...),
		"broadcast":   append([]byte{4<<3 | 5}, make([]byte, 47)...),
	} {
		if Answer(req, time.Now(), time.Now, out) {
			t.Errorf("%s: answered", name)
		}
	}
}

func FuzzAnswer(f *testing.F) {
	f.Add(append([]byte{4<<3 | 3}, make([]byte, 47)...))
	f.Add([]byte{0x1b})
	f.Fuzz(func(t *testing.T, req []byte) {
		out := make([]byte, 48)
		Answer(req, time.Now(), time.Now, out)
	})
}

// A real NTP client (ntpdig from NTPsec, query only: it never sets this machine's clock) gets the
// time from the server. ntpdig always asks port 123, so the server listens there on its own
// loopback address; binding port 123 needs root, as the tests do.
func TestNtpdigGetsTheTime(t *testing.T) {
	ntpdig, err := exec.LookPath("ntpdig")
	if err != nil {
		t.Fatal("ntpdig is not installed: install the Debian package ntpsec-ntpdig (make deps)")
	}
	addr := fmt.Sprintf("127.0.%d.%d:123", 100+os.Getpid()%100, 1+os.Getpid()%250)
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("listen on %s (the tests run as root): %v", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := New(slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, pc) }()
	defer func() { cancel(); <-done }()

	host, _, _ := net.SplitHostPort(addr)
	out, err := exec.CommandContext(ctx, ntpdig, "-j", "-t", "5", host).CombinedOutput()
	if err != nil {
		t.Fatalf("ntpdig: %v\n%s", err, out)
	}
	var res struct {
		Offset  float64 `json:"offset"`
		Stratum int     `json:"stratum"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("ntpdig output %q: %v", out, err)
	}
	if res.Stratum != 2 || res.Offset > 0.5 || res.Offset < -0.5 {
		t.Fatalf("ntpdig saw stratum %d offset %.3f s, want stratum 2 and our own clock", res.Stratum, res.Offset)
	}
}

func TestQueryMeasuresTheOffset(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	skew := 90 * time.Second
	s := New(slog.New(slog.NewTextHandler(io.Discard, nil)), func() time.Time { return time.Now().Add(skew) })
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, pc) }()
	defer func() { cancel(); <-done }()
	off, err := Query(ctx, pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	if d := off - skew; d > 100*time.Millisecond || d < -100*time.Millisecond {
		t.Fatalf("offset %v, want about %v", off, skew)
	}
}
