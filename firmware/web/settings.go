package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/deskphone/deskphone/firmware/atomicfile"
	"github.com/deskphone/deskphone/firmware/config"
)

const maxConfigBytes = 256 << 10

// SetSettings enables the settings page on the config file at path; restart applies a saved
// file by restarting the service.
func (s *Server) SetSettings(path string, restart func()) {
	s.configPath, s.restart = path, restart
	s.mux.HandleFunc("GET /api/v1/settings", s.getSettings)
	s.mux.HandleFunc("POST /api/v1/settings/check", s.checkSettings)
	s.mux.HandleFunc("PUT /api/v1/settings", s.saveSettings)
}

type problemView struct {
	Line int    `json:"line"`
	Key  string `json:"key,omitempty"`
	Msg  string `json:"message"`
	Text string `json:"text,omitempty"` // the line as written
}

type settingsBody struct {
	Text *string `json:"text"`
}

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request) {
	b, err := os.ReadFile(s.configPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		writeError(w, http.StatusInternalServerError, "read the config file: "+err.Error())
		return
	}
	if len(b) == 0 {
		text, err := config.Example(nil)
		if err == nil {
			b = []byte(text)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"path": s.configPath, "text": string(b)})
}

// checked decodes {"text": …} and runs `deskphone check` on it.
func (s *Server) checked(w http.ResponseWriter, r *http.Request) (string, []problemView, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxConfigBytes+4096))
	if err != nil || len(body) > maxConfigBytes {
		writeError(w, http.StatusRequestEntityTooLarge, "the config file must be under 256 KiB")
		return "", nil, false
	}
	var b settingsBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil || b.Text == nil {
		writeError(w, http.StatusBadRequest, `send {"text":"<the whole config file>"}`)
		return "", nil, false
	}
	return *b.Text, problemsOf(*b.Text), true
}

func problemsOf(text string) []problemView {
	_, err := config.Parse(checkName, []byte(text))
	out := []problemView{}
	var ps *config.Problems
	if errors.As(err, &ps) {
		lines := strings.Split(text, "\n")
		for _, p := range ps.List {
			v := problemView{Line: p.Line, Key: p.Key, Msg: p.Msg}
			if p.Line > 0 && p.Line <= len(lines) {
				v.Text = strings.TrimRight(lines[p.Line-1], "\r")
			}
			out = append(out, v)
		}
	} else if err != nil {
		out = append(out, problemView{Msg: err.Error()})
	}
	return out
}

// checkName names the edited text in check's messages.
const checkName = "deskphone.toml"

func (s *Server) checkSettings(w http.ResponseWriter, r *http.Request) {
	if _, ps, ok := s.checked(w, r); ok {
		writeJSON(w, http.StatusOK, map[string]any{"problems": ps})
	}
}

// saveSettings checks the text, keeps the current file as <path>.old, writes the new one
// atomically and restarts the service to apply it. A text with problems changes nothing.
func (s *Server) saveSettings(w http.ResponseWriter, r *http.Request) {
	text, ps, ok := s.checked(w, r)
	if !ok {
		return
	}
	if len(ps) > 0 {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "the file has problems: nothing was saved", "problems": ps})
		return
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	mode := os.FileMode(0o600)
	old, err := os.ReadFile(s.configPath)
	switch {
	case err == nil:
		if st, err := os.Stat(s.configPath); err == nil {
			mode = st.Mode().Perm()
		}
		if err := atomicfile.Write(s.configPath+".old", old, mode); err != nil {
			writeError(w, http.StatusInternalServerError, "keep the old file: "+err.Error())
			return
		}
	case !errors.Is(err, os.ErrNotExist):
		writeError(w, http.StatusInternalServerError, "read the config file: "+err.Error())
		return
	}
	if err := atomicfile.Write(s.configPath, []byte(text), mode); err != nil {
		writeError(w, http.StatusInternalServerError, "save the config file: "+err.Error())
		return
	}
	s.log.Info("web: config saved, restarting to apply it", "path", s.configPath, "old", s.configPath+".old", "source", remoteIP(r).String())
	writeJSON(w, http.StatusOK, map[string]any{"message": "saved (the previous file is " + s.configPath + ".old); the service restarts to apply it: log in again in a few seconds", "problems": ps})
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	if s.restart != nil {
		s.restart()
	}
}
