// Package procgroup runs the peer programs of end-to-end tests (SIPp, baresip, linphonec,
// Kamailio) so that nothing they start outlives the test: each peer leads a process group of its
// own, the whole group is stopped when the test ends, and the test fails if any process of the
// group, or any descendant that left it, is still alive afterwards.
package procgroup

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Process is a started peer.
type Process struct {
	Cmd  *exec.Cmd
	done chan struct{}
}

// Done is closed when the peer's leading process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Start starts cmd as the leader of a new process group. When t ends the group gets SIGTERM,
// then SIGKILL after grace if the leader has not exited; t fails (naming the survivors) if a
// process of the group, or one the peer started that left the group, is still running after
// that.
func Start(t testing.TB, cmd *exec.Cmd, grace time.Duration) (*Process, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.Env = PrivateTemp(t, cmd.Env)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{Cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if left := p.stop(grace); len(left) > 0 {
			t.Errorf("%s left %d process(es) running after the test (killed now): %s",
				filepath.Base(cmd.Path), len(left), strings.Join(left, "; "))
		}
	})
	return p, nil
}

// PrivateTemp returns env (the test's own environment when nil) with TMPDIR and XDG_RUNTIME_DIR
// set to a directory of t's, unless env gives them a value of its own: what a peer leaves there
// when it is killed at the end (Chromium's org.chromium.Chromium.* directories, a PulseAudio
// client's pulse-*) goes with the test instead of piling up in /tmp. Call it before the peer's
// cleanup is registered, so that the directory is removed after the peer has stopped.
func PrivateTemp(t testing.TB, env []string) []string {
	if env == nil {
		env = os.Environ()
	}
	var dir string
	for _, key := range []string{"TMPDIR", "XDG_RUNTIME_DIR"} {
		if v, set := lookup(env, key); set && v != os.Getenv(key) {
			continue // chosen for this peer
		}
		if dir == "" {
			dir = t.TempDir()
		}
		env = append(env, key+"="+dir)
	}
	return env
}

// lookup is key's value in env (the last one, as exec uses), and whether env sets it.
func lookup(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, found := strings.CutPrefix(env[i], key+"="); found {
			return v, true
		}
	}
	return "", false
}

// stop ends the group and returns the processes that survived it.
func (p *Process) stop(grace time.Duration) []string {
	pgid := p.Cmd.Process.Pid
	family := descendants(pgid) // before anything exits: children are re-parented on exit
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// The leader is gone; its group and children get a moment to follow it.
	deadline := time.Now().Add(grace)
	for {
		left := alive(pgid, family)
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			var out []string
			for _, pr := range left {
				syscall.Kill(pr.pid, syscall.SIGKILL)
				out = append(out, fmt.Sprintf("pid %d (%s)", pr.pid, pr.comm))
			}
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type proc struct {
	pid, ppid, pgrp int
	comm            string
	state           byte
}

// procs reads every process's pid, parent, group, name and state from /proc.
func procs() []proc {
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []proc
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // exited meanwhile
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		fields := strings.Fields(s[end+1:]) // state ppid pgrp …
		if len(fields) < 3 {
			continue
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(s[:open]))
		ppid, _ := strconv.Atoi(fields[1])
		pgrp, _ := strconv.Atoi(fields[2])
		out = append(out, proc{pid: pid, ppid: ppid, pgrp: pgrp, comm: s[open+1 : end], state: fields[0][0]})
	}
	return out
}

// descendants are the pids of every process below root, and of root's group.
func descendants(root int) []int {
	all := procs()
	family := []int{root}
	for changed := true; changed; {
		changed = false
		for _, p := range all {
			if (slices.Contains(family, p.ppid) || p.pgrp == root) && !slices.Contains(family, p.pid) {
				family = append(family, p.pid)
				changed = true
			}
		}
	}
	return family
}

// alive lists the running (not zombie) processes of group pgid or among family.
func alive(pgid int, family []int) []proc {
	var out []proc
	for _, p := range procs() {
		if p.state != 'Z' && p.state != 'X' && (p.pgrp == pgid || slices.Contains(family, p.pid)) {
			out = append(out, p)
		}
	}
	return out
}
