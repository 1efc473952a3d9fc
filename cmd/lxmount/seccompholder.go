package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lxmount/lxmount/configs"
	"github.com/lxmount/lxmount/seccompagent"
	"github.com/lxmount/lxmount/supervisor"
)

func seccompHolderCommand() *command {
	var grace time.Duration
	c := &command{
		name:    "seccomp-holder",
		summary: "keep containers' seccomp notify fds across daemon restarts (started by lxmount-runc and the daemon)",
		usage:   "[--grace DURATION]",
		help: `Listens on <state-dir>/seccomp.sock, the linux.seccomp.listenerPath that
lxmount-runc gives containers for sysinfo(2), keeps every notify fd runc or
crun sends there, and hands them to the daemon (again after each restart).
While no daemon is connected the containers' sysinfo calls wait; after
--grace without one they get the host's values until a daemon connects.
It never fails a call. One holder runs per state directory (a lock); it
exits when its socket is removed. lxmount-runc and the daemon start it
when none runs; there is no need to start it by hand.

EXAMPLE:
  lxmount seccomp-holder --state-dir /run/lxmount`,
		flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&grace, "grace", seccompagent.DefaultGrace, "how long calls wait for a daemon before they get the host's values")
		},
	}
	c.run = func(g globals, args []string, stdout, stderr io.Writer) error {
		pos, _, err := parseFlags(c, args)
		if err != nil {
			return err
		}
		if len(pos) != 0 {
			return usageError{"takes no arguments"}
		}
		if g.stateDir == "" {
			g.stateDir = defaultStateDir
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		log := slog.New(slog.NewTextHandler(stderr, nil))
		return seccompagent.RunHolder(ctx, seccompagent.HolderConfig{StateDir: g.stateDir, Grace: grace, Log: log})
	}
	return c
}

// startSysinfoAgent answers the sysinfo calls of the containers
// lxmount-runc gave a notify rule, from sup's attachments, until ctx
// ends; with sysinfo = false in lxmount.toml it does nothing. Call it
// after Recover: a call that waited through a restart must find its
// container attached again, not get the host's values.
func startSysinfoAgent(ctx context.Context, g globals, set *configs.Set, sup *supervisor.Supervisor, log *slog.Logger) {
	if !set.Daemon.Sysinfo {
		return
	}
	self, err := os.Executable()
	if err != nil {
		log.Warn("sysinfo agent off: cannot find lxmount's binary for the fd holder", "error", err)
		return
	}
	a := seccompagent.New(seccompagent.Config{
		StateDir:   g.stateDir,
		View:       sup,
		HolderArgv: []string{self, "seccomp-holder", "--state-dir", g.stateDir},
		Log:        log,
	})
	go a.Run(ctx)
}
