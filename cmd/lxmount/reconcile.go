package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxmount/lxmount/supervisor"
)

func reconcileCommand() *command {
	var dryRun, asJSON bool
	var lockWait time.Duration
	c := &command{
		name:    "reconcile",
		summary: "attach new containers, heal broken mounts, drop dead ones",
		usage:   "[--dry-run] [--json] [--lock-wait DURATION]",
		help: `Compares the containers running on this host (found by scanning /proc,
named from runc, crun, containerd, podman, CRI-O and Docker state when
present) and the policies with what the daemon has attached, and acts:
attaches new containers a policy matches, heals broken mounts (ENOTCONN
after a daemon crash, unmounted, dead FUSE connection) in place without
restarting the container, re-applies changed policies, detaches containers
no policy matches any more and forgets those that are gone. Policies are
reloaded first.

Safe to run every minute from cron or a systemd timer: runs never overlap
(flock on <state-dir>/reconcile.lock), it starts the daemon if none answers
(passing on --socket, --state-dir and --config), and a second run right
after the first changes nothing. Prints a one-line summary; exits 1 only
when something failed. A daemon started so runs no reconcile loop of its
own and no event watch unless lxmount.toml sets reconcile_interval or
events.

--dry-run asks the running daemon for its plan and changes nothing: with
no daemon answering it says so and exits 1, starting nothing and taking
no lock.

EXAMPLE:
  lxmount reconcile
  lxmount reconcile --dry-run
  lxmount reconcile --json | jq '.actions[] | select(.error != "")'
  * * * * * root /usr/local/bin/lxmount reconcile   # /etc/cron.d/lxmount`,
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&dryRun, "dry-run", false, "print the plan, change nothing")
			fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
			fs.DurationVar(&lockWait, "lock-wait", 60*time.Second, "how long to wait for a running reconcile to finish")
		},
	}
	c.run = func(g globals, args []string, stdout, stderr io.Writer) error {
		pos, _, err := parseFlags(c, args)
		if err != nil {
			return err
		}
		if len(pos) > 0 {
			return usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
		}
		cl := supervisor.NewClient(g.socket)
		if dryRun {
			if err := cl.Ping(); err != nil {
				return dryRunWithout(err)
			}
		} else {
			unlock, err := lockReconcile(g.stateDir, lockWait)
			if err != nil {
				return err
			}
			defer unlock()
			if err := ensureDaemon(g, cl, false); err != nil {
				return err
			}
		}
		res, err := cl.Reconcile(dryRun)
		if err != nil {
			return err
		}
		if asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(res); err != nil {
				return err
			}
		} else {
			for _, a := range res.Actions {
				if a.Kind == supervisor.ActUnchanged && a.Error == "" {
					continue
				}
				verb := a.Kind
				if dryRun {
					verb = "would " + verb
				}
				line := fmt.Sprintf("%s %s (pid %d, cgroup %s, policy %s): %s", verb, dash(a.ID), a.InitPID, a.Cgroup, dash(a.Policy), a.Reason)
				if a.Error != "" {
					line += ": FAILED: " + a.Error
				}
				fmt.Fprintln(stdout, line)
			}
			prefix := ""
			if dryRun {
				prefix = "dry run: "
			}
			fmt.Fprintf(stdout, "%s%s (%s)\n", prefix, res.Summary, res.Took)
		}
		if res.Summary.Failed > 0 {
			return fmt.Errorf("%d container(s) failed", res.Summary.Failed)
		}
		return nil
	}
	return c
}

// dryRunWithout is the error of a dry run that found no daemon to ask
// (err is why). A dry run starts none, takes no lock and creates nothing:
// without a daemon nothing is attached, so it could only say that every
// container a policy matches would be attached.
func dryRunWithout(err error) error {
	if errors.Is(err, supervisor.ErrNoDaemon) {
		return fmt.Errorf("%w; a dry run starts none and changes nothing (without a daemon nothing is attached: lxmount reconcile would start one and attach what the policies match)", err)
	}
	return err
}

// lockReconcile takes an exclusive flock on <state-dir>/reconcile.lock so
// reconcile runs never overlap, waiting up to wait for a running one.
func lockReconcile(stateDir string, wait time.Duration) (func(), error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	path := filepath.Join(stateDir, "reconcile.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("another reconcile holds %s for more than %s; try again later", path, wait)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
