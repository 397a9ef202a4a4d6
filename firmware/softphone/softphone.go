// Package softphone serves the browser phone: the /phone/ page and the JsSIP library it runs
// (static/jssip.min.js, defining the global JsSIP, with its licences in
// static/jssip.LICENSE.txt). The files are embedded, so the firmware needs no Node.js; the JsSIP
// bundle is regenerated from the versions pinned in jssip/package-lock.json by jssip/gen.sh, and
// a test checks it against jssip/jssip.min.js.sha256.
//
// The page must be served over HTTPS (browsers grant the microphone only to secure contexts);
// mounting it, and the SIP WebSocket it connects to, is the web server's job.
package softphone

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var static embed.FS

// Prefix is the URL path the handler expects to be mounted at.
const Prefix = "/phone/"

// Handler serves the embedded files under Prefix: GET and HEAD only, no directory listings,
// and headers that keep the page from being framed or its scripts from being sniffed.
func Handler() http.Handler {
	files, _ := fs.Sub(static, "static") // "static" exists: it is embedded
	return &handler{files: files}
}

type handler struct{ files fs.FS }

// contentType names the types of the files the page is made of; the system's MIME table is not
// used, as it differs between hosts.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".txt":
		return "text/plain; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	return "application/octet-stream"
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		if r.URL.Path == strings.TrimSuffix(Prefix, "/") {
			http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
			return
		}
		http.NotFound(w, r)
		return
	}
	if name == "" {
		name = "index.html"
	}
	name = path.Clean(name)
	if !fs.ValidPath(name) || strings.HasPrefix(name, ".") {
		http.NotFound(w, r)
		return
	}
	body, err := fs.ReadFile(h.files, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", contentType(name))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' wss: ws:; media-src 'self' blob: mediastream:; img-src 'self' data:; frame-ancestors 'none'")
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}
