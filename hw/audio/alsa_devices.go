package audio

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// DeviceInfo is one sound device as `deskphone audio list` shows it.
type DeviceInfo struct {
	Name     string `json:"name"` // what the card calls itself ("USB Audio Device")
	ID       string `json:"id"`   // ALSA name miniaudio opens (":1,0" means card 1, device 0, best plugin)
	Playback bool   `json:"playback"`
	Capture  bool   `json:"capture"`
	USB      bool   `json:"usb"`
}

// procAsoundCards lists the sound cards and their drivers.
const procAsoundCards = "/proc/asound/cards"

var cardLine = regexp.MustCompile(`^\s*(\d+)\s+\[[^\]]*\]:\s*(\S+)`)

// usbCards returns the numbers of the USB sound cards listed in a /proc/asound/cards file.
func usbCards(path string) map[int]bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return parseUSBCards(string(b))
}

func parseUSBCards(text string) map[int]bool {
	out := map[int]bool{}
	for _, line := range strings.Split(text, "\n") {
		m := cardLine.FindStringSubmatch(line)
		if m == nil || !strings.HasPrefix(m[2], "USB-Audio") {
			continue
		}
		if n, err := strconv.Atoi(m[1]); err == nil {
			out[n] = true
		}
	}
	return out
}

var hwID = regexp.MustCompile(`^(?:[a-z]*hw)?:(\d+)(?:,\d+)?$`)

// cardOf is the card number in an ALSA name such as ":1,0", "hw:1,0" or "plughw:1", or -1.
func cardOf(id string) int {
	m := hwID.FindStringSubmatch(id)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// chooseDevice picks the device a configured name means. It returns the ALSA name to open
// ("" for the system default) and the name to show. An empty name picks the first USB card, else
// the default. A name matches a device's ALSA name or name exactly, then part of a name
// (case-insensitively); a name with a colon not in the list is passed to ALSA as it is
// ("plughw:CARD=Device,DEV=0", "hw:Loopback,1,0").
func chooseDevice(cands []DeviceInfo, name string, usb map[int]bool) (id, shown string, err error) {
	if name == "" {
		cards := make([]int, 0, len(usb))
		for c := range usb {
			cards = append(cards, c)
		}
		sort.Ints(cards)
		if len(cards) == 0 {
			return "", "default", nil
		}
		for _, c := range cands {
			if cardOf(c.ID) == cards[0] {
				return c.ID, c.Name, nil
			}
		}
		id := fmt.Sprintf("plughw:%d,0", cards[0])
		return id, id, nil
	}
	for _, c := range cands {
		if c.ID == name || c.Name == name {
			return c.ID, c.Name, nil
		}
	}
	lower := strings.ToLower(name)
	for _, c := range cands {
		if strings.Contains(strings.ToLower(c.Name), lower) {
			return c.ID, c.Name, nil
		}
	}
	if strings.Contains(name, ":") || name == "default" {
		return name, name, nil
	}
	names := make([]string, 0, len(cands))
	for _, c := range cands {
		names = append(names, strconv.Quote(c.Name))
	}
	return "", "", fmt.Errorf("no sound device is called %q; there are %s (see `deskphone audio list`)",
		name, strings.Join(names, ", "))
}
