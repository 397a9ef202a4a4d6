package provisioning

import (
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"
)

// requiredFirmware are the two files the user copies from the Alcatel SIP firmware archive.
var requiredFirmware = []string{"noesip4018", "datsip4018"}

// findFirmware returns the name of the file in the firmware folder that serves the request for name
// (a key of firmwareNames): the file of that exact name in any letter case (a FAT partition may
// show "NOESIP4018"), else, for the 4008 names, the 4018 file, which is the same firmware.
func findFirmware(dir, name string) (string, fs.FileInfo, bool) {
	if dir == "" {
		return "", nil, false
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", nil, false
	}
	for _, want := range []string{name, firmwareNames[name]} {
		for _, e := range entries {
			if !strings.EqualFold(e.Name(), want) {
				continue
			}
			info, err := e.Info()
			if err != nil || !info.Mode().IsRegular() || info.Size() == 0 {
				continue
			}
			return e.Name(), info, true
		}
	}
	return "", nil, false
}

// serveFirmware sends a firmware file from the firmware folder, opened through os.Root so that not
// even a symbolic link placed in the folder leads outside it. Range requests are honoured (a phone
// may resume a download).
func (s *Server) serveFirmware(w http.ResponseWriter, r *http.Request, name string, log *slog.Logger) {
	file, _, ok := findFirmware(s.cfg.FirmwareDir, name)
	if !ok {
		log.Warn(fmt.Sprintf("the phone asked for its firmware file %s, which is not in %s: copy noesip4018 and datsip4018 from the Alcatel SIP firmware archive into the alcatel folder of the SD card's boot partition; until then the phone restarts in a loop", name, s.cfg.FirmwareDir))
		refuse(w)
		return
	}
	root, err := os.OpenRoot(s.cfg.FirmwareDir)
	if err != nil {
		log.Error("cannot open the firmware folder", "err", err)
		refuse(w)
		return
	}
	defer root.Close()
	f, err := root.Open(file)
	if err != nil {
		log.Error("cannot read the firmware file", "file", file, "err", err)
		refuse(w)
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		log.Error("the firmware file is not a regular file", "file", file)
		refuse(w)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", info.ModTime(), f)
	log.Info("alcatel firmware served", "file", file, "bytes", info.Size())
}

// firmwareReport is the firmware part of Status.
type firmwareReport struct {
	Folder  string            `json:"folder"`
	OK      bool              `json:"ok"`
	Message string            `json:"message"`
	Files   map[string]string `json:"files"`
}

func (s *Server) firmwareStatus() firmwareReport {
	rep := firmwareReport{Folder: s.cfg.FirmwareDir, Files: map[string]string{}}
	var missing []string
	for _, name := range requiredFirmware {
		if _, info, ok := findFirmware(s.cfg.FirmwareDir, name); ok {
			rep.Files[name] = fmt.Sprintf("present (%d bytes)", info.Size())
		} else {
			rep.Files[name] = "missing"
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		rep.OK = true
		rep.Message = "The Alcatel firmware files are in place (the 4008 gets the same files)."
		return rep
	}
	rep.Message = fmt.Sprintf("Alcatel firmware missing: %s not found in %s. The firmware is Alcatel's and does not come with deskphone: copy noesip4018 and datsip4018 from the Alcatel SIP firmware archive into the alcatel folder of the SD card's boot partition, then restart the phone.",
		strings.Join(missing, " and "), s.cfg.FirmwareDir)
	return rep
}
