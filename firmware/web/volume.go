package web

import "net/http"

// Levels are the handset's volumes, 0–100.
type Levels struct {
	Speaker int `json:"speaker"`
	Ringer  int `json:"ringer"`
	Mic     int `json:"mic"`
}

// Volumes is the sound card's mixer as the phone page drives it.
type Volumes interface {
	Levels() Levels
	SetLevels(Levels) error
}

// SetVolumes enables the volume controls of the phone page.
func (s *Server) SetVolumes(v Volumes) {
	s.mux.HandleFunc("GET /api/v1/volume", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, v.Levels())
	})
	s.mux.HandleFunc("POST /api/v1/volume", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Speaker *int `json:"speaker"`
			Ringer  *int `json:"ringer"`
			Mic     *int `json:"mic"`
		}
		if _, ok := decode(w, r, &b); !ok {
			return
		}
		l := v.Levels()
		for _, f := range []struct {
			in  *int
			out *int
		}{{b.Speaker, &l.Speaker}, {b.Ringer, &l.Ringer}, {b.Mic, &l.Mic}} {
			if f.in == nil {
				continue
			}
			if *f.in < 0 || *f.in > 100 {
				writeError(w, http.StatusBadRequest, "volumes go from 0 to 100")
				return
			}
			*f.out = *f.in
		}
		if err := v.SetLevels(l); err != nil {
			writeError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, v.Levels())
	})
}
