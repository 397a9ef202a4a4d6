// Command registrarprofile profiles the registrar under the load of the registrar bench
// (test/bench/registrar.sh): SIPp sends authenticated REGISTERs at full rate, then call setups
// through the proxy to a SIPp callee. The registrar runs in this process, so CPU and allocation
// profiles of each run are written to -out (cpu-register.pprof, allocs-register.pprof,
// cpu-call.pprof, allocs-call.pprof; the allocs files are relative to the start of their run:
// read them with go tool pprof -sample_index=alloc_space -base allocs-<run>-base.pprof). It prints
// CPU time and allocations per REGISTER and per call. make bench-profile runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/deskphone/deskphone/firmware/accounts"
	"github.com/deskphone/deskphone/firmware/registrar"
)

type directory map[string]accounts.Account

func (d directory) Lookup(user string) (accounts.Account, bool) {
	a, ok := d[user]
	return a, ok
}

func main() {
	out := flag.String("out", "build/profile", "directory for the profiles")
	users := flag.Int("users", 1000, "accounts registering")
	registers := flag.Int("registers", 10000, "authenticated REGISTERs in the profiled run")
	calls := flag.Int("calls", 4000, "call setups in the profiled run")
	sippDir := flag.String("scenarios", "test/sipp", "SIPp scenarios")
	summary := flag.Bool("summary", false, "print only two lines (register, call): CPU µs, allocations and KiB per operation, for scripts")
	flag.Parse()
	if err := run(*out, *sippDir, *users, *registers, *calls, *summary); err != nil {
		fmt.Fprintln(os.Stderr, "registrar profile:", err)
		os.Exit(1)
	}
}

