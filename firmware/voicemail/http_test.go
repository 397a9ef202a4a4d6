package voicemail

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHTTPHandler(t *testing.T) {
	s, _ := OpenStore(t.TempDir(), 1<<20, nil)
	rec, _ := s.record("5002", "5001", time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	rec.w.write(sine(2 * sampleRate))
	m, _, _ := rec.finish()
	mux := http.NewServeMux()
	for _, p := range APIPatterns {
		mux.Handle(p, s.Handler())
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}

	code, body := do("GET", "/api/v1/voicemail/5002", "")
	var list struct {
		New, Saved int
		Messages   []Message
	}
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil || list.New != 1 || len(list.Messages) != 1 || list.Messages[0].Caller != "5001" {
		t.Fatalf("list: %d %s", code, body)
	}
	if code, body := do("GET", "/api/v1/voicemail/5002/"+m.ID+".wav", ""); code != 200 || !strings.HasPrefix(body, "RIFF") || len(body) != headerLen+2*2*sampleRate {
		t.Fatalf("play: %d, %d bytes", code, len(body))
	}
	if code, _ := do("POST", "/api/v1/voicemail/5002/"+m.ID, ""); code != 204 {
		t.Fatalf("save: %d", code)
	}
	if n, saved := s.Counts("5002"); n != 0 || saved != 1 {
		t.Fatalf("after save %d/%d", n, saved)
	}
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"DELETE", "/api/v1/voicemail/5002/20990101T000000.000Z-x", 404},
		{"GET", "/api/v1/voicemail/5002/..%2Fpins", 404},
		{"GET", "/api/v1/voicemail/..%2F..%2Fetc/passwd", 404},
		{"PATCH", "/api/v1/voicemail/5002/" + m.ID, 405},
		{"DELETE", "/api/v1/voicemail/5002", 405},
		{"PUT", "/api/v1/voicemail/5002/greeting", 400}, // not a WAV
	} {
		if code, body := do(c.method, c.path, "junk"); code != c.want {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, code, body, c.want)
		}
	}
	if code, _ := do("DELETE", "/api/v1/voicemail/5002/"+m.ID, ""); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if msgs, _ := s.List("5002"); len(msgs) != 0 {
		t.Fatalf("after delete: %v", msgs)
	}

	// A greeting upload replaces the default; a 44.1 kHz file is refused with advice.
	g := wavHeader(2 * sampleRate)
	g = append(g, make([]byte, 2*sampleRate)...)
	if code, body := do("PUT", "/api/v1/voicemail/5002/greeting", string(g)); code != 204 {
		t.Fatalf("greeting: %d %s", code, body)
	}
	if len(s.Greeting("5002")) != sampleRate {
		t.Fatal("greeting not stored")
	}
	bad := wavHeader(4)
	bad[24], bad[25] = 0x44, 0xac // 44100 Hz
	if code, body := do("PUT", "/api/v1/voicemail/5002/greeting", string(append(bad, 0, 0, 0, 0))); code != 400 || !strings.Contains(body, "sox") {
		t.Fatalf("44.1 kHz greeting: %d %s", code, body)
	}
	if code, _ := do("DELETE", "/api/v1/voicemail/5002/greeting", ""); code != 204 || s.Greeting("5002") != nil {
		t.Fatal("greeting not removed")
	}
}
