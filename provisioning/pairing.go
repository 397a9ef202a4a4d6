package provisioning

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/deskphone/deskphone/firmware/accounts"
)

// PairingMode says how a phone with an unknown MAC gets an account.
type PairingMode string

const (
	// PairingButton pairs the first unknown phone that asks while a window, opened by the API, the
	// `deskphone ctl pair` command or the pair button, is open; the window then closes.
	PairingButton PairingMode = "button"
	// PairingOpen pairs every unknown phone that asks. For a closed lab network only.
	PairingOpen PairingMode = "open"
	// PairingOff never pairs: only phones written in the config file (with their MAC) are served.
	PairingOff PairingMode = "off"
)

// ErrPairingOff is returned by OpenPairing when the config says pairing = "off".
var ErrPairingOff = errors.New(`pairing is off in the config ([provisioning] pairing = "off")`)

// maxPairingWindow bounds a window opened through the API.
const maxPairingWindow = time.Hour

// OpenPairing opens the pairing window for d (0 = the configured window, 5 min): the first phone with
// an unknown MAC that asks for its file in that time gets the next free extension, and the window
// closes. Opening an open window restarts its time.
func (s *Server) OpenPairing(d time.Duration) error {
	if d <= 0 {
		d = s.cfg.PairingWindow
	}
	if d > maxPairingWindow {
		d = maxPairingWindow
	}
	switch s.cfg.Pairing {
	case PairingOff:
		return ErrPairingOff
	case PairingOpen:
		return nil
	}
	s.mu.Lock()
	s.windowUntil = s.now().Add(d)
	s.mu.Unlock()
	s.log.Info("pairing window open: restart the Alcatel phone to pair it", "seconds", int(d/time.Second))
	return nil
}

// ClosePairing closes the pairing window.
func (s *Server) ClosePairing() {
	s.mu.Lock()
	wasOpen := s.pairingOpenLocked(s.now())
	s.windowUntil = time.Time{}
	s.mu.Unlock()
	if wasOpen {
		s.log.Info("pairing window closed")
	}
}

func (s *Server) pairingOpenLocked(now time.Time) bool {
	switch s.cfg.Pairing {
	case PairingOpen:
		return true
	case PairingButton:
		return now.Before(s.windowUntil)
	}
	return false
}

// servePhone answers sipconfig-<MAC>.txt: the phone's own file for a known MAC from its bound address
// (binding it on the first fetch), a new account for an unknown MAC while pairing is open, and the
// common refusal otherwise.
func (s *Server) servePhone(w http.ResponseWriter, r *http.Request, mac string, src netip.Addr, now time.Time, log *slog.Logger) {
	log = log.With("mac", mac)
	fw := parseUserAgent(r.UserAgent())
	st, ok := s.siteFor(r, fw, log)
	if !ok {
		refuse(w)
		return
	}

	s.mu.Lock()
	acct, ps, err := s.phoneFor(mac, src, fw, now, log)
	if err != nil {
		s.refusedLocked(log, src, mac, now)
		s.mu.Unlock()
		refuse(w)
		return
	}
	p := phone{MAC: mac, Model: ps.Model, Account: acct, AdminPassword: ps.AdminPassword, TelnetPassword: ps.TelnetPassword}
	ps.lastFetch = now
	s.mu.Unlock()

	if s.serveFile(w, r, renderPhone(st, p), log) {
		log.Info("alcatel phone configuration served", "extension", acct.Extension, "firmware", fw.Version)
	}
}

// errRefused is phoneFor's "answer with the common 404"; the reason is already logged.
var errRefused = errors.New("refused")

