package provisioning

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func apiCall(t *testing.T, h http.Handler, method, path, body string) (int, map[string]any, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	var v map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &v)
	return w.Code, v, w.Body.String()
}

// TestAPI drives pairing the way the web page and `deskphone ctl pair` do, lists the phone without its
// SIP password, and unpairs it, after which its file is refused and its account is gone.
func TestAPI(t *testing.T) {
	r := newRig(t, nil)
	api := r.srv.APIHandler()

	if code, v, raw := apiCall(t, api, "POST", "/api/v1/pairing", `{"seconds":120}`); code != 200 || v["open"] != true || v["seconds_left"] != float64(120) {
		t.Fatalf("open: %d %s", code, raw)
	}
	if code, v, raw := apiCall(t, api, "DELETE", "/api/v1/pairing", ""); code != 200 || v["open"] != false {
		t.Fatalf("close: %d %s", code, raw)
	}
	r.want404("/sipconfig-"+macA+".txt", phoneIP, ua4018)
	for _, bad := range []string{`{"seconds":-1}`, `{"seconds":99999}`, `nope`, strings.Repeat(" ", 2000)} {
		if code, _, raw := apiCall(t, api, "POST", "/api/v1/pairing", bad); code < 400 || !strings.Contains(raw, "error") {
			t.Errorf("body %.20q: %d %s", bad, code, raw)
		}
	}
	if code, v, raw := apiCall(t, api, "POST", "/api/v1/pairing", ""); code != 200 || v["seconds_left"] != float64(300) {
		t.Fatalf("open with no body: %d %s", code, raw)
	}
	r.fetchConfig("/sipconfig-"+macA+".txt", phoneIP, ua4018)
	acct, _ := r.dir.ByMAC(macA)

	code, _, raw := apiCall(t, api, "GET", "/api/v1/phones", "")
	if code != 200 || !strings.Contains(raw, `"extension": "5001"`) || !strings.Contains(raw, `"bound_address": "192.168.1.81"`) {
		t.Fatalf("phones: %d %s", code, raw)
	}
	if strings.Contains(raw, acct.Password) || strings.Contains(raw, "telnet") {
		t.Fatalf("phone list shows a SIP or telnet password: %s", raw)
	}

	code, v, raw := apiCall(t, api, "GET", "/api/v1/provisioning", "")
	if code != 200 || v["download_port"] != float64(80) || !strings.Contains(raw, "DL Addr: "+piIP) {
		t.Fatalf("status: %d %s", code, raw)
	}

	if code, _, raw := apiCall(t, api, "DELETE", "/api/v1/phones/00:80:9f:56:07:ae", ""); code != 200 || !strings.Contains(raw, "5001") {
		t.Fatalf("unpair: %d %s", code, raw)
	}
	if _, ok := r.dir.Lookup("5001"); ok {
		t.Fatal("account still in the registrar's directory after unpairing")
	}
	r.want404("/sipconfig-"+macA+".txt", phoneIP, ua4018)
	if code, _, _ := apiCall(t, api, "DELETE", "/api/v1/phones/00809F5607AE", ""); code != 404 {
		t.Fatalf("second unpair = %d", code)
	}
	if code, _, _ := apiCall(t, api, "DELETE", "/api/v1/phones/zz", ""); code != 400 {
		t.Fatalf("bad MAC = %d", code)
	}
	// Unpaired then paired again: a fresh account, the same extension, a new password.
	r.srv.OpenPairing(time.Minute)
	f := r.fetchConfig("/sipconfig-"+macA+".txt", phoneIP, ua4018)
	if mustGet(t, f, "sip", "user_name") != "5001" || mustGet(t, f, "sip", "authentication_password") == acct.Password {
		t.Fatal("re-pairing did not make a fresh account")
	}
}

// TestAPIPairingOff: with pairing off, opening a window is refused with the reason.
func TestAPIPairingOff(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Pairing = PairingOff })
	code, _, raw := apiCall(t, r.srv.APIHandler(), "POST", "/api/v1/pairing", "")
	if code != http.StatusConflict || !strings.Contains(raw, `pairing = \"off\"`) {
		t.Fatalf("%d %s", code, raw)
	}
}
