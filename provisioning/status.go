package provisioning

import (
	"fmt"
	"net"
	"strconv"
	"time"
)

// StatusReport is what Status returns: everything a user needs to get a phone provisioned.
type StatusReport struct {
	Firmware firmwareReport `json:"firmware"`
	Pairing  PairingReport  `json:"pairing"`
	// DownloadAddresses are the Pi's LAN addresses: one of them is the "DL address" to type on the
	// phone (menu i then #), with DownloadPort as "DL port" and DL scheme HTTP.
	DownloadAddresses []string `json:"download_addresses"`
	DownloadPort      int      `json:"download_port"`
	Instructions      string   `json:"instructions"`
	Phones            int      `json:"paired_phones"`
	BannedSources     int      `json:"banned_sources"`
}

// PairingReport is the state of pairing.
type PairingReport struct {
	Mode        PairingMode `json:"mode"`
	Open        bool        `json:"open"`
	ClosesAt    *time.Time  `json:"closes_at,omitempty"`
	SecondsLeft int         `json:"seconds_left,omitempty"`
	Message     string      `json:"message"`
}

// Status reports the firmware files, the pairing window and the address to type on the phone.
func (s *Server) Status() any { return s.status() }

func (s *Server) status() StatusReport {
	now := s.now()
	rep := StatusReport{Firmware: s.firmwareStatus(), DownloadPort: listenPort(s.cfg.Listen)}
	if addrs, err := s.ifaceAddrs(); err == nil {
		for _, a := range addrs {
			rep.DownloadAddresses = append(rep.DownloadAddresses, a.String())
		}
	}
	s.mu.Lock()
	rep.Pairing = s.pairingReportLocked(now)
	rep.BannedSources = s.guard.bannedCount(now)
	s.mu.Unlock()
	for _, a := range s.dir.All() {
		if a.MAC != "" {
			rep.Phones++
		}
	}
	dl := "<the Pi's address>"
	if len(rep.DownloadAddresses) > 0 {
		dl = rep.DownloadAddresses[0]
	}
	rep.Instructions = fmt.Sprintf("On the Alcatel phone, at \"phase 2/5 network setup\" press i then #, open the download settings and set DL Scheme: HTTP, DL Addr: %s, DL Port: %d, then save. Open pairing before the phone restarts.", dl, rep.DownloadPort)
	return rep
}

func (s *Server) pairingReportLocked(now time.Time) PairingReport {
	r := PairingReport{Mode: s.cfg.Pairing, Open: s.pairingOpenLocked(now)}
	switch {
	case s.cfg.Pairing == PairingOff:
		r.Message = "Pairing is off: only phones written in the config file with their MAC are served."
	case s.cfg.Pairing == PairingOpen:
		r.Message = "Pairing is always open: every new Alcatel phone on the network gets an extension."
	case r.Open:
		until := s.windowUntil.UTC()
		r.ClosesAt = &until
		r.SecondsLeft = int(s.windowUntil.Sub(now).Round(time.Second) / time.Second)
		r.Message = "Pairing is open: restart the Alcatel phone now; the first new phone that asks gets the next extension."
	default:
		r.Message = "Pairing is closed: press the pair button or run `deskphone ctl pair` to pair a new phone."
	}
	return r
}

func listenPort(listen string) int {
	_, p, err := net.SplitHostPort(listen)
	if err != nil {
		return 80
	}
	n, err := strconv.Atoi(p)
	if err != nil || n == 0 {
		return 80
	}
	return n
}
