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

	"github.com/lxmount/lxmount/configs"
	"github.com/lxmount/lxmount/supervisor"
	"github.com/lxmount/lxmount/supervisor/discovery"
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

When no daemon answers on the socket, attach first checks what the daemon
would (the process exists and is in a container, the policy exists, the
configuration loads), then starts one in the background (logging to
<state-dir>/daemon.log) unless --no-start is given. A daemon started so
attaches only what it is asked to: no reconcile loop, no event watch,
unless lxmount.toml sets reconcile_interval or events.

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
		if !noStart {
			// With --no-start, ensureDaemon refuses first: nothing
			// would be started anyway.
			if err := checkAttach(g, cl, pid, policy); err != nil {
				return err
			}
		}
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

// checkAttach refuses, before anything is started, an attach a daemon
// would refuse: when none answers, pid must be a process in a container
// and policy ("" lets the policies decide) a policy of the configuration.
// With a daemon answering, the daemon decides.
func checkAttach(g globals, cl *supervisor.Client, pid int, policy string) error {
	ctx, cancel := context.WithTimeout(context.Background(), daemonStartWait)
	defer cancel()
	if err := cl.PingContext(ctx); !errors.Is(err, supervisor.ErrNoDaemon) {
		return nil // a daemon answers (or refuses us: Attach says so)
	}
	if _, err := discovery.Resolve(discovery.Options{}, pid); err != nil {
		return fmt.Errorf("pid %d: %w (no daemon was started)", pid, err)
	}
	set, err := configs.Load(g.config)
	if err != nil {
		return fmt.Errorf("no daemon was started: %w", err)
	}
	if policy == "" {
		return nil
	}
	for _, p := range set.Policies {
		if p.Name == policy {
			return nil
		}
	}
	return fmt.Errorf("no policy %q in %s (see lxmount policy check; no daemon was started)", policy, orNone(policyNames(set)))
}

// policyNames lists the names of the policies of set.
func policyNames(set *configs.Set) []string {
	names := make([]string, len(set.Policies))
	for i, p := range set.Policies {
		names[i] = p.Name
	}
	return names
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
	if _, err := configs.Load(g.config); err != nil {
		// The daemon would refuse to start: say why now, not after
		// waiting for it.
		return fmt.Errorf("no daemon answers on %s and none was started: %w", g.socket, err)
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

// daemonArgs are the arguments of a daemon a command starts: the global
// flags, and --on-request, so that it attaches only what it is asked to
// (configs.Daemon.OnRequest).
func daemonArgs(g globals) []string {
	args := []string{"daemon", "--on-request", "--socket", g.socket, "--state-dir", g.stateDir}
	if g.config != "" {
		args = append(args, "--config", g.config)
	}
	return args
}

// startDaemon starts `lxmount daemon --on-request` detached (own session,
// stdio to the log file), passing on the global flags.
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
	cmd := exec.Command(exe, daemonArgs(g)...)
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
