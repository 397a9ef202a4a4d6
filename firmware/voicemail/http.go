package voicemail

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// APIPatterns are the patterns to mount Handler under, on the web server that checks the API token.
var APIPatterns = []string{
	"/api/v1/voicemail/{box}",
	"/api/v1/voicemail/{box}/{id}",
}

// Handler serves the mailboxes over HTTP, for the web pages:
//
//	GET    /api/v1/voicemail/{box}         {"box","new","saved","messages":[{id,folder,caller,time,seconds}]}
//	GET    /api/v1/voicemail/{box}/{id}    the message as audio/wav (plays in a browser)
//	POST   /api/v1/voicemail/{box}/{id}    save it (no longer new)
//	DELETE /api/v1/voicemail/{box}/{id}    delete it
//	PUT    /api/v1/voicemail/{box}/greeting  the mailbox's own greeting (8 kHz mono WAV); DELETE: back to the default
func (s *Store) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		box, id := r.PathValue("box"), strings.TrimSuffix(r.PathValue("id"), ".wav")
		if !validExt(box) {
			httpError(w, http.StatusNotFound, "no such mailbox")
			return
		}
		if id == "greeting" {
			s.serveGreeting(w, r, box)
			return
		}
		if id == "" {
			if r.Method != http.MethodGet {
				w.Header().Set("Allow", "GET")
				httpError(w, http.StatusMethodNotAllowed, "use GET")
				return
			}
			msgs, err := s.List(box)
			if err != nil {
				httpError(w, http.StatusInternalServerError, err.Error())
				return
			}
			n, saved := count(msgs)
			if msgs == nil {
				msgs = []Message{}
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"box": box, "new": n, "saved": saved, "messages": msgs})
			return
		}
		var err error
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			var p string
			if p, err = s.Path(box, id); err == nil {
				w.Header().Set("Content-Type", "audio/wav")
				http.ServeFile(w, r, p)
				return
			}
		case http.MethodPost:
			err = s.Save(box, id)
		case http.MethodDelete:
			err = s.Delete(box, id)
		default:
			w.Header().Set("Allow", "GET, POST, DELETE")
			httpError(w, http.StatusMethodNotAllowed, "use GET, POST (save) or DELETE")
			return
		}
		switch {
		case errors.Is(err, ErrNoMessage):
			httpError(w, http.StatusNotFound, "no such message in mailbox "+box)
		case err != nil:
			httpError(w, http.StatusInternalServerError, err.Error())
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
}

// maxGreeting bounds an uploaded greeting (a minute of 16-bit audio).
const maxGreeting = 60*bytesPerSec + 4096

func (s *Store) serveGreeting(w http.ResponseWriter, r *http.Request, box string) {
	var err error
	switch r.Method {
	case http.MethodPut:
		b, rerr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxGreeting))
		if rerr != nil {
			httpError(w, http.StatusRequestEntityTooLarge, "a greeting is at most one minute of 8 kHz mono WAV")
			return
		}
		pcm, derr := decodeWAV(b)
		if derr != nil {
			httpError(w, http.StatusBadRequest, derr.Error())
			return
		}
		err = s.SetGreeting(box, pcm)
	case http.MethodDelete:
		err = s.SetGreeting(box, nil)
	default:
		w.Header().Set("Allow", "PUT, DELETE")
		httpError(w, http.StatusMethodNotAllowed, "use PUT (an 8 kHz mono WAV) or DELETE")
		return
	}
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
