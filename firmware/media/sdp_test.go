package media

import (
	"errors"
	"strings"
	"testing"
)

func TestDynamicPCMAPayloadType(t *testing.T) {
	offer := "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 97 18\r\na=rtpmap:97 PCMA/8000\r\na=rtpmap:18 G729/8000\r\n"
	s := newTestSession(t, DefaultConfig())
	ans, err := s.AcceptOffer([]byte(offer))
	if err != nil {
		t.Fatal(err)
	}
	mustHave(t, ans, "a=rtpmap:97 PCMA/8000")
}

// The answer follows the offerer's order among the codecs we are configured for (Asterisk offers
// PCMU first; answering PCMA would make it transcode and rule out direct media).
func TestAnswerFollowsOfferersCodecOrder(t *testing.T) {
	offer := func(pts string) []byte {
		return []byte("v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP " + pts +
			"\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:18 G729/8000\r\na=rtpmap:101 telephone-event/8000\r\n")
	}
	for _, c := range []struct {
		name   string
		ours   []string
		offer  string
		want   string // codec of the answer; "" = 488
		wantPT string
	}{
		{"Asterisk: PCMU first", []string{"PCMA", "PCMU"}, "0 8 101", "PCMU", "0"},
		{"PCMA first", []string{"PCMU", "PCMA"}, "8 0 101", "PCMA", "8"},
		{"unsupported first is skipped", []string{"PCMA", "PCMU"}, "18 0 8 101", "PCMU", "0"},
		{"only what we are configured for", []string{"PCMA"}, "0 8 101", "PCMA", "8"},
		{"nothing in common", []string{"PCMU"}, "8 18 101", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Codecs = c.ours
			s := newTestSession(t, cfg)
			ans, err := s.AcceptOffer(offer(c.offer))
			if c.want == "" {
				if !errors.Is(err, ErrNoCommonCodec) {
					t.Fatalf("want ErrNoCommonCodec, got %v\n%s", err, ans)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m := mLine(string(ans)); !strings.HasPrefix(m, "RTP/AVP "+c.wantPT+" ") || strings.Count(m, " ") != 2 {
				t.Fatalf("answer m=audio formats %q, want %s then telephone-event only\n%s", m, c.wantPT, ans)
			}
			if got := s.Stats().Codec; got != c.want {
				t.Fatalf("session sends %s, want %s", got, c.want)
			}
		})
	}
}

// mLine is the audio m= line after its port ("RTP/AVP 0 101").
func mLine(sdp string) string {
	for _, l := range strings.Split(sdp, "\r\n") {
		if f := strings.SplitN(l, " ", 3); len(f) == 3 && f[0] == "m=audio" {
			return f[2]
		}
	}
	return ""
}
