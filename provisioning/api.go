package provisioning

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/deskphone/deskphone/firmware/accounts"
)

// APIPatterns are the patterns to mount APIHandler under, on the web server that checks the API token.
var APIPatterns = []string{
	"/api/v1/pairing",
	"/api/v1/phones",
	"/api/v1/phones/{mac}",
	"/api/v1/provisioning",
}

// PhonePattern is the pattern to mount the Server itself under, for the phones' files at the root
// ("/sipconfig.txt", "/sipconfig-<MAC>.txt", "/noesip4018", …). It matches one path segment, so it
// never takes "/" or "/api/…" from the web pages.
const PhonePattern = "GET /{file}"

// PairingRequest is the optional body of POST /api/v1/pairing.
type PairingRequest struct {
	Seconds int `json:"seconds"` // 1–3600; 0 = the configured window (300)
}

// PhoneInfo is one paired phone in GET /api/v1/phones. It has no SIP or telnet password; the handset
// menu password is there because without it the user cannot open the phone's menu (i then #) again.
type PhoneInfo struct {
	MAC           string     `json:"mac"`
	Extension     string     `json:"extension"`
	Username      string     `json:"username"`
	DisplayName   string     `json:"display_name"`
	Origin        string     `json:"origin"`
	Model         string     `json:"model,omitempty"`
	Firmware      string     `json:"firmware,omitempty"`
	BoundAddress  string     `json:"bound_address,omitempty"`
	LastFetch     *time.Time `json:"last_fetch,omitempty"`
	HandsetMenuPw string     `json:"handset_menu_password,omitempty"`
}

// APIHandler serves:
//
//	POST   /api/v1/pairing       open the pairing window (body optional: {"seconds":300})
//	DELETE /api/v1/pairing       close it
//	GET    /api/v1/pairing       pairing state
//	GET    /api/v1/phones        paired phones, without passwords
//	DELETE /api/v1/phones/{mac}  unpair a phone (MAC in any case, colons allowed)
//	GET    /api/v1/provisioning  Status
func (s *Server) APIHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/pairing", s.apiOpenPairing)
	mux.HandleFunc("DELETE /api/v1/pairing", func(w http.ResponseWriter, r *http.Request) {
		s.ClosePairing()
		s.apiPairingState(w, r)
	})
	mux.HandleFunc("GET /api/v1/pairing", s.apiPairingState)
	mux.HandleFunc("GET /api/v1/phones", s.apiPhones)
	mux.HandleFunc("DELETE /api/v1/phones/{mac}", s.apiUnpair)
	mux.HandleFunc("GET /api/v1/provisioning", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.status())
	})
	return mux
}

func (s *Server) apiOpenPairing(w http.ResponseWriter, r *http.Request) {
	var req PairingRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1024))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "the request body is too large; send {\"seconds\":300} or nothing")
		return
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, "the body must be JSON such as {\"seconds\":300}: "+err.Error())
			return
		}
	}
	if req.Seconds < 0 || req.Seconds > int(maxPairingWindow/time.Second) {
		writeError(w, http.StatusBadRequest, "seconds must be between 1 and 3600")
		return
	}
	if err := s.OpenPairing(time.Duration(req.Seconds) * time.Second); err != nil {
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	s.apiPairingState(w, r)
}

func (s *Server) apiPairingState(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	rep := s.pairingReportLocked(s.now())
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, rep)
}

// Phones lists the phones that have an account with a MAC, sorted by extension.
func (s *Server) Phones() []PhoneInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PhoneInfo
	for _, a := range s.dir.All() {
		if a.MAC == "" {
			continue
		}
		p := PhoneInfo{MAC: a.MAC, Extension: a.Extension, Username: a.Username, DisplayName: a.DisplayName, Origin: string(a.Origin)}
		if ps := s.phones[a.MAC]; ps != nil {
			p.Model, p.Firmware, p.HandsetMenuPw = ps.Model, ps.Firmware, ps.AdminPassword
			if ps.Source.IsValid() {
				p.BoundAddress = ps.Source.String()
			}
			if !ps.lastFetch.IsZero() {
				t := ps.lastFetch.UTC()
				p.LastFetch = &t
			}
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Extension < out[j].Extension })
	return out
}

func (s *Server) apiPhones(w http.ResponseWriter, _ *http.Request) {
	phones := s.Phones()
	if phones == nil {
		phones = []PhoneInfo{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"phones": phones})
}

func (s *Server) apiUnpair(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("mac")
	if accounts.NormalizeMAC(raw) == "" {
		writeError(w, http.StatusBadRequest, "not a MAC address: use 12 hex digits, such as 00809F5607AE")
		return
	}
	acct, err := s.Unpair(raw)
	switch {
	case errors.Is(err, accounts.ErrNotFound):
		writeError(w, http.StatusNotFound, "no phone is paired with that MAC")
	case errors.Is(err, accounts.ErrFromConfig):
		writeError(w, http.StatusConflict, "that phone's account is written in the config file: remove its mac there")
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
	default:
		writeJSON(w, http.StatusOK, map[string]string{"unpaired": accounts.NormalizeMAC(raw), "extension": acct.Extension})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
