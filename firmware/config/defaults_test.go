package config

import (
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deskphone/deskphone/firmware/media"
	"github.com/deskphone/deskphone/firmware/registrar"
	"github.com/deskphone/deskphone/provisioning"
)

// Each default is written once, in the package that runs the section; the example file (checked
// against Default by TestExampleIsTheDefault) and the docs must say the same.
func TestDefaultsAgreeWithOwnersAndDocs(t *testing.T) {
	d := Default()
	m := media.DefaultConfig()
	if got := d.Phone.Media(); got.DTMFPayloadType != m.DTMFPayloadType || got.JitterMin != m.JitterMin ||
		got.JitterMax != m.JitterMax || got.PortMin != m.PortMin || got.PortMax != m.PortMax {
		t.Errorf("[phone] media defaults %+v differ from media.DefaultConfig %+v", got, m)
	}
	if m.DTMFPayloadType != 96 {
		t.Errorf("telephone-event payload type %d: 96 is the Alcatel's own and chosen on purpose", m.DTMFPayloadType)
	}
	if ps := d.Phone.Media().Check(); len(ps) > 0 {
		t.Errorf("the default [phone] media settings do not check: %v", ps)
	}
	if r := registrar.DefaultConfig(); d.Registrar.Listen != r.Listen || d.Registrar.Realm != r.Realm ||
		d.Registrar.NonceLifetime.Duration != r.NonceLifetime || d.Registrar.BanTime.Duration != r.BanTime {
		t.Errorf("[registrar] defaults differ from registrar.DefaultConfig")
	}
	if p := provisioning.DefaultConfig(); d.Provisioning.PollMinutes != p.PollMinutes || d.Provisioning.FirstExtension != p.FirstExtension {
		t.Errorf("[provisioning] defaults differ from provisioning.DefaultConfig")
	}

	doc := readDoc(t, "media.md")
	ms := func(v time.Duration) string { return strconv.Itoa(int(v / time.Millisecond)) }
	figures := []struct{ what, re, want string }{
		{"docs/media.md DefaultConfig comment", `media\.DefaultConfig\(\)\s*// PCMA,PCMU; PT (\d+); jitter (\d+)–(\d+) ms; ports (\d+)–(\d+)`,
			strings.Join([]string{strconv.Itoa(m.DTMFPayloadType), ms(m.JitterMin), ms(m.JitterMax), strconv.Itoa(m.PortMin), strconv.Itoa(m.PortMax)}, " ")},
		{"docs/media.md jitter buffer bounds", `\[JitterMin, JitterMax\]` + "`" + ` = (\d+)–(\d+) ms by default`, ms(m.JitterMin) + " " + ms(m.JitterMax)},
		{"docs/media.md jitter_max choice", `So the default is (\d+)–(\d+) ms`, ms(m.JitterMin) + " " + ms(m.JitterMax)},
	}
	alcatel := readDoc(t, "alcatel.md")
	for _, f := range figures {
		checkFigure(t, f.what, doc, f.re, f.want)
	}
	checkFigure(t, "docs/alcatel.md dtmf_payload_type", alcatel, "`\\[phone\\] dtmf_payload_type` \\((\\d+) by default", strconv.Itoa(d.Phone.DTMFPayloadType))
	checkFigure(t, "docs/alcatel.md poll_minutes", alcatel, "`poll_minutes` \\((\\d+)\\)", strconv.Itoa(d.Provisioning.PollMinutes))

	// docs/registrar.md shows a [registrar] block and says omitted keys take the values shown.
	block := regexp.MustCompile("(?s)## Configuration\n\n```toml\n(.*?)```").FindStringSubmatch(readDoc(t, "registrar.md"))
	if block == nil {
		t.Fatal("docs/registrar.md has no configuration block")
	}
	f, err := Parse("docs/registrar.md", []byte(block[1]))
	if err != nil {
		t.Fatal(err)
	}
	f.Registrar.Accounts = nil
	if !reflect.DeepEqual(f.Registrar, d.Registrar) {
		t.Errorf("docs/registrar.md shows\n%+v\nbut the defaults are\n%+v", f.Registrar, d.Registrar)
	}
}

func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func checkFigure(t *testing.T, what, doc, re, want string) {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(doc)
	if m == nil {
		t.Errorf("%s: no text matches %q", what, re)
		return
	}
	if got := strings.Join(m[1:], " "); got != want {
		t.Errorf("%s says %s, the defaults are %s", what, got, want)
	}
}
