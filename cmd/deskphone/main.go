// Command deskphone is the whole appliance: the Pi's own SIP phone, the office registrar, the
// Alcatel provisioning server and the HTTP API, wired together from one config file.
//
//	deskphone run --config /boot/deskphone.toml   run the service
//	deskphone check --config FILE                  list every problem in a config file (exit 1)
//	deskphone ctl status|dial N|answer|hangup|…    drive the running phone over its HTTP API
//	deskphone web --config FILE                    where the web pages are, and their fingerprint
//	deskphone example [--dev DIR]                  print the commented example config
//	deskphone password                             print a strong generated password
//	deskphone audio list                           list the sound devices
//	deskphone clock sync SERVER…                   set the clock from NTP (the Pi has no RTC)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	_ "time/tzdata" // the image has no zoneinfo folder; timezone names must still resolve

	"github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/firmware/accounts"
	"github.com/deskphone/deskphone/firmware/config"
	"github.com/deskphone/deskphone/firmware/web"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	// sipgo refuses to send a UDP message within 200 bytes of a 1500-byte MTU. RFC 3261 §18.1.1
	// moves large *requests* to TCP; a response must go back the way its request came, however
	// large (RFC 4475 §3.1.1.7: 34 Via headers). The kernel fragments what the link cannot carry.
	sip.UDPMTUSize = 65535
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: deskphone <command> [arguments]

commands:
  run --config FILE     run the phone, registrar and provisioning service
  check --config FILE   check a config file and list every problem with its line
  ctl COMMAND           drive the running phone: status, dial N, answer, hangup, hold,
                        dtmf DIGITS, transfer N, pair (see: deskphone ctl help)
  web --config FILE     where the web pages are, the certificate fingerprint and the password
  example [--dev DIR]   print the commented example config (--dev: one for this computer)
  password              print a strong random password for an account
  audio list            list the sound devices the phone can use
  clock sync SERVER…    set this machine's clock from an NTP server (used at boot)
  version               print the version
`)
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "ctl":
		return runCtl(args[1:])
	case "web":
		return cmdWeb(args[1:], stdout, stderr)
	case "example":
		return cmdExample(args[1:], stdout, stderr)
	case "password":
		pw, err := accounts.GeneratePassword(20)
		if err != nil {
			fmt.Fprintln(stderr, "deskphone:", err)
			return 1
		}
		fmt.Fprintln(stdout, pw)
		return 0
	case "audio":
		if len(args) == 2 && args[1] == "list" {
			return runAudioList()
		}
		fmt.Fprintln(stderr, "usage: deskphone audio list")
		return 2
	case "clock":
		return cmdClock(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "deskphone", version)
		return 0
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "deskphone: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/boot/deskphone.toml", "config file to check")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if _, err := config.Load(*path); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", *path)
	return 0
}

func cmdExample(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("example", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dev := fs.String("dev", "", "write a config for running on this computer, with state and audio files in `DIR`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	over := map[string]string{}
	if *dev != "" {
		dir, err := filepath.Abs(*dev)
		if err != nil {
			fmt.Fprintln(stderr, "deskphone:", err)
			return 1
		}
		q := func(s string) string { return fmt.Sprintf("%q", s) }
		over = map[string]string{
			"data_dir":                  q(filepath.Join(dir, "data")),
			"web.listen":                q("127.0.0.1:8080"),
			"web.https_listen":          q("127.0.0.1:8443"),
			"audio.backend":             q("file"),
			"audio.input":               q(filepath.Join(dir, "mic.wav")),
			"audio.output":              q(filepath.Join(dir, "speaker.wav")),
			"provisioning.firmware_dir": q(filepath.Join(dir, "alcatel")),
		}
	}
	text, err := config.Example(over)
	if err != nil {
		fmt.Fprintln(stderr, "deskphone:", err)
		return 1
	}
	fmt.Fprint(stdout, text)
	return 0
}

// tuneGC sets the garbage collector from the config (gc_percent, memory_limit_mb), unless the
// GOGC or GOMEMLIMIT environment variables say otherwise.
func tuneGC(f *config.File, log *slog.Logger) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(f.GCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(f.MemoryLimitMB) << 20)
	}
	log.Debug("garbage collector", "gc_percent", f.GCPercent, "memory_limit_mb", f.MemoryLimitMB)
}

func cmdRun(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/boot/deskphone.toml", "config file; when it does not exist the built-in defaults are used")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	dataReady := fs.String("data-ready", "", "start using data_dir only once this file exists (the card's init creates it once the data partition is mounted, so the service starts meanwhile)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	tail := web.NewLogTail(1000) // the logs page shows what the console shows
	log, err := newLogger(io.MultiWriter(stderr, tail), *logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "deskphone:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	f, err := config.Load(*path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		log.Warn("no config file, running with the built-in defaults", "path", *path)
		f = config.Default()
	case err != nil:
		// Don't exit: init would restart us in a silent loop. Say what is wrong, on the console
		// and on the status API, until the file is fixed and the service restarted.
		return runBroken(ctx, *path, err, log)
	}
	tuneGC(f, log)
	// The logs page's SIP trace: sipgo's tracer is process-wide, so it is installed here, once,
	// before any SIP transport starts; it records nothing until switched on.
	trace := web.NewSIPTrace(200)
	sip.SIPDebug = true
	sip.SIPDebugTracer(trace)
	svcCtx, restart := context.WithCancelCause(ctx)
	svc := service{configPath: *path, restart: func() { restart(errRestart) }, logs: tail, trace: trace, dataReady: *dataReady}
	if err := runService(svcCtx, f, svc, log); err != nil && svcCtx.Err() == nil {
		log.Error("deskphone stopped", "err", err)
		return 1
	}
	if ctx.Err() == nil && errors.Is(context.Cause(svcCtx), errRestart) {
		// The settings page saved a new config: start again as the same process (same PID for
		// init and for whoever started us), with every port closed by now.
		log.Info("deskphone restarting to apply the new config")
		exe, err := os.Executable()
		if err == nil {
			err = syscall.Exec(exe, os.Args, os.Environ())
		}
		log.Error("cannot restart; start deskphone again", "err", err)
		return 1
	}
	log.Info("deskphone stopped")
	return 0
}

// errRestart ends the service so that it starts again with the saved config.
var errRestart = errors.New("restart to apply the new config")

// service is what the running service offers its pages besides the config: the file to edit,
// how to restart, and the log's last lines.
type service struct {
	configPath string
	restart    func()
	logs       *web.LogTail
	trace      *web.SIPTrace
	dataReady  string // a file that appears once data_dir can be used ("": at once)
}