func run(out, sippDir string, users, registers, calls int, summary bool) error {
	sippDir, err := filepath.Abs(sippDir)
	if err != nil {
		return err
	}
	if _, err := exec.LookPath("sipp"); err != nil {
		return errors.New("sipp is missing (make deps installs it)")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "registrar-profile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	dir := directory{"callee": {Extension: "7000", Username: "callee", Password: "callee-pass-7000"}}
	dir["7000"] = dir["callee"]
	inf := "SEQUENTIAL\n"
	for i := 1; i <= users; i++ {
		ext := strconv.Itoa(20000 + i)
		a := accounts.Account{Extension: ext, Username: "u" + ext, Password: "bench-pass-" + ext + "-x"}
		dir[a.Username], dir[a.Extension] = a, a
		inf += fmt.Sprintf("%s;[authentication username=%s password=%s]\n", a.Username, a.Username, a.Password)
	}
	infPath := filepath.Join(work, "users.csv")
	if err := os.WriteFile(infPath, []byte(inf), 0o644); err != nil {
		return err
	}

	cfg := registrar.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = filepath.Join(work, "data")
	cfg.QualifyInterval = -1
	cfg.NeverBan = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} // the load is a flood by design
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r, err := registrar.New(cfg, dir, log)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	select {
	case <-r.Ready():
	case err := <-done:
		return err
	}
	target := r.Addr().String()
	scenario := func(name string) string { return filepath.Join(sippDir, name) }

	// Warm-up: every user registers once (first bindings are written to disk).
	if err := sipp(work, target, "-sf", scenario("register_bench.xml"), "-inf", infPath, "-m", strconv.Itoa(users), "-l", "200"); err != nil {
		return err
	}
	reg, err := profiled(out, "register", registers, func() error {
		return sipp(work, target, "-sf", scenario("register_bench.xml"), "-inf", infPath, "-m", strconv.Itoa(registers), "-l", "200")
	})
	if err != nil {
		return err
	}

	calleePort, err := freePort()
	if err != nil {
		return err
	}
	if err := sipp(work, target, "-sf", scenario("register_ok.xml"), "-key", "aor", "7000", "-key", "expires", "3600",
		"-au", "7000", "-ap", "callee-pass-7000", "-p", strconv.Itoa(calleePort), "-m", "1"); err != nil {
		return fmt.Errorf("callee: %w", err)
	}
	uas := exec.Command("sipp", "-nostdin", "-sf", scenario("uas_bench.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(calleePort))
	uas.Dir = work
	uas.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := uas.Start(); err != nil {
		return err
	}
	defer func() {
		_ = syscall.Kill(-uas.Process.Pid, syscall.SIGKILL)
		_ = uas.Wait()
	}()
	time.Sleep(500 * time.Millisecond)
	call, err := profiled(out, "call", calls, func() error {
		return sipp(work, target, "-sf", scenario("uac_bench.xml"), "-s", "7000", "-inf", infPath, "-m", strconv.Itoa(calls), "-l", "50")
	})
	if err != nil {
		return err
	}
	if summary {
		fmt.Printf("register %.1f %.1f %.2f\n", reg.cpuUs, reg.allocs, reg.kib)
		fmt.Printf("call %.1f %.1f %.2f\n", call.cpuUs, call.allocs, call.kib)
		return nil
	}
	fmt.Printf("\nRegistrar profile: %d accounts, profiles in %s\n", users, out)
	fmt.Printf("%-34s %12s %12s %14s %12s %12s\n", "", "CPU µs each", "allocs each", "KiB alloc each", "CPU µs/msg", "allocs/msg")
	for _, row := range []struct {
		name string
		op   perOp
		msgs float64
	}{
		{fmt.Sprintf("authenticated REGISTER (%d)", registers), reg, messagesPerRegister},
		{fmt.Sprintf("call setup, INVITE…BYE (%d)", calls), call, messagesPerCall},
	} {
		fmt.Printf("%-34s %12.0f %12.0f %14.1f %12.1f %12.1f\n", row.name, row.op.cpuUs, row.op.allocs, row.op.kib, row.op.cpuUs/row.msgs, row.op.allocs/row.msgs)
	}
	fmt.Printf("(messages the registrar reads or sends: %d per REGISTER, %d per call setup)\n", messagesPerRegister, messagesPerCall)
	return nil
}

// Messages the registrar reads or sends for one operation of the scenarios: REGISTER, 401,
// REGISTER, 200; and for a call, on the caller's side INVITE, 407, ACK, INVITE, 100, 180, 200,
// ACK, BYE, 200, on the callee's INVITE, 180, 200, ACK, BYE, 200.
const (
	messagesPerRegister = 4
	messagesPerCall     = 16
)

type perOp struct{ cpuUs, allocs, kib float64 }

// profiled runs load under a CPU profile and between two allocation profiles, and returns the
// process's CPU time and allocations per operation.
func profiled(out, name string, ops int, load func() error) (perOp, error) {
	var res perOp
	if err := writeProfile(filepath.Join(out, "allocs-"+name+"-base.pprof"), "allocs"); err != nil {
		return res, err
	}
	f, err := os.Create(filepath.Join(out, "cpu-"+name+".pprof"))
	if err != nil {
		return res, err
	}
	defer f.Close()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0 := cpuTime()
	if err := pprof.StartCPUProfile(f); err != nil {
		return res, err
	}
	err = load()
	pprof.StopCPUProfile()
	cpu1 := cpuTime()
	runtime.ReadMemStats(&m1)
	if err != nil {
		return res, err
	}
	if err := writeProfile(filepath.Join(out, "allocs-"+name+".pprof"), "allocs"); err != nil {
		return res, err
	}
	n := float64(ops)
	res.cpuUs = float64((cpu1 - cpu0).Microseconds()) / n
	res.allocs = float64(m1.Mallocs-m0.Mallocs) / n
	res.kib = float64(m1.TotalAlloc-m0.TotalAlloc) / 1024 / n
	return res, nil
}

func writeProfile(path, name string) error {
	// The allocation profile is as of the last completed collection: without one, a run's
	// profile misses its last allocations and the next run's shows them.
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup(name).WriteTo(f, 0)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sipp runs SIPp at full rate against target and fails if any call failed.
func sipp(dir, target string, args ...string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	full := append([]string{target, "-nostdin", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-r", "100000", "-timeout", "120s", "-timeout_error", "-buff_size", "4194304"}, args...)
	cmd := exec.Command("sipp", full...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	outb, err := cmd.CombinedOutput()
	if err != nil {
		lines := strings.Split(strings.TrimSpace(string(outb)), "\n")
		return fmt.Errorf("sipp %s: %w\n%s", strings.Join(args, " "), err, strings.Join(lines[max(0, len(lines)-12):], "\n"))
	}
	return nil
}

// freePort is a port free on both UDP and TCP on loopback.
func freePort() (int, error) {
	for range 20 {
		u, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		t, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
		u.Close()
		if err == nil {
			t.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port")
}
