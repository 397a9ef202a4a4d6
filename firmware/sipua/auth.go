package sipua

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// ErrChallengeRefused is returned when a challenge comes from somewhere our credentials must not go.
var ErrChallengeRefused = errors.New("credentials refused to this challenger")

// authorize adds digest credentials (RFC 3261 §22.2, RFC 2617) answering res to req, but only when
// the challenge comes from the registrar (or backup) we send to and names the configured realm (or
// the realm the registrar used first). Anything else gets nothing: a peer that challenges our BYE
// or re-INVITE with our registrar's realm is after an offline password crack (CVE-2021-41158).
func (u *UA) authorize(req *sip.Request, res *sip.Response) error {
	hdrName, authName := "WWW-Authenticate", "Authorization"
	if res.StatusCode == sip.StatusProxyAuthRequired {
		hdrName, authName = "Proxy-Authenticate", "Proxy-Authorization"
	}
	h := res.GetHeader(hdrName)
	if h == nil {
		return fmt.Errorf("%d without %s", res.StatusCode, hdrName)
	}
	chal, err := digest.ParseChallenge(h.Value())
	if err != nil {
		return fmt.Errorf("bad %s from %s: %w", hdrName, res.Source(), err)
	}
	if !u.trustedSource(res.Source()) {
		return fmt.Errorf("%w: %s is not the registrar (%s)", ErrChallengeRefused, res.Source(), u.registrarAddr())
	}
	u.mu.Lock()
	want := u.cfg.Realm
	if want == "" {
		want = u.realm
	}
	if want == "" {
		u.realm = chal.Realm // first challenge from the registrar fixes the realm
		want = chal.Realm
	}
	u.mu.Unlock()
	if chal.Realm != want {
		return fmt.Errorf("%w: realm %q is not %q", ErrChallengeRefused, chal.Realm, want)
	}
	cred, err := digest.Digest(chal, digest.Options{
		Method:   string(req.Method),
		URI:      req.Recipient.Addr(),
		Username: u.cfg.Username,
		Password: u.cfg.Password,
		Count:    1,
	})
	if err != nil {
		return fmt.Errorf("digest for %s: %w", res.Source(), err)
	}
	req.RemoveHeader(authName)
	req.AppendHeader(sip.NewHeader(authName, cred.String()))
	return nil
}

// trustedSource tells whether a response came from the primary or backup registrar.
func (u *UA) trustedSource(src string) bool {
	for _, r := range []string{u.cfg.Registrar, u.cfg.BackupRegistrar} {
		if r != "" && sameAddr(src, r) {
			return true
		}
	}
	return false
}

func sameAddr(a, b string) bool {
	ah, ap, err1 := net.SplitHostPort(a)
	bh, bp, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || ap != bp {
		return false
	}
	if strings.EqualFold(ah, bh) {
		return true
	}
	ips, err := net.LookupIP(bh)
	if err != nil {
		return false
	}
	aip := net.ParseIP(ah)
	for _, ip := range ips {
		if ip.Equal(aip) {
			return true
		}
	}
	return false
}

// fromRegistrar tells whether a new call may come from src: with a registrar configured, only from
// the registrar's (or backup's) address; without one, from anywhere.
func (u *UA) fromRegistrar(src string) bool {
	if u.cfg.Registrar == "" {
		return true
	}
	sh, _, err := net.SplitHostPort(src)
	if err != nil {
		return false
	}
	sip := net.ParseIP(sh)
	for _, r := range []string{u.cfg.Registrar, u.cfg.BackupRegistrar} {
		h, _, err := net.SplitHostPort(r)
		if r == "" || err != nil {
			continue
		}
		if strings.EqualFold(h, sh) {
			return true
		}
		ips, _ := net.LookupIP(h)
		for _, ip := range ips {
			if ip.Equal(sip) {
				return true
			}
		}
	}
	return false
}
