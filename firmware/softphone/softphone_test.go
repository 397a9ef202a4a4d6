package softphone

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// The committed bundle is the one jssip/gen.sh makes from the pinned versions.
func TestJsSIPBundleMatchesLock(t *testing.T) {
	bundle, err := static.ReadFile("static/jssip.min.js")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile("jssip/jssip.min.js.sha256")
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := strings.Cut(string(sum), " ")
	got := sha256.Sum256(bundle)
	if hex.EncodeToString(got[:]) != want {
		t.Fatalf("static/jssip.min.js has SHA-256 %x, jssip/jssip.min.js.sha256 says %s: regenerate it with jssip/gen.sh", got, want)
	}

	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	b, err := os.ReadFile("jssip/package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		t.Fatalf("jssip/package-lock.json: %v", err)
	}
	version := lock.Packages["node_modules/jssip"].Version
	if version == "" {
		t.Fatal("jssip/package-lock.json pins no jssip")
	}
	if banner := "/*! JsSIP " + version + " "; !bytes.HasPrefix(bundle, []byte(banner)) {
		t.Errorf("the bundle does not start with %q: it was not made from the locked JsSIP %s", banner, version)
	}
	if !bytes.Contains(bundle, []byte("var JsSIP=")) {
		t.Error("the bundle does not define the global JsSIP")
	}
	lic, err := static.ReadFile("static/jssip.LICENSE.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"jssip " + version + " (MIT)", "debug ", "events ", "sdp-transform "} {
		if !bytes.Contains(lic, []byte(pkg)) {
			t.Errorf("jssip.LICENSE.txt lacks the licence of %s", pkg)
		}
	}
}

func TestHandler(t *testing.T) {
	h := Handler()
	bundle, _ := static.ReadFile("static/jssip.min.js")
	cases := []struct {
		method, path string
		status       int
		ctype        string
		body         []byte
	}{
		{"GET", "/phone/jssip.min.js", 200, "text/javascript; charset=utf-8", bundle},
		{"HEAD", "/phone/jssip.min.js", 200, "text/javascript; charset=utf-8", nil},
		{"GET", "/phone/jssip.LICENSE.txt", 200, "text/plain; charset=utf-8", nil},
		{"POST", "/phone/jssip.min.js", 405, "", nil},
		{"GET", "/phone", 301, "", nil},
		{"GET", "/phone/nothing.js", 404, "", nil},
		{"GET", "/phone/../softphone.go", 404, "", nil},
		{"GET", "/phone/./jssip.min.js/..", 404, "", nil},
		{"GET", "/static/jssip.min.js", 404, "", nil},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(c.method, "http://pi.test/", nil)
		req.URL.Path = c.path // unclean on purpose
		h.ServeHTTP(rec, req)
		if rec.Code != c.status {
			t.Errorf("%s %s: status %d, want %d", c.method, c.path, rec.Code, c.status)
			continue
		}
		if c.ctype != "" && rec.Header().Get("Content-Type") != c.ctype {
			t.Errorf("%s %s: Content-Type %q, want %q", c.method, c.path, rec.Header().Get("Content-Type"), c.ctype)
		}
		if c.body != nil && !bytes.Equal(rec.Body.Bytes(), c.body) {
			t.Errorf("%s %s: body differs from the embedded file", c.method, c.path)
		}
		if c.status == http.StatusOK && rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: no nosniff header", c.method, c.path)
		}
	}
}
