package main

import (
	"context"
	"flag"
	"io"
	"os"
	"time"

	"github.com/lxmount/lxmount/configs"
	"github.com/lxmount/lxmount/ocihook"
	"github.com/lxmount/lxmount/supervisor"
)

func ociHookCommand() *command {
	var runtime string
	var deadline int64
	c := &command{
		name:    "oci-hook",
		summary: "OCI runtime hook: attach a container before its first instruction",
		usage:   "[--runtime NAME] < state.json",
		help: `Run by an OCI runtime as a createRuntime hook (lxmount-runc adds it to
every bundle it creates; podman and CRI-O run it from the oci-hooks file
in configs/deploy). It reads the container's state on stdin, the bundle's
config.json for the root file system and annotations, and asks the daemon
to attach the container before pivot_root, so the container's first
instruction already reads its own /proc. It starts a daemon if none
answers, as attach does.

It waits hook_timeout (lxmount.toml, default 2s) at most. When the attach
fails or takes longer, hook_failure decides: "start" (the default) lets the
container start with the host's files, logs one line to stderr and to
<state-dir>/hook-failures.log when no daemon answered, and leaves the
container to the event watch or the next reconcile; "refuse" exits 1, so
the runtime refuses to start the container. A container annotated
lxmount.io/skip=true is left alone.

lxmount-runc adds the same hook as "lxmount-runc --lxmount-hook", a smaller
program that starts sooner; it hands the container over to "lxmount
oci-hook" (keeping its deadline) only when it must start a daemon.

EXAMPLE (a config.json hooks entry):
  "createRuntime": [{"path": "/usr/local/bin/lxmount",
                     "args": ["lxmount", "oci-hook", "--config", "/etc/lxmount/lxmount.toml"]}]`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&runtime, "runtime", "", "the OCI runtime that runs the hook (runc, crun), for status")
			fs.Int64Var(&deadline, "deadline", 0, "the hook's deadline in Unix nanoseconds, instead of now + hook_timeout (lxmount-runc's hand-over)")
		},
	}
	c.run = func(g globals, args []string, stdout, stderr io.Writer) error {
		pos, _, err := parseFlags(c, args)
		if err != nil {
			return err
		}
		if len(pos) != 0 {
			return usageError{"takes no arguments (the OCI state comes on stdin)"}
		}
		cfg := ocihook.Config{Socket: g.socket, StateDir: g.stateDir, Runtime: runtime}
		if cfg.Daemon, cfg.DaemonErr = configs.LoadDaemon(g.config); cfg.DaemonErr != nil {
			cfg.Daemon = configs.DefaultDaemon()
		}
		if deadline != 0 {
			cfg.Deadline = time.Unix(0, deadline)
		}
		cl := supervisor.NewClient(g.socket)
		cfg.NoDaemon = func(ctx context.Context, _ []byte) (bool, error) {
			// Nothing listens: start a daemon, as attach does.
			dl, _ := ctx.Deadline()
			return false, ensureDaemonBy(g, cl, false, dl)
		}
		return ocihook.Run(cfg, os.Stdin, stderr)
	}
	return c
}
