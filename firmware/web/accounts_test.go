package web

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deskphone/deskphone/firmware/accounts"
)

func withAccounts(t *testing.T) (*Server, *accounts.Directory) {
	t.Helper()
	s, _ := withLogin(t)
	dir, _, err := accounts.Open(filepath.Join(t.TempDir(), "accounts.json"), []accounts.Account{
		{Extension: "5001", Username: "alcatel", Password: "from-the-config-file"}})
	if err != nil {
		t.Fatal(err)
	}
	s.SetAccounts(dir, SIPInfo{Port: 5060, Realm: "deskphone"})
	return s, dir
}

func api(t *testing.T, s *Server, method, path, body string) (int, map[string]any) {
	t.Helper()
	q := req{method: method, path: path, body: body, remote: local}
	if body != "" {
		q.hdr = map[string]string{"Content-Type": "application/json"}
	}
	w := q.run(s.Handler())
	var m map[string]any
	json.Unmarshal(w.Body.Bytes(), &m)
	return w.Code, m
}

func TestAccountsMadeOnThePage(t *testing.T) {
	s, dir := withAccounts(t)
	code, m := api(t, s, "POST", "/api/v1/accounts", `{"extension":"5010","username":"desk10","display_name":"Desk 10"}`)
	if code != 200 || len(m["password"].(string)) < 16 {
		t.Fatalf("add: %d %v", code, m)
	}
	pw := m["password"].(string)
	if a, ok := dir.Lookup("desk10"); !ok || a.Password != pw || a.Origin != originPage {
		t.Fatalf("directory has %+v", a)
	}
	for _, bad := range []string{`{"extension":"50a"}`, `{"username":"a b"}`, `{"display_name":"x\"<sip:evil>"}`, `{"extension":"5001"}`} {
		if code, m := api(t, s, "POST", "/api/v1/accounts", bad); code != 400 && code != 409 {
			t.Errorf("add %s: %d %v", bad, code, m)
		}
	}
	if code, _ := api(t, s, "PATCH", "/api/v1/accounts/5010", `{"display_name":"Reception"}`); code != 200 {
		t.Fatalf("rename: %d", code)
	}
	if a, _ := dir.Lookup("desk10"); a.DisplayName != "Reception" || a.Password != pw {
		t.Fatalf("renamed account %+v", a)
	}
	code, m = api(t, s, "POST", "/api/v1/accounts/5010/password", `{}`)
	if a, _ := dir.Lookup("desk10"); code != 200 || a.Password == pw || a.Password != m["password"] {
		t.Fatalf("regenerate: %d %v %+v", code, m, a)
	}
	// The config file's account is read-only but its password can be shown.
	if code, m := api(t, s, "DELETE", "/api/v1/accounts/5001", ""); code != 409 || !strings.Contains(m["error"].(string), "config file") {
		t.Fatalf("remove a config account: %d %v", code, m)
	}
	if code, m := api(t, s, "GET", "/api/v1/accounts/5001/password", ""); code != 200 || m["password"] != "from-the-config-file" {
		t.Fatalf("show: %d %v", code, m)
	}
	if code, _ := api(t, s, "DELETE", "/api/v1/accounts/5010", ""); code != 200 {
		t.Fatalf("remove: %d", code)
	}
	if _, ok := dir.Lookup("desk10"); ok {
		t.Fatal("removed account still there")
	}
}

func TestSetupLinkWorksOnce(t *testing.T) {
	s, _ := withAccounts(t)
	code, m := api(t, s, "POST", "/api/v1/accounts/5001/setup-link", `{}`)
	if code != 200 || !strings.HasPrefix(m["svg"].(string), "<svg") {
		t.Fatalf("setup link: %d %v", code, m)
	}
	u := m["url"].(string)
	path := u[strings.Index(u, "/setup/"):]
	w := req{method: "GET", path: path}.run(s.Handler()) // a phone, not logged in
	if w.Code != 200 || !strings.Contains(w.Body.String(), "<entry name=\"passwd\">from-the-config-file</entry>") ||
		!strings.Contains(w.Body.String(), "&lt;sip:127.0.0.1:5060;transport=udp&gt;") {
		t.Fatalf("linphone config: %d %s", w.Code, w.Body)
	}
	if w := (req{method: "GET", path: path}).run(s.Handler()); w.Code != http.StatusNotFound {
		t.Fatalf("second use of the link: %d", w.Code)
	}
}

func TestSettingsSaveOnlyWhatChecks(t *testing.T) {
	s, _ := withLogin(t)
	path := filepath.Join(t.TempDir(), "deskphone.toml")
	orig := "[phone]\ntone_country = \"fr\"\n"
	os.WriteFile(path, []byte(orig), 0o640)
	restarted := 0
	s.SetSettings(path, func() { restarted++ })
	body, _ := json.Marshal(map[string]string{"text": "[phone]\ntone_country = \"xx\"\n"})
	code, m := api(t, s, "PUT", "/api/v1/settings", string(body))
	ps, _ := m["problems"].([]any)
	if code != http.StatusUnprocessableEntity || len(ps) != 1 || ps[0].(map[string]any)["line"] != float64(2) {
		t.Fatalf("bad config: %d %v", code, m)
	}
	if b, _ := os.ReadFile(path); string(b) != orig || restarted != 0 {
		t.Fatal("a config with problems was saved or applied")
	}
	body, _ = json.Marshal(map[string]string{"text": "[phone]\ntone_country = \"de\"\n"})
	if code, m := api(t, s, "PUT", "/api/v1/settings", string(body)); code != 200 || restarted != 1 {
		t.Fatalf("good config: %d %v restarted=%d", code, m, restarted)
	}
	if b, _ := os.ReadFile(path + ".old"); string(b) != orig {
		t.Fatalf(".old = %q", b)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Fatalf("mode changed to %v", st.Mode().Perm())
	}
}

func TestLogTailKeepsTheLastLines(t *testing.T) {
	l := NewLogTail(3)
	l.Write([]byte("one\ntwo\nthr"))
	l.Write([]byte("ee\nfour\nfive\n"))
	if got := strings.Join(l.Last(10), ","); got != "three,four,five" {
		t.Fatalf("got %s", got)
	}
	if got := strings.Join(l.Last(2), ","); got != "four,five" {
		t.Fatalf("got %s", got)
	}
}

type fakeVolumes struct{ l Levels }

func (f *fakeVolumes) Levels() Levels           { return f.l }
func (f *fakeVolumes) SetLevels(l Levels) error { f.l = l; return nil }

func TestVolumesStayInRange(t *testing.T) {
	s, _ := withLogin(t)
	v := &fakeVolumes{Levels{80, 80, 80}}
	s.SetVolumes(v)
	if code, _ := api(t, s, "POST", "/api/v1/volume", `{"speaker":101}`); code != 400 || v.l.Speaker != 80 {
		t.Fatalf("101: %d, speaker %d", code, v.l.Speaker)
	}
	if code, m := api(t, s, "POST", "/api/v1/volume", `{"ringer":30}`); code != 200 || m["ringer"] != float64(30) || v.l != (Levels{80, 30, 80}) {
		t.Fatalf("ringer 30: %d %v %+v", code, m, v.l)
	}
}
