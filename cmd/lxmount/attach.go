package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lxmount/lxmount/supervisor"
)

func attachCommand() *command {
	var noStart bool
	var policy string
	c := &command{
		name:    "attach",
		summary: "attach the container a process belongs to",
		usage:   "<pid> [--no-start] [--policy NAME]",
		help: `Attaches the container that <pid> belongs to (any process of it, not only
its init): the daemon mounts the container's virtual files over /proc/...
inside it. Prints one line: container id, cgroup, files mounted. Attaching
an attached container changes nothing and exits 0.

When no daemon answers on the socket, attach starts one in the background
(logging to <state-dir>/daemon.log) unless --no-start is given.

EXAMPLE:
  lxmount attach 4242
  lxmount attach "$(runc state web | jq .pid)" --policy memonly
  lxmount --socket /tmp/lx/sock --state-dir /tmp/lx attach 4242 --no-start`,
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&noStart, "no-start", false, "fail instead of starting a daemon when none answers")
			fs.StringVar(&policy, "policy", "", "use the named policy instead of matching one")
		},
	}
	c.run = func(g globals, args []string, stdout, stderr io.Writer) error {
		pos, _, err := parseFlags(c, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageError{"expects exactly one <pid>"}
		}
		pid, err := strconv.Atoi(pos[0])
		if err != nil || pid <= 0 {
			return usageError{fmt.Sprintf("%q is not a process id", pos[0])}
		}
		cl := supervisor.NewClient(g.socket)
		if err := ensureDaemon(g, cl, noStart); err != nil {
			return err
		}
		res, err := cl.Attach(pid, policy)
		if err != nil {
			return err
		}
		ci := res.Container
		state := "attached"
		if res.Already {
			state = "already attached"
		}
		fmt.Fprintf(stdout, "%s %s: cgroup %s, files %s\n", state, ci.ID, ci.Cgroup, strings.Join(ci.Files, ","))
		if len(ci.Refused) > 0 && !res.Already {
			for _, name := range sortedKeys(ci.Refused) {
				fmt.Fprintf(stderr, "lxmount attach: %s not mounted: %s\n", name, ci.Refused[name])
			}
		}
		return nil
	}
	return c
}

// daemonStartWait is how long attach and reconcile wait for a daemon they
// started to answer.
const daemonStartWait = 10 * time.Second

// ensureDaemon makes sure a daemon answers on the socket, starting one in
// the background when allowed, and waiting for it up to daemonStartWait.
func ensureDaemon(g globals, cl *supervisor.Client, noStart bool) error {
	return ensureDaemonBy(g, cl, noStart, time.Now().Add(daemonStartWait))
}

// ensureDaemonBy is ensureDaemon waiting until deadline at most.
func ensureDaemonBy(g globals, cl *supervisor.Client, noStart bool, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	err := cl.PingContext(ctx)
	if err == nil {
		return nil
	}
	if !errors.Is(err, supervisor.ErrNoDaemon) {
		return err
	}
	if noStart {
		return fmt.Errorf("no daemon answers on %s and --no-start was given (start one with: lxmount --socket %s daemon)", g.socket, g.socket)
	}
	if err := startDaemon(g); err != nil {
		return err
	}
	waited := time.Now()
	for time.Now().Before(deadline) {
		if err = cl.PingContext(ctx); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("started a daemon but it does not answer on %s after %s (see %s): %w", g.socket, time.Since(waited).Round(time.Millisecond), filepath.Join(g.stateDir, "daemon.log"), err)
}

// defaultPATH is the PATH a daemon gets when its starter had none.
const defaultPATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// startDaemon starts `lxmount daemon` detached (own session, stdio to the
// log file), passing on the global flags.
func startDaemon(g globals) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("start daemon: %w", err)
	}
	if err := os.MkdirAll(g.stateDir, 0o700); err != nil {
		return fmt.Errorf("start daemon: %w", err)
	}
	logPath := filepath.Join(g.stateDir, "daemon.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("start daemon: %w", err)
	}
	defer logf.Close()
	args := []string{"daemon", "--socket", g.socket, "--state-dir", g.stateDir}
	if g.config != "" {
		args = append(args, "--config", g.config)
	}
	cmd := exec.Command(exe, args...)
	if os.Getenv("PATH") == "" {
		// Runtimes run hooks with only the hook's own environment: the
		// daemon still needs fusermount3 and friends on PATH.
		cmd.Env = append(os.Environ(), "PATH="+defaultPATH)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start daemon: %w", err)
	}
	// Not waited for: it outlives us. Release it so no zombie is kept
	// should we live on.
	return cmd.Process.Release()
}
