package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The registrar grants 2 s (not the hour asked): the phone refreshes on that, then the registrar
// disappears (failed), comes back answering 503 twice (the phone backs off 1 s, then 2 s) and
// finally 200: the phone is registered again, without a restart.
func TestPhoneRegistrarDownBackoffBack(t *testing.T) {
	regPort := freePort(t, "udp")
	reg := fmt.Sprintf("127.0.0.1:%d", regPort)
	first := startSIPpIn(t, "-sf", sippScenario(t, "phone_registrar_short.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(regPort))
	e := startPhone(t, phoneOptions{noRegistr: true, phoneTOML: fmt.Sprintf("registrar = %q\npassword = \"unused-secret\"\n", reg)})
	e.waitStatus(t, "registration", "registered", 10*time.Second)
	first.wait(t) // three REGISTERs within seconds: refreshed on the granted 2 s
	e.waitStatus(t, "registration", "failed", 20*time.Second)

	second := startSIPpIn(t, "-sf", sippScenario(t, "phone_registrar_flaky.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(regPort))
	e.waitStatus(t, "registration", "registered", 30*time.Second)
	second.wait(t)
	logs := e.Logs()
	i1 := strings.Index(logs, "retry_in=1s")
	i2 := strings.Index(logs, "retry_in=2s")
	i4 := strings.Index(logs, "retry_in=4s")
	if i1 < 0 || i2 < i1 || i4 < i2 {
		t.Fatalf("backoff did not double 1s, 2s, 4s:\n%s", grepLines(logs, "registration failed"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The primary registrar does not answer: the phone registers to the backup.
func TestPhoneBackupRegistrar(t *testing.T) {
	dead := freePort(t, "udp") // nothing listens there
	backupPort := freePort(t, "udp")
	backup := startSIPpIn(t, "-sf", sippScenario(t, "phone_registrar_ok.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(backupPort))
	e := startPhone(t, phoneOptions{noRegistr: true, phoneTOML: fmt.Sprintf(
		"registrar = \"127.0.0.1:%d\"\nbackup_registrar = \"127.0.0.1:%d\"\npassword = \"unused-secret\"\n", dead, backupPort)})
	st := e.waitStatus(t, "registration", "registered", 30*time.Second)
	if want := fmt.Sprintf("127.0.0.1:%d", backupPort); st["registration_detail"] != want {
		t.Fatalf("registered at %v, want the backup %s", st["registration_detail"], want)
	}
	backup.wait(t)
}
