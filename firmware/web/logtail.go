package web

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
)

// LogTail keeps the last lines written to it (the service log) for the logs page. Use it as one
// side of an io.MultiWriter beside the console.
type LogTail struct {
	mu    sync.Mutex
	lines []string
	next  int
	full  bool
	part  []byte
}

// NewLogTail keeps the last n lines.
func NewLogTail(n int) *LogTail { return &LogTail{lines: make([]string, n)} }

func (l *LogTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	data := append(l.part, p...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		line := data[:i]
		if len(line) > 2000 {
			line = line[:2000]
		}
		l.lines[l.next] = string(line)
		l.next = (l.next + 1) % len(l.lines)
		l.full = l.full || l.next == 0
		data = data[i+1:]
	}
	if len(data) > 4096 {
		data = data[:4096]
	}
	l.part = append(l.part[:0], data...)
	return len(p), nil
}

// Last returns up to n of the newest lines, oldest first.
func (l *LogTail) Last(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var all []string
	if l.full {
		all = append(all, l.lines[l.next:]...)
	}
	all = append(all, l.lines[:l.next]...)
	if len(all) > n {
		all = all[len(all)-n:]
	}
	return all
}

// SetLogs enables the logs page on tail.
func (s *Server) SetLogs(tail *LogTail) {
	s.logs = tail
	s.mux.HandleFunc("GET /api/v1/logs", func(w http.ResponseWriter, r *http.Request) {
		n := 200
		if v, err := strconv.Atoi(r.URL.Query().Get("lines")); err == nil && v > 0 && v <= 5000 {
			n = v
		}
		writeJSON(w, http.StatusOK, map[string]any{"lines": tail.Last(n)})
	})
}
