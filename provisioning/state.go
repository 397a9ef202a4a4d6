package provisioning

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"sort"
	"time"

	"github.com/deskphone/deskphone/firmware/atomicfile"
)

// phoneState is what the server remembers about one phone besides its account: the address it is
// bound to and its handset passwords. It is kept in Config.StatePath so a restart changes nothing.
type phoneState struct {
	MAC            string     `json:"mac"`
	Source         netip.Addr `json:"source,omitzero"` // bound after the first fetch of its file
	AdminPassword  string     `json:"admin_password"`
	TelnetPassword string     `json:"telnet_password"`
	Model          string     `json:"model,omitempty"`
	Firmware       string     `json:"firmware,omitempty"`
	FirstFetch     time.Time  `json:"first_fetch,omitzero"`
	lastFetch      time.Time  // memory only: not worth a write to the SD card on every poll
}

type stateFile struct {
	Version int           `json:"version"`
	Phones  []*phoneState `json:"phones"`
}

// ErrStateDamaged says the provisioning state file could not be read.
var ErrStateDamaged = errors.New("damaged provisioning state file")

func loadState(path string) (map[string]*phoneState, error) {
	out := map[string]*phoneState{}
	if path == "" {
		return out, nil
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return out, nil
	case err != nil:
		return nil, fmt.Errorf("read provisioning state %s: %w", path, err)
	}
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("provisioning state %s is damaged (%v); move it away and pair the phones again: %w", path, err, ErrStateDamaged)
	}
	for _, p := range f.Phones {
		if p != nil && p.MAC != "" {
			out[p.MAC] = p
		}
	}
	return out, nil
}

func saveState(path string, phones map[string]*phoneState) error {
	if path == "" {
		return nil
	}
	f := stateFile{Version: 1}
	for _, p := range phones {
		f.Phones = append(f.Phones, p)
	}
	sort.Slice(f.Phones, func(i, j int) bool { return f.Phones[i].MAC < f.Phones[j].MAC })
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode provisioning state: %w", err)
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save provisioning state: %w", err)
	}
	return nil
}

// Lengths of the generated handset passwords. The admin password is typed on the keypad and must be
// digits only (reference file); the telnet one is digits too, as the only form the phone is known to
// accept, and long enough that guessing over the network is hopeless.
const (
	adminPasswordDigits  = 8
	telnetPasswordDigits = 16
)

// generateDigits returns n decimal digits from crypto/rand, never all the same digit (so never the
// factory "000000" pattern).
func generateDigits(n int) (string, error) {
	ten := big.NewInt(10)
	for {
		b := make([]byte, n)
		same := true
		for i := range b {
			k, err := rand.Int(rand.Reader, ten)
			if err != nil {
				return "", fmt.Errorf("generate handset password: %w", err)
			}
			b[i] = byte('0' + k.Int64())
			if b[i] != b[0] {
				same = false
			}
		}
		if !same {
			return string(b), nil
		}
	}
}
