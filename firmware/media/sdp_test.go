package media

import "testing"

func TestLocalIPFor(t *testing.T) {
	ip, err := LocalIPFor("127.0.0.1:5060")
	if err != nil || ip != "127.0.0.1" {
		t.Fatalf("LocalIPFor = %q, %v", ip, err)
	}
}

func TestDynamicPCMAPayloadType(t *testing.T) {
	offer := "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 97 18\r\na=rtpmap:97 PCMA/8000\r\na=rtpmap:18 G729/8000\r\n"
	s := newTestSession(t, DefaultConfig())
	ans, err := s.AcceptOffer([]byte(offer))
	if err != nil {
		t.Fatal(err)
	}
	mustHave(t, ans, "a=rtpmap:97 PCMA/8000")
}
