package voicemail

import (
	"embed"
	"fmt"
	"math"
	"strings"
	"sync"
)

// The default spoken prompts, made offline by prompts/make-prompts.sh (espeak-ng, sox).
//
//go:embed prompts/en/*.wav prompts/fr/*.wav prompts/de/*.wav
var promptFiles embed.FS

// Prompt names (files prompts/<lang>/<name>.wav; numbers are n0 … n20).
const (
	pGreeting = "greeting"
	pFull     = "full"
	pPIN      = "pin"
	pBadPIN   = "badpin"
	pNone     = "none"
	pNew      = "new"
	pSaved    = "saved"
	pMenu     = "menu"
	pMessage  = "message"
	pDeleted  = "deleted"
	pKept     = "kept"
	pNoMore   = "nomore"
	pGoodbye  = "goodbye"
	pRecGreet = "recgreet"
	pGreetOK  = "greetok"
)

// LanguageFor maps the phone's tone_country to the prompts' language.
func LanguageFor(country string) string {
	switch strings.ToLower(country) {
	case "fr":
		return "fr"
	case "de":
		return "de"
	}
	return "en"
}

// prompts decodes and caches one language's prompts.
type prompts struct {
	lang  string
	mu    sync.Mutex
	cache map[string][]int16
}

func newPrompts(lang string) *prompts {
	if _, err := promptFiles.ReadDir("prompts/" + lang); err != nil {
		lang = "en"
	}
	return &prompts{lang: lang, cache: map[string][]int16{}}
}

func (p *prompts) get(name string) []int16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pcm, ok := p.cache[name]; ok {
		return pcm
	}
	b, err := promptFiles.ReadFile("prompts/" + p.lang + "/" + name + ".wav")
	if err != nil {
		return nil
	}
	pcm, err := decodeWAV(b)
	if err != nil {
		panic(fmt.Sprintf("embedded prompt %s/%s: %v", p.lang, name, err)) // a build defect
	}
	p.cache[name] = pcm
	return pcm
}

// number says n (0–20; larger counts are said as twenty).
func (p *prompts) number(n int) []int16 {
	return p.get(fmt.Sprintf("n%d", min(max(n, 0), 20)))
}

// beepHz is the tone that tells the caller to speak (Asterisk's beep is 1 kHz too).
const beepHz = 1000

// beep is 400 ms of a 1 kHz tone at about −10 dBFS.
func beep() []int16 {
	pcm := make([]int16, sampleRate*4/10)
	for i := range pcm {
		pcm[i] = int16(10000 * math.Sin(2*math.Pi*beepHz*float64(i)/sampleRate))
	}
	return pcm
}

// pause is d milliseconds of silence.
func pause(ms int) []int16 { return make([]int16, sampleRate*ms/1000) }
