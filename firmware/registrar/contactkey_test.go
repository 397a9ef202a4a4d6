package registrar

import (
	"strings"
	"testing"
)

// contactKeyWant is contactKey as first written (lower-casing copies), which the faster one must
// match.
func contactKeyWant(uri string) string {
	u := uri
	if i := strings.IndexAny(u, ";?>"); i >= 0 {
		rest := strings.ToLower(u[i:])
		u = u[:i]
		if t := strings.Index(rest, "transport="); t >= 0 {
			tr := rest[t+len("transport="):]
			if j := strings.IndexAny(tr, ";?>"); j >= 0 {
				tr = tr[:j]
			}
			u += ";transport=" + tr
		}
	}
	return strings.ToLower(strings.TrimPrefix(u, "<"))
}

func FuzzContactKey(f *testing.F) {
	for _, s := range []string{
		"sip:alcatel@192.168.1.20:5060", "sip:alcatel@192.168.1.20:5060;transport=udp",
		"sip:u20001@127.0.0.1:5060;transport=UDP", "<sip:A@B:5060;Transport=TCP;ob>", "sip:a@b;ob;transport=tls?x=1",
		"sip:a@b;x=transport=udp", "SIP:É@ü;transport=UdP", "sip:a@b;transport=", "sip:a@b;transport", "<", "", ";transport=udp",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		if got, want := contactKey(uri), contactKeyWant(uri); got != want {
			t.Fatalf("contactKey(%q) = %q, want %q", uri, got, want)
		}
	})
}

func TestContactKeyNoCopy(t *testing.T) {
	for _, uri := range []string{"sip:alcatel@192.168.1.20:5060;transport=udp;ob", "sip:a@b:5060"} {
		if n := testing.AllocsPerRun(100, func() { contactKey(uri) }); n != 0 {
			t.Errorf("contactKey(%q): %v allocations, want 0", uri, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { contactKey("sip:u20001@127.0.0.1:5060;transport=UDP") }); n != 1 {
		t.Errorf("contactKey with transport=UDP: %v allocations, want 1", n)
	}
}
