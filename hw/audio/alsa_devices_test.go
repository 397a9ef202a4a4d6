package audio

import (
	"strings"
	"testing"
)

const piCards = ` 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones
                      bcm2835 Headphones
 1 [Device         ]: USB-Audio - USB Audio Device
                      C-Media Electronics Inc. USB Audio Device at usb-3f980000.usb-1.3, full speed
 2 [Loopback       ]: Loopback - Loopback
                      Loopback 1
`

func TestChooseDevice(t *testing.T) {
	usb := parseUSBCards(piCards)
	if len(usb) != 1 || !usb[1] {
		t.Fatalf("USB cards %v, want card 1 only", usb)
	}
	cands := []DeviceInfo{
		{Name: "Default Playback Device", ID: "default"},
		{Name: "bcm2835 Headphones, bcm2835 Headphones", ID: ":0,0"},
		{Name: "USB Audio Device, USB Audio", ID: ":1,0"},
		{Name: "Loopback, Loopback PCM", ID: ":2,0"},
		{Name: "Loopback, Loopback PCM", ID: ":2,1"},
	}
	tests := []struct {
		name, id string
		usb      map[int]bool
	}{
		{"", ":1,0", usb}, // first USB card
		{"", "", nil},     // no USB card: the default device
		{"", "plughw:3,0", map[int]bool{3: true}}, // USB card not listed by miniaudio yet
		{"usb audio", ":1,0", usb},                // part of the name, any case
		{"Headphones", ":0,0", usb},
		{":2,1", ":2,1", usb},                       // exact ALSA name
		{"hw:Loopback,0,0", "hw:Loopback,0,0", usb}, // an ALSA PCM, passed through
		{"default", "default", usb},
	}
	for _, tt := range tests {
		id, _, err := chooseDevice(cands, tt.name, tt.usb)
		if err != nil || id != tt.id {
			t.Errorf("chooseDevice(%q) = %q, %v; want %q", tt.name, id, err, tt.id)
		}
	}
	_, _, err := chooseDevice(cands, "Jabra", usb)
	if err == nil || !strings.Contains(err.Error(), `"USB Audio Device, USB Audio"`) {
		t.Errorf("unknown device: err = %v, want one that lists the devices there are", err)
	}
}

func TestCardOf(t *testing.T) {
	for id, want := range map[string]int{":1,0": 1, "hw:2,0": 2, "plughw:3": 3, "default": -1, "hw:Loopback,0,0": -1} {
		if got := cardOf(id); got != want {
			t.Errorf("cardOf(%q) = %d, want %d", id, got, want)
		}
	}
}
