package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxmount/lxmount/configs"
	"github.com/lxmount/lxmount/mountns"
	"github.com/lxmount/lxmount/sources"
	"github.com/lxmount/lxmount/supervisor"
)

// privateNSMarker tells a re-executed daemon that it already runs in its
// own private mount namespace.
const privateNSMarker = "LXMOUNT_PRIVATE_MNTNS"

// fusectlDir is where the daemon mounts fusectl in its private namespace,
// to abort a container's connection on detach.
const fusectlDir = "/sys/fs/fuse/connections"

func daemonCommand() *command {
	var logLevel string
	var callTimeout time.Duration
	var onRequest bool
	c := &command{
		name:    "daemon",
		summary: "run the supervisor: one FUSE instance per attached container",
		usage:   "[--log-level LEVEL]",
		help: `Runs the supervisor in the foreground. It re-executes itself in a private
mount namespace, so its FUSE mounts never show in the host's mount table,
answers the control API on the socket (mode 0600, root peers only), and
keeps its state in the state dir. SIGTERM or SIGINT detach every container
(they see the host's files again) and stop it. 'lxmount attach' starts a
daemon in the background when none answers.

EXAMPLE:
  lxmount daemon
  lxmount daemon --socket /tmp/lx/sock --state-dir /tmp/lx --log-level debug`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&logLevel, "log-level", "", "debug, info, warn or error (default: the config's log_level, info)")
			fs.DurationVar(&callTimeout, "call-timeout", supervisor.DefaultCallTimeout, "give up a call into a container's mount namespace after this long, and leave that container alone until the call returns")
			fs.BoolVar(&onRequest, "on-request", false, "attach only what is asked for: no reconcile loop, no event watch unless the config sets them (how attach, reconcile and oci-hook start a daemon)")
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
		set, err := configs.Load(g.config)
		if err != nil {
			return fmt.Errorf("refusing to start: %w", err)
		}
		g = g.withDefaults(&set.Daemon)
		if onRequest {
			set.Daemon = set.Daemon.OnRequest()
		}
		if logLevel == "" {
			logLevel = set.Daemon.LogLevel
		}
		var level slog.Level
		if err := level.UnmarshalText([]byte(logLevel)); err != nil {
			return usageError{fmt.Sprintf("bad --log-level %q (valid: debug, info, warn, error)", logLevel)}
		}
		if os.Geteuid() != 0 {
			return errors.New("the daemon must run as root (it mounts FUSE and enters mount namespaces)")
		}
		if err := mountns.ReexecInPrivateNamespace(privateNSMarker); err != nil {
			return fmt.Errorf("enter a private mount namespace: %w", err)
		}
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
		raiseNoFile(log)
		return runDaemon(g, set, log, callTimeout)
	}
	return c
}

// metricsMux serves /metrics.
func metricsMux(sup *supervisor.Supervisor) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", sup.MetricsHandler())
	return mux
}

// raiseNoFile raises the soft RLIMIT_NOFILE to the hard limit: each
// container costs the daemon a few descriptors (its FUSE device, pidfd,
// namespace, cgroup files), and Go's own default raise happens only when
// the soft limit is 1024. The limits are logged.
func raiseNoFile(log *slog.Logger) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("RLIMIT_NOFILE unknown", "error", err)
		return
	}
	was := lim.Cur
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			log.Warn("raise RLIMIT_NOFILE", "soft", was, "hard", lim.Max, "error", err)
			return
		}
	}
	log.Info("descriptor limit", "soft", lim.Cur, "was", was, "hard", lim.Max)
}

// stopBound is how long the daemon takes at most to stop after SIGTERM,
// whatever containers do: past it, it exits with what is left undone
// (the next daemon heals the mounts). Supervisor.Close's own bound
// (DefaultStopTimeout) and the server's shutdown wait fit inside.
const stopBound = 10 * time.Second