// phoneFor decides, under s.mu, whether src may have mac's file, pairing or binding as needed.
func (s *Server) phoneFor(mac string, src netip.Addr, fw firmware, now time.Time, log *slog.Logger) (accounts.Account, *phoneState, error) {
	open := s.pairingOpenLocked(now)
	acct, known := s.dir.ByMAC(mac)
	ps := s.phones[mac]
	if !known {
		if !open {
			switch s.cfg.Pairing {
			case PairingOff:
				log.Warn(`unknown Alcatel phone refused: pairing is off; add it under [[registrar.accounts]] with its mac, or set [provisioning] pairing = "button"`)
			default:
				log.Warn("unknown Alcatel phone refused: to pair it, press the pair button or run `deskphone ctl pair` (or POST /api/v1/pairing), then restart the phone")
			}
			return acct, nil, errRefused
		}
		var err error
		acct, ps, err = s.pairLocked(mac, src, fw, now)
		if err != nil {
			log.Error("pairing failed", "err", err)
			return acct, nil, errRefused
		}
		switch s.cfg.Pairing {
		case PairingButton:
			s.windowUntil = time.Time{}
		case PairingOpen: // one address pairing many phones at once is guessing, not plugging in phones
			if s.guard.refused(src, mac, now) {
				log.Warn("source banned from provisioning: it paired too many phones at once", "ban", s.cfg.BanTime.String())
			}
		}
		log.Info("Alcatel phone paired: it registers with these credentials once it has read its file",
			"extension", acct.Extension, "display_name", acct.DisplayName)
		return acct, ps, nil
	}

	changed := false
	orig := ps
	if ps != nil {
		cp := *ps // changed below, kept only once saved
		ps = &cp
	}
	if ps == nil { // known from the config file, or state lost: first fetch
		var err error
		if ps, err = newPhoneState(mac, now); err != nil {
			log.Error("cannot make the phone's handset passwords", "err", err)
			return acct, nil, errRefused
		}
		changed = true
	}
	switch {
	case !ps.Source.IsValid():
		ps.Source = src
		changed = true
		log.Info("Alcatel phone bound to its address: from now on only this address gets its file", "extension", acct.Extension)
	case ps.Source != src && open && s.cfg.Pairing == PairingButton: // an explicit window, never "open" mode
		log.Warn("Alcatel phone moved to a new address during a pairing window: bound to it", "old", ps.Source.String(), "extension", acct.Extension)
		ps.Source = src
		changed = true
		s.windowUntil = time.Time{}
	case ps.Source != src:
		log.Warn("Alcatel configuration refused: this MAC is bound to another address (give the phone a fixed DHCP lease, or open a pairing window to move it)",
			"bound", ps.Source.String())
		return acct, nil, errRefused
	}
	if fw.known && (ps.Model != fw.Model || ps.Firmware != fw.Version) {
		ps.Model, ps.Firmware = fw.Model, fw.Version
		changed = true
	}
	if !changed {
		return acct, orig, nil
	}
	next := s.copyPhones()
	next[mac] = ps
	if err := saveState(s.cfg.StatePath, next); err != nil {
		log.Error("cannot save the phone's binding; refusing rather than forgetting it", "err", err)
		return acct, nil, errRefused
	}
	s.phones = next
	return acct, ps, nil
}

// pairLocked creates the account of a new phone and binds it to src.
func (s *Server) pairLocked(mac string, src netip.Addr, fw firmware, now time.Time) (accounts.Account, *phoneState, error) {
	if len(s.phones) >= s.cfg.MaxPhones {
		return accounts.Account{}, nil, fmt.Errorf("%d phones are paired already, the most this phone system takes; unpair one first: %w", len(s.phones), ErrTooManyPhones)
	}
	ext, err := s.dir.NextFreeExtension(s.cfg.FirstExtension)
	if err != nil {
		return accounts.Account{}, nil, err
	}
	pw, err := accounts.GeneratePassword(20)
	if err != nil {
		return accounts.Account{}, nil, err
	}
	ps, err := newPhoneState(mac, now)
	if err != nil {
		return accounts.Account{}, nil, err
	}
	ps.Source = src
	ps.Model, ps.Firmware = fw.Model, fw.Version
	name := "Alcatel " + ext
	if fw.Model != "" {
		name = fmt.Sprintf("IP Touch %s (%s)", fw.Model, ext)
	}
	acct := accounts.Account{
		Extension:   ext,
		Username:    ext,
		Password:    pw,
		DisplayName: name,
		MAC:         mac,
		Origin:      accounts.OriginPaired,
		Created:     now.UTC(),
	}
	next := s.copyPhones()
	next[mac] = ps
	if err := saveState(s.cfg.StatePath, next); err != nil {
		return accounts.Account{}, nil, err
	}
	if err := s.dir.Add(acct); err != nil {
		_ = saveState(s.cfg.StatePath, s.phones) // back to what it was
		return accounts.Account{}, nil, err
	}
	s.phones = next
	return acct, ps, nil
}

// ErrTooManyPhones is why a new phone is not paired once Config.MaxPhones are.
var ErrTooManyPhones = errors.New("too many paired phones")

func newPhoneState(mac string, now time.Time) (*phoneState, error) {
	admin, err := generateDigits(adminPasswordDigits)
	if err != nil {
		return nil, err
	}
	telnet, err := generateDigits(telnetPasswordDigits)
	if err != nil {
		return nil, err
	}
	return &phoneState{MAC: mac, AdminPassword: admin, TelnetPassword: telnet, FirstFetch: now.UTC()}, nil
}

func (s *Server) copyPhones() map[string]*phoneState {
	next := make(map[string]*phoneState, len(s.phones)+1)
	for k, v := range s.phones {
		next[k] = v
	}
	return next
}

// Unpair removes the account paired with mac and forgets its binding and handset passwords. An
// account written in the config file stays (accounts.ErrFromConfig).
func (s *Server) Unpair(mac string) (accounts.Account, error) {
	m := accounts.NormalizeMAC(mac)
	s.mu.Lock()
	defer s.mu.Unlock()
	acct, ok := s.dir.ByMAC(m)
	if !ok {
		return acct, fmt.Errorf("unpair %s: %w", mac, accounts.ErrNotFound)
	}
	if err := s.dir.Remove(acct.Extension); err != nil {
		return acct, err
	}
	next := s.copyPhones()
	delete(next, m)
	if err := saveState(s.cfg.StatePath, next); err != nil {
		return acct, err
	}
	s.phones = next
	s.log.Info("Alcatel phone unpaired", "mac", m, "extension", acct.Extension)
	return acct, nil
}
