package main

import (
	"log/slog"
	"net"
	"path/filepath"
	"sync"

	"github.com/deskphone/deskphone/firmware/accounts"
	"github.com/deskphone/deskphone/firmware/config"
	"github.com/deskphone/deskphone/firmware/voicemail"
)

// newVoicemail maps [voicemail] to the voicemail server (nil when it is off). Its SIP endpoint
// listens on the registrar's address (loopback when the registrar listens everywhere).
func newVoicemail(f *config.File, dir *accounts.Directory, log *slog.Logger) (*voicemail.Server, error) {
	v := f.Voicemail
	if !v.Enabled || !f.Registrar.Enabled {
		return nil, nil
	}
	cfg := voicemail.DefaultConfig()
	cfg.Dir = filepath.Join(f.DataDir, "voicemail")
	host, _, _ := net.SplitHostPort(f.Registrar.Listen)
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	cfg.Listen = net.JoinHostPort(host, "0")
	cfg.Language = voicemail.LanguageFor(f.Phone.ToneCountry)
	cfg.NoAnswer = v.NoAnswer.Duration
	cfg.MaxMessage = v.MaxMessage.Duration
	cfg.Silence = v.Silence.Duration
	cfg.Quota = int64(v.QuotaMB) << 20
	cfg.Media.Codecs = f.Phone.CodecOrder()
	return voicemail.New(cfg, dir, log.With("component", "voicemail"))
}

// printPINs shows each account's mailbox PIN on the console, as the passwords are.
func printPINs(vm *voicemail.Server, dir *accounts.Directory, log *slog.Logger) {
	all := dir.All()
	exts := make([]string, 0, len(all))
	for _, a := range all {
		exts = append(exts, a.Extension)
	}
	pins, err := vm.Store().PINs(exts)
	if err != nil { // one unusable extension: each on its own, as before
		pins = map[string]string{}
		for _, a := range all {
			pin, err := vm.Store().PIN(a.Extension)
			if err != nil {
				log.Warn("no voicemail PIN", "extension", a.Extension, "err", err)
				continue
			}
			pins[a.Extension] = pin
		}
	}
	for _, a := range all {
		if pin, ok := pins[a.Extension]; ok {
			log.Info("mailbox: dial *97", "extension", a.Extension, "username", a.Username, "pin", pin)
		}
	}
}

// messageWaiting follows the mailbox of ext: true on the channel while new messages wait. The
// channel holds only the latest state.
func messageWaiting(store *voicemail.Store, ext string) <-chan bool {
	ch := make(chan bool, 1)
	var mu sync.Mutex
	update := func() {
		n, _ := store.Counts(ext)
		mu.Lock()
		defer mu.Unlock()
		select {
		case <-ch:
		default:
		}
		ch <- n > 0
	}
	store.Watch(func(box string) {
		if box == ext {
			update()
		}
	})
	update()
	return ch
}