// exitWithin makes sure the daemon is gone within bound of ctx ending
// (SIGTERM), whatever is still running then (a recovery, a reconcile, a
// detach waiting for a container): it logs what it gives up and exits 1.
func exitWithin(ctx context.Context, bound time.Duration, log *slog.Logger, g globals) {
	<-ctx.Done()
	time.Sleep(bound)
	log.Error("stop: still busy; exiting now with work left (the next daemon heals the mounts)", "bound", bound)
	os.Remove(g.socket)
	os.Remove(filepath.Join(g.stateDir, supervisor.PIDFile))
	os.Exit(1)
}

// runDaemon runs the supervisor until SIGTERM or SIGINT.
func runDaemon(g globals, set *configs.Set, log *slog.Logger, callTimeout time.Duration) error {
	if err := os.MkdirAll(g.stateDir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	lock, err := supervisor.LockStateDir(g.stateDir) // held for the daemon's life
	if err != nil {
		return err
	}
	defer lock.Close()
	fusectl := ""
	if err := unix.Mount("fusectl", fusectlDir, "fusectl", 0, ""); err == nil || errors.Is(err, unix.EBUSY) {
		fusectl = fusectlDir
	} else {
		log.Warn("fusectl unavailable: a detached container's open files keep being served until closed", "error", err)
	}
	l, err := supervisor.Listen(g.socket)
	if err != nil {
		return err
	}
	sup, err := supervisor.New(supervisor.Config{
		StateDir:   g.stateDir,
		Socket:     g.socket,
		Version:    version,
		Host:       sources.DefaultHost(),
		FusectlDir: fusectl,
		Spares:     true,
		Policies:   supervisor.PoliciesFrom(set),
		Reload: func() (supervisor.Policies, error) {
			set, err := configs.Load(g.config)
			if err != nil {
				return nil, err
			}
			return supervisor.PoliciesFrom(set), nil
		},
		Log:         log,
		CallTimeout: callTimeout,
	})
	if err != nil {
		l.Close()
		return err
	}
	if err := supervisor.WritePIDFile(g.stateDir); err != nil {
		l.Close()
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go exitWithin(ctx, stopBound, log, g)
	log.Info("daemon started", "pid", os.Getpid(), "version", version, "socket", g.socket, "state_dir", g.stateDir,
		"config", set.ConfigFile, "policies", len(set.Policies), "reconcile_interval", set.Daemon.ReconcileInterval)
	// Watch exec events before recovering, so that a container starting
	// meanwhile is queued, not missed.
	var events *supervisor.EventWatcher
	if set.Daemon.Events {
		if events, err = sup.WatchEvents(); err != nil {
			log.Warn("exec events unavailable (the proc connector needs CONFIG_PROC_EVENTS and the initial namespaces); new containers are attached by reconcile, hooks and attach only", "error", err)
		}
	}
	sup.Recover()
	// After recovering: Synchronize then attaches what Recover did not.
	waitNRI := startNRI(ctx, g.stateDir, set.Daemon, sup, log)
	startSysinfoAgent(ctx, g, set, sup, log)
	if set.Daemon.ReconcileInterval > 0 {
		go sup.ReconcileEvery(ctx, set.Daemon.ReconcileInterval)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading policies")
				sup.ReloadPolicies()
			}
		}
	}()
	if addr := set.Daemon.MetricsAddress; addr != "" {
		ms := &http.Server{Addr: addr, Handler: metricsMux(sup), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := ms.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server", "address", addr, "error", err)
			}
		}()
		defer ms.Close()
		log.Info("metrics", "address", addr, "path", "/metrics")
	}
	serveErr := sup.Serve(ctx, l)
	stop()
	if events != nil {
		events.Close() // before detaching: no attach may start after
	}
	waitNRI() // the plugin stops with ctx: no NRI attach starts after
	closeErr := sup.Close()
	os.Remove(g.socket)
	os.Remove(filepath.Join(g.stateDir, supervisor.PIDFile))
	log.Info("daemon stopped")
	return errors.Join(serveErr, closeErr)
}
