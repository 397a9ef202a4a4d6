package provisioning

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHostilePathsOverTheWire sends raw request lines (no client-side cleaning) to a real listener on
// loopback and checks that nothing but the firmware is ever served, and that a secret beside the
// firmware folder, or reached by a symbolic link inside it, never leaks.
func TestHostilePathsOverTheWire(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Pairing = PairingOpen; c.BanThreshold = 100 }) // each path refused on its own merit
	r.writeFirmware("noesip4018")
	secret := "SECRET-" + t.Name()
	if err := os.WriteFile(filepath.Join(r.data, "boot", "config.txt"), []byte(secret), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.data, "passwd"), []byte(secret), 0o644); err != nil {
		t.Fatal(err)
	}
	// A symbolic link named like the firmware, pointing outside the folder.
	if err := os.Symlink(filepath.Join(r.data, "passwd"), filepath.Join(r.fwDir, "datsip4018")); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	paths := []string{
		"/../passwd", "/../../passwd", "/%2e%2e/passwd", "/%2E%2E%2Fpasswd", "/..%2fpasswd", "/..%5cpasswd",
		"/%252e%252e%252fpasswd", "/..\\passwd", "/noesip4018/../../passwd", "/./noesip4018/..%2f..%2fpasswd",
		"/noesip4018%00", "/noesip4018%00.txt", "//passwd", "/boot/config.txt", "/alcatel/noesip4018",
		"/" + strings.Repeat("a", 8000), "/sipconfig-" + strings.Repeat("0", 4000) + ".txt", "/datsip4018",
		"/datsip4008", "/sipconfig-00809F5607AE.txt/..%2f..%2fpasswd", "/%2fetc%2fpasswd", "/passwd",
		"*", "http://127.0.0.1/../passwd",
	}
	for _, p := range paths {
		code, b := rawGet(t, ln.Addr().String(), p)
		if strings.Contains(b, secret) {
			t.Fatalf("GET %q leaked a file from outside the firmware folder", p)
		}
		if code == http.StatusOK {
			t.Errorf("GET %q = 200, want a refusal", p)
		}
	}
	// The real firmware is served on the same listener.
	if code, b := rawRequestFrom(t, "127.0.0.2", ln.Addr().String(), "GET /noesip4018 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); code != 200 || !strings.HasSuffix(b, "firmware noesip4018") {
		t.Fatalf("firmware: %d %q", code, b)
	}
	// 200 headers: refused before the handler with 431, never served.
	if code, _ := rawRequestFrom(t, "127.0.0.3", ln.Addr().String(), "GET /sipconfig.txt HTTP/1.1\r\nHost: x\r\n"+strings.Repeat("X-A: b\r\n", 2000)+"\r\n"); code == 200 {
		t.Fatal("oversized header block served")
	}
}

func rawGet(t *testing.T, addr, path string) (int, string) {
	return rawRequest(t, addr, "GET "+path+" HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: "+ua4018+"\r\nConnection: close\r\n\r\n")
}

func rawRequest(t *testing.T, addr, req string) (int, string) {
	return rawRequestFrom(t, "127.0.0.1", addr, req)
}

// rawRequestFrom sends req from the loopback address src (127.0.0.0/8 is all local on Linux).
func rawRequestFrom(t *testing.T, src, addr, req string) (int, string) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return 0, ""
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
