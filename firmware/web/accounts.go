package web

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/deskphone/deskphone/firmware/accounts"
)

// Directory is the registrar's account directory (firmware/accounts) as the pages edit it.
type Directory interface {
	All() []accounts.Account
	Lookup(user string) (accounts.Account, bool)
	Add(a accounts.Account) error
	Remove(ext string) error
	NextFreeExtension(start string) (string, error)
}

// SIPInfo is what a softphone needs besides its account: the registrar's port and realm.
type SIPInfo struct {
	Port  int
	Realm string
}

// originPage marks the accounts made on the page; they live in data_dir like the generated ones.
const originPage accounts.Origin = "web"

const setupLinkLifetime = 10 * time.Minute

var (
	extensionRe = regexp.MustCompile(`^[0-9]{1,15}$`)
	usernameRe  = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,32}$`)
)

// setupLinks are one-time links a softphone scans (QR code) to fetch its account.
type setupLinks struct {
	mu    sync.Mutex
	links map[string]setupLink
}

type setupLink struct {
	ext     string
	expires time.Time
}

// SetAccounts enables the accounts page and API on dir.
func (s *Server) SetAccounts(dir Directory, sip SIPInfo) {
	s.dir, s.sip = dir, sip
	s.mux.HandleFunc("GET /api/v1/accounts", s.listAccounts)
	s.mux.HandleFunc("POST /api/v1/accounts", s.addAccount)
	s.mux.HandleFunc("PATCH /api/v1/accounts/{ext}", s.renameAccount)
	s.mux.HandleFunc("DELETE /api/v1/accounts/{ext}", s.removeAccount)
	s.mux.HandleFunc("GET /api/v1/accounts/{ext}/password", s.showPassword)
	s.mux.HandleFunc("POST /api/v1/accounts/{ext}/password", s.regeneratePassword)
	s.mux.HandleFunc("POST /api/v1/accounts/{ext}/setup-link", s.setupLink)
	s.pages.HandleFunc("GET /setup/linphone/{token}", s.linphoneConfig)
}

type accountView struct {
	Extension   string `json:"extension"`
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
	Origin      string `json:"origin"`
	MAC         string `json:"mac,omitempty"`
	Editable    bool   `json:"editable"`
}

func view(a accounts.Account) accountView {
	return accountView{Extension: a.Extension, Username: a.Username, DisplayName: a.DisplayName, Origin: string(a.Origin),
		MAC: a.MAC, Editable: a.Origin != accounts.OriginConfig}
}

func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request) {
	out := []accountView{}
	for _, a := range s.dir.All() {
		out = append(out, view(a))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) account(w http.ResponseWriter, r *http.Request, editable bool) (accounts.Account, bool) {
	ext := r.PathValue("ext")
	for _, a := range s.dir.All() {
		if a.Extension == ext {
			if editable && a.Origin == accounts.OriginConfig {
				writeError(w, http.StatusConflict, "account "+ext+" is written in the config file: change it there (Settings)")
				return a, false
			}
			return a, true
		}
	}
	writeError(w, http.StatusNotFound, "no account "+ext)
	return accounts.Account{}, false
}

func displayNameOK(n string) bool {
	return len(n) <= 64 && !strings.ContainsFunc(n, func(r rune) bool { return r < ' ' || r == 0x7f || r == '"' || r == '<' || r == '>' })
}

type accountBody struct {
	Extension   string  `json:"extension"`
	Username    string  `json:"username"`
	DisplayName *string `json:"display_name"`
}

func (s *Server) addAccount(w http.ResponseWriter, r *http.Request) {
	var b accountBody
	if _, ok := decode(w, r, &b); !ok {
		return
	}
	if b.Extension == "" {
		ext, err := s.dir.NextFreeExtension("5003")
		if err != nil {
			writeError(w, http.StatusConflict, err.Error())
			return
		}
		b.Extension = ext
	}
	if b.Username == "" {
		b.Username = b.Extension
	}
	a := accounts.Account{Extension: b.Extension, Username: b.Username, Origin: originPage}
	if b.DisplayName != nil {
		a.DisplayName = *b.DisplayName
	}
	if msg := checkAccount(a); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	pw, err := accounts.GeneratePassword(20)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	a.Password = pw
	if err := s.dir.Add(a); err != nil {
		writeError(w, accountErrCode(err), err.Error())
		return
	}
	s.log.Info("web: account added", "extension", a.Extension, "username", a.Username)
	writeJSON(w, http.StatusOK, map[string]any{"account": view(a), "password": pw})
}

func checkAccount(a accounts.Account) string {
	switch {
	case !extensionRe.MatchString(a.Extension):
		return "the extension must be 1 to 15 digits"
	case !usernameRe.MatchString(a.Username):
		return "the username must be 1 to 32 letters, digits or . _ ~ -"
	case !displayNameOK(a.DisplayName):
		return "the name must be at most 64 printable characters, without \" < >"
	}
	return ""
}

func accountErrCode(err error) int {
	if errors.Is(err, accounts.ErrExists) {
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// replace swaps an account for its edited copy, putting the old one back if that fails.
func (s *Server) replace(old, next accounts.Account) error {
	if err := s.dir.Remove(old.Extension); err != nil {
		return err
	}
	if err := s.dir.Add(next); err != nil {
		if err2 := s.dir.Add(old); err2 != nil {
			return fmt.Errorf("%w (and the old account could not be restored: %v)", err, err2)
		}
		return err
	}
	return nil
}

func (s *Server) renameAccount(w http.ResponseWriter, r *http.Request) {
	a, ok := s.account(w, r, true)
	if !ok {
		return
	}
	var b accountBody
	if _, ok := decode(w, r, &b); !ok {
		return
	}
	next := a
	if b.Username != "" {
		next.Username = b.Username
	}
	if b.DisplayName != nil {
		next.DisplayName = *b.DisplayName
	}
	if b.Extension != "" && b.Extension != a.Extension {
		writeError(w, http.StatusBadRequest, "the extension cannot change: add a new account instead")
		return
	}
	if msg := checkAccount(next); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	if err := s.replace(a, next); err != nil {
		writeError(w, accountErrCode(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, view(next))
}

func (s *Server) removeAccount(w http.ResponseWriter, r *http.Request) {
	a, ok := s.account(w, r, true)
	if !ok {
		return
	}
	if err := s.dir.Remove(a.Extension); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.log.Info("web: account removed", "extension", a.Extension)
	writeJSON(w, http.StatusOK, view(a))
}

func (s *Server) showPassword(w http.ResponseWriter, r *http.Request) {
	a, ok := s.account(w, r, false)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"extension": a.Extension, "password": a.Password})
}

func (s *Server) regeneratePassword(w http.ResponseWriter, r *http.Request) {
	a, ok := s.account(w, r, true)
	if !ok {
		return
	}
	pw, err := accounts.GeneratePassword(20)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	next := a
	next.Password = pw
	if err := s.replace(a, next); err != nil {
		writeError(w, accountErrCode(err), err.Error())
		return
	}
	s.log.Info("web: account password regenerated", "extension", a.Extension)
	writeJSON(w, http.StatusOK, map[string]string{"extension": a.Extension, "password": pw})
}

// setupLink makes a one-time link (10 minutes) that Linphone's remote provisioning fetches, and
// its QR code as inline SVG.
func (s *Server) setupLink(w http.ResponseWriter, r *http.Request) {
	a, ok := s.account(w, r, false)
	if !ok {
		return
	}
	tok := randomString(24)
	s.links.mu.Lock()
	if s.links.links == nil {
		s.links.links = map[string]setupLink{}
	}
	now := time.Now()
	for k, l := range s.links.links {
		if now.After(l.expires) {
			delete(s.links.links, k)
		}
	}
	s.links.links[tok] = setupLink{ext: a.Extension, expires: now.Add(setupLinkLifetime)}
	s.links.mu.Unlock()
	link := "https://" + r.Host + "/setup/linphone/" + tok
	svg, err := qrSVG(link)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"url": link, "svg": svg, "expires": now.Add(setupLinkLifetime)})
}

// qrSVG draws text as a QR code in SVG, one path, no image file.
func qrSVG(text string) (string, error) {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return "", fmt.Errorf("QR code: %w", err)
	}
	bm := q.Bitmap()
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="232" height="232" shape-rendering="crispEdges"><rect width="100%%" height="100%%" fill="#fff"/><path fill="#000" d="`, len(bm), len(bm))
	for y, row := range bm {
		for x, on := range row {
			if on {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x, y)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String(), nil
}

// linphoneConfig answers a setup link once, with Linphone's XML remote provisioning.
func (s *Server) linphoneConfig(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	s.links.mu.Lock()
	l, ok := s.links.links[tok]
	delete(s.links.links, tok)
	s.links.mu.Unlock()
	if !ok || time.Now().After(l.expires) {
		http.Error(w, "this setup link was used already or has expired: make a new QR code on the Accounts page", http.StatusNotFound)
		return
	}
	var a accounts.Account
	found := false
	for _, x := range s.dir.All() {
		if x.Extension == l.ext {
			a, found = x, true
		}
	}
	if !found {
		http.NotFound(w, r)
		return
	}
	host := hostName(r.Host)
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	proxy := host + ":" + strconv.Itoa(s.sip.Port)
	e := template.HTMLEscapeString
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<config xmlns="http://www.linphone.org/xsds/lpconfig.xsd">
  <section name="proxy_0">
    <entry name="reg_proxy">%s</entry>
    <entry name="reg_identity">%s</entry>
    <entry name="reg_expires">3600</entry>
    <entry name="reg_sendregister">1</entry>
    <entry name="realm">%s</entry>
  </section>
  <section name="auth_info_0">
    <entry name="username">%s</entry>
    <entry name="passwd">%s</entry>
    <entry name="realm">%s</entry>
    <entry name="domain">%s</entry>
  </section>
</config>
`, e("<sip:"+proxy+";transport=udp>"), e(`"`+a.DisplayName+`" <sip:`+a.Username+"@"+host+">"), e(s.sip.Realm),
		e(a.Username), e(a.Password), e(s.sip.Realm), e(host))
	s.log.Info("web: softphone fetched its setup", "extension", a.Extension, "source", remoteIP(r).String())
}
