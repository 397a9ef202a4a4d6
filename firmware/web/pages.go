package web

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

//go:embed ui/*.html
var pageFiles embed.FS

//go:embed ui/static
var staticFiles embed.FS

// page is what every template gets.
type page struct {
	Title       string
	Nav         string
	CSRF        string
	Fingerprint string
	Error       string
}

func (s *Server) routePages() {
	static, _ := fs.Sub(staticFiles, "ui/static")
	s.pages.Handle("GET /static/", http.StripPrefix("/static/", http.FileServer(http.FS(static))))
	s.pages.HandleFunc("GET /login", s.loginPage)
	s.pages.HandleFunc("POST /login", s.login)
	s.pages.HandleFunc("POST /logout", s.logout)
	for path, name := range map[string]string{"/{$}": "dashboard", "/phone": "phone", "/accounts": "accounts",
		"/pairing": "pairing", "/calls": "calls", "/settings": "settings", "/logs": "logs"} {
		s.pages.HandleFunc("GET "+path, s.loggedIn(name))
	}
}

// parsePages parses every page with the layout, once.
func parsePages() map[string]*template.Template {
	out := map[string]*template.Template{}
	names, _ := fs.Glob(pageFiles, "ui/*.html")
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "ui/"), ".html")
		if name == "layout" {
			continue
		}
		out[name] = template.Must(template.New("").ParseFS(pageFiles, "ui/layout.html", n))
	}
	return out
}

func (s *Server) render(w http.ResponseWriter, code int, name string, p page) {
	t := s.templates[name]
	p.Nav = name
	p.Fingerprint = s.Fingerprint()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if err := t.ExecuteTemplate(w, "layout", p); err != nil {
		s.log.Warn("web: page", "name", name, "err", err)
	}
}

// loggedIn serves a page to a logged-in browser and sends others to the login page.
func (s *Server) loggedIn(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := s.sessions.get(r)
		if sess == nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		title := strings.ToUpper(name[:1]) + name[1:]
		if name == "dashboard" {
			title = "Status"
		}
		s.render(w, http.StatusOK, name, page{Title: title, CSRF: sess.csrf})
	}
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.sessions.get(r) != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, "login", page{Title: "Log in"})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if fromBrowserElsewhere(r, "https") {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	ip := remoteIP(r)
	if s.admin == nil || !s.admin.check(r.PostFormValue("password")) {
		s.credentialFailed(ip, "passwords")
		s.render(w, http.StatusUnauthorized, "login", page{Title: "Log in", Error: "Wrong password."})
		return
	}
	id, _ := s.sessions.create()
	http.SetCookie(w, sessionCookie(id, int(sessionIdle/time.Second)))
	s.log.Info("web: logged in", "source", ip.String())
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	sess := s.sessions.get(r)
	if sess == nil || fromBrowserElsewhere(r, "https") || !csrfOK(sess, r) {
		http.Error(w, "refused", http.StatusForbidden)
		return
	}
	s.sessions.drop(r)
	http.SetCookie(w, sessionCookie("", -1))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
