package nriplugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/nri/pkg/stub"

	"github.com/lxmount/lxmount/supervisor"
)

// DefaultSocket is where containerd and CRI-O listen for NRI plugins.
const DefaultSocket = "/var/run/nri/nri.sock"

// ReadyFile is the name, in the daemon's state directory, of the file
// that exists while the plugin is registered (Config.ReadyFile): the
// DaemonSet's readiness probe tests it.
const ReadyFile = "nri.ready"

// Registration names: the runtime calls plugins in index order (the
// index only orders plugins; lxmount changes no container's spec, so its
// place among them does not matter).
const (
	pluginName  = "lxmount"
	pluginIndex = "50"
)

// Retry waits between connection attempts: the first, doubled after each
// failure up to the last. A registration resets it.
const (
	firstRetry = 100 * time.Millisecond
	lastRetry  = 2 * time.Second
)

// Supervisor is what the plugin asks of the daemon (*supervisor.Supervisor).
type Supervisor interface {
	// AttachRequest attaches a container, as for an OCI hook.
	AttachRequest(req supervisor.Attach) (info supervisor.ContainerInfo, already bool, err error)
	// DetachRuntime detaches the container of runtime id id, if attached.
	DetachRuntime(id string) (string, error)
	// RuntimePID finds the init of container id when the runtime does
	// not say it.
	RuntimePID(id string) (int, error)
}

var _ Supervisor = (*supervisor.Supervisor)(nil)

// Config configures a Plugin.
type Config struct {
	// Socket is the runtime's NRI socket (DefaultSocket when "").
	Socket string
	// HookTimeout bounds a StartContainer (configs.Daemon.HookTimeout):
	// past it the container starts, with the host's files unless the
	// attach finished meanwhile. The runtime's request timeout, when
	// shorter, bounds it too.
	HookTimeout time.Duration
	// Refuse makes a failed StartContainer attach an error, so that the
	// runtime does not start the container (hook_failure = "refuse"). A
	// container no policy matches is never refused.
	Refuse bool
	// ReadyFile, when set, exists while the plugin is registered and
	// synchronized, for a readiness probe (`test -e`).
	ReadyFile string
	// Log receives the plugin's events; slog.Default() when nil.
	Log *slog.Logger
}

// Plugin is lxmount's NRI plugin: one per daemon, Run keeps it connected.
type Plugin struct {
	cfg   Config
	sup   Supervisor
	log   *slog.Logger
	ready atomic.Bool
	// registrations counts the sessions that registered.
	registrations atomic.Uint64
}

// New returns a plugin attaching through sup; Run connects it.
func New(sup Supervisor, cfg Config) *Plugin {
	if cfg.Socket == "" {
		cfg.Socket = DefaultSocket
	}
	if cfg.HookTimeout <= 0 {
		cfg.HookTimeout = 2 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Plugin{cfg: cfg, sup: sup, log: cfg.Log.With("nri_socket", cfg.Socket)}
}

// Registered reports whether the plugin is registered with the runtime and
// has been given its containers (Synchronize).
func (p *Plugin) Registered() bool { return p.ready.Load() }

// Registrations counts the times the plugin registered since New.
func (p *Plugin) Registrations() uint64 { return p.registrations.Load() }

// Run connects to the NRI socket, registers and serves the runtime's
// events until ctx ends; when the socket is missing, the registration
// fails or the connection drops (a runtime restart), it retries, logging
// once per outage. It returns when ctx is done.
func (p *Plugin) Run(ctx context.Context) {
	p.setReady(false, "")
	wait := firstRetry
	down := false // an outage was logged
	for ctx.Err() == nil {
		registered, err := p.session(ctx)
		if ctx.Err() != nil {
			break
		}
		switch {
		case registered:
			wait, down = firstRetry, true
			p.log.Warn("NRI connection closed (runtime restarted or stopped?); reconnecting; meanwhile new containers are attached by the event watch, hooks and reconcile")
		case !down:
			down = true
			p.log.Warn("NRI plugin not registered; retrying in the background; meanwhile new containers are attached by the event watch, hooks and reconcile", "error", err)
		default:
			p.log.Debug("NRI plugin not registered", "error", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, lastRetry)
	}
	p.setReady(false, "")
}

// session is one connection: it registers and serves until the connection
// closes or ctx ends. registered tells whether it got as far.
func (p *Plugin) session(ctx context.Context) (registered bool, err error) {
	if _, err := os.Stat(p.cfg.Socket); err != nil {
		return false, fmt.Errorf("NRI socket: %w", err)
	}
	closed := make(chan struct{})
	var once sync.Once
	h := &handler{p: p, ctx: ctx}
	st, err := stub.New(h,
		stub.WithPluginName(pluginName),
		stub.WithPluginIdx(pluginIndex),
		stub.WithSocketPath(p.cfg.Socket),
		stub.WithLogger(nriLogger{p.log}),
		stub.WithOnClose(func() { once.Do(func() { close(closed) }) }),
	)
	if err != nil {
		return false, fmt.Errorf("NRI plugin: %w", err)
	}
	h.stub = st
	if err := st.Start(ctx); err != nil {
		return false, fmt.Errorf("register on %s: %w", p.cfg.Socket, err)
	}
	p.registrations.Add(1)
	runtime, version := h.runtime()
	p.log.Info("NRI plugin registered", "runtime", runtime, "runtime_version", version,
		"runtime_nri_version", st.RuntimeNRIVersion(), "request_timeout", st.RequestTimeout())
	select {
	case <-closed:
	case <-ctx.Done():
		st.Stop()
	}
	p.setReady(false, "")
	return true, nil
}

// setReady records whether the plugin is registered and synchronized, in
// ReadyFile too.
func (p *Plugin) setReady(ready bool, runtime string) {
	p.ready.Store(ready)
	if p.cfg.ReadyFile == "" {
		return
	}
	if !ready {
		if err := os.Remove(p.cfg.ReadyFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			p.log.Warn("remove NRI ready file", "error", err)
		}
		return
	}
	if err := os.WriteFile(p.cfg.ReadyFile, []byte(runtime+"\n"), 0o644); err != nil {
		p.log.Warn("write NRI ready file", "error", err)
	}
}
