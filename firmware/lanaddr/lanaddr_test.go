package lanaddr

import (
	"net"
	"net/netip"
	"testing"
)

func TestTowardLoopbackIsLoopback(t *testing.T) {
	a, err := Toward("127.0.0.1:5060")
	if err != nil || a != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("Toward(127.0.0.1:5060) = %v, %v; want 127.0.0.1", a, err)
	}
	if _, err := Toward("no-such-host.invalid:5060"); err == nil {
		t.Fatal("Toward an unresolvable name: no error")
	}
}

// TestTowardIsTheSourceThePeerSees checks the answer against what a real peer sees as the source
// of a packet sent to it.
func TestTowardIsTheSourceThePeerSees(t *testing.T) {
	peer, err := net.ListenPacket("udp", "127.0.0.2:0")
	if err != nil {
		t.Skip("no 127.0.0.2 on this machine:", err)
	}
	defer peer.Close()
	want, err := Toward(peer.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("udp", peer.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("x"))
	_, from, err := peer.ReadFrom(make([]byte, 8))
	if err != nil {
		t.Fatal(err)
	}
	if got := from.(*net.UDPAddr).AddrPort().Addr().Unmap(); got != want {
		t.Errorf("Toward said %v, the peer saw %v", want, got)
	}
}

func TestOwnLeavesOutLoopback(t *testing.T) {
	own, err := Own()
	if err != nil {
		t.Fatal(err)
	}
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	in := map[netip.Addr]bool{}
	for _, a := range all {
		in[a] = true
	}
	if !in[netip.MustParseAddr("127.0.0.1")] {
		t.Errorf("All() = %v: no 127.0.0.1", all)
	}
	for i, a := range own {
		if a.IsLoopback() || a.IsLinkLocalUnicast() {
			t.Errorf("Own() lists %v", a)
		}
		if !in[a] {
			t.Errorf("Own() lists %v, which All() does not", a)
		}
		if i > 0 && a.Is4() && own[i-1].Is6() {
			t.Errorf("Own() = %v: IPv4 addresses must come first", own)
		}
	}
}
