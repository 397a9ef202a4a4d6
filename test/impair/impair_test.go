package impair

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestRelayDropsAboutTheConfiguredShare(t *testing.T) {
	a, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	b, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	defer a.Close()
	defer b.Close()
	r, err := New("127.0.0.1", Options{Loss: 0.25, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Start(a.LocalAddr().(*net.UDPAddr).AddrPort(), b.LocalAddr().(*net.UDPAddr).AddrPort())
	received := make(chan int)
	go func() { // read while sending: 400 queued datagrams would overflow B's socket buffer
		got := 0
		buf := make([]byte, 16)
		for {
			b.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			_, from, err := b.ReadFromUDPAddrPort(buf)
			if err != nil {
				received <- got
				return
			}
			if from == r.FaceB() { // each side sees the relay's face, not the other endpoint
				got++
			}
		}
	}()
	for i := 0; i < 400; i++ {
		a.WriteToUDPAddrPort([]byte{byte(i)}, r.FaceA())
		if i%20 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	got := <-received
	c := r.Counters()
	if c.Dropped < 60 || c.Dropped > 140 || c.Forwarded+c.Dropped != 400 {
		t.Fatalf("counters %+v: want about 100 of 400 dropped", c)
	}
	if got > int(c.Forwarded) || got < int(c.Forwarded)-10 {
		t.Fatalf("B received %d of %d forwarded", got, c.Forwarded)
	}
}

func TestRewriteSDP(t *testing.T) {
	in := "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\na=rtcp:4001\r\n"
	out := string(RewriteSDP([]byte(in), netip.MustParseAddrPort("127.0.0.1:30000")))
	if !strings.Contains(out, "c=IN IP4 127.0.0.1\r\n") || !strings.Contains(out, "m=audio 30000 RTP/AVP 8") || strings.Contains(out, "a=rtcp") {
		t.Fatalf("rewritten:\n%s", out)
	}
	if ap, err := AudioAddr([]byte(out)); err != nil || ap.String() != "127.0.0.1:30000" {
		t.Fatalf("AudioAddr = %v, %v", ap, err)
	}
}
