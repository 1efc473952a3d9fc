// Package ocihook is lxmount's OCI runtime hook (createRuntime): it reads
// the container's state on stdin and the bundle's config.json, and asks
// the daemon to attach the container before pivot_root, within
// hook_timeout, applying hook_failure when it cannot. Both `lxmount
// oci-hook` and `lxmount-runc --lxmount-hook` (the entry the wrapper adds,
// a smaller program that starts sooner) run it; only lxmount itself starts
// a daemon when none listens, so the wrapper hands that case over to it.
package ocihook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lxmount/lxmount/configs"
	"github.com/lxmount/lxmount/oci"
	"github.com/lxmount/lxmount/supervisor"
)

// Config is what one run of the hook is given.
type Config struct {
	// Daemon are the daemon settings (lxmount.toml), DaemonErr why they
	// could not be loaded (the defaults then apply, and the attach is
	// failed with that reason).
	Daemon    configs.Daemon
	DaemonErr error
	// Socket and StateDir are the daemon's, as the CLI resolved them.
	Socket, StateDir string
	// Runtime is the OCI runtime running the hook (--runtime), "" unknown.
	Runtime string
	// Deadline, when not zero, replaces now + hook_timeout: a hook handed
	// over from the wrapper keeps the wrapper's bound.
	Deadline time.Time
	// NoDaemon handles "nothing listens on the socket": start a daemon
	// and wait until ctx's deadline for it to answer (lxmount), or hand
	// the state over to a program that can (the wrapper). It returns
	// handled = true when the attach was fully dealt with there.
	NoDaemon func(ctx context.Context, state []byte) (handled bool, err error)
}

// Run attaches the container whose OCI state is on stdin. It returns an
// error only when the runtime should refuse to start the container
// (hook_failure = "refuse"); otherwise failures are said on stderr.
func Run(cfg Config, stdin io.Reader, stderr io.Writer) error {
	d := cfg.Daemon
	deadline := cfg.Deadline
	if deadline.IsZero() {
		deadline = time.Now().Add(d.HookTimeout)
	}
	raw, err := io.ReadAll(io.LimitReader(stdin, 1<<20))
	if err != nil {
		return cfg.failed(oci.State{}, fmt.Errorf("read OCI state: %w", err), false, stderr)
	}
	st, err := oci.ParseState(strings.NewReader(string(raw)))
	if err != nil {
		return cfg.failed(st, err, false, stderr)
	}
	bundle, err := oci.ReadBundle(st.Bundle)
	if err != nil {
		return cfg.failed(st, fmt.Errorf("container %s: %w", st.ID, err), false, stderr)
	}
	ann := map[string]string{}
	for k, v := range bundle.Annotations {
		ann[k] = v
	}
	for k, v := range st.Annotations {
		ann[k] = v
	}
	if oci.Skipped(ann) {
		return nil
	}
	if cfg.DaemonErr != nil {
		// The daemon refuses to start on a bad file; say why here.
		return cfg.failed(st, fmt.Errorf("container %s: %w", st.ID, cfg.DaemonErr), false, stderr)
	}
	req := supervisor.Attach{PID: st.PID, OCI: &supervisor.OCIContainer{
		ID:          st.ID,
		Bundle:      st.Bundle,
		Rootfs:      bundle.Rootfs,
		Runtime:     RuntimeOf(cfg.Runtime, st.Bundle, ann),
		Annotations: ann,
		Deadline:    deadline,
	}}
	cl := supervisor.NewClient(cfg.Socket)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	_, err = cl.AttachRequest(ctx, req)
	if errors.Is(err, supervisor.ErrNoDaemon) && cfg.NoDaemon != nil {
		handled, nerr := cfg.NoDaemon(ctx, raw)
		if handled {
			return nerr
		}
		if nerr != nil {
			return cfg.failed(st, fmt.Errorf("container %s: %w", st.ID, nerr), true, stderr)
		}
		_, err = cl.AttachRequest(ctx, req)
	}
	if err != nil {
		var api *supervisor.APIError
		answered := errors.As(err, &api)
		return cfg.failed(st, fmt.Errorf("container %s: %w", st.ID, err), !answered, stderr)
	}
	return nil
}

// failed applies hook_failure to a failed attach: the error itself with
// "refuse", else a line on stderr (and in the state directory's
// hook-failures.log when no daemon answered, which status counts) and
// success, so the container starts.
func (cfg Config) failed(st oci.State, err error, unanswered bool, stderr io.Writer) error {
	if cfg.Daemon.HookFailure == configs.HookFailureRefuse {
		return fmt.Errorf("%w (hook_failure = \"refuse\": the container does not start)", err)
	}
	fmt.Fprintf(stderr, "lxmount oci-hook: %v; the container starts with the host's files (the event watch or the next reconcile attaches it)\n", err)
	if unanswered {
		line := fmt.Sprintf("%s id=%s pid=%d: %s\n", time.Now().UTC().Format(time.RFC3339Nano), st.ID, st.PID, strings.Join(strings.Fields(err.Error()), " "))
		_ = os.MkdirAll(cfg.StateDir, 0o700)
		if f, ferr := os.OpenFile(filepath.Join(cfg.StateDir, supervisor.HookFailuresFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); ferr == nil {
			f.WriteString(line)
			f.Close()
		}
	}
	return nil
}

// RuntimeOf names what created the container, for status and policies
// (`runtime = [...]`): the manager the annotations or the bundle's place
// reveal (Podman, CRI-O, Kubernetes through containerd, Docker, plain
// containerd), else the OCI runtime that ran the hook.
func RuntimeOf(hookRuntime, bundle string, ann map[string]string) string {
	switch {
	case ann["io.container.manager"] == "libpod":
		return "podman"
	case ann["io.kubernetes.cri-o.ContainerType"] != "":
		return "cri-o"
	case ann["io.kubernetes.cri.container-type"] != "":
		return "containerd"
	case strings.Contains(bundle, "/io.containerd.runtime.v2.task/moby/"):
		return "docker"
	case strings.Contains(bundle, "/io.containerd.runtime.v2.task/"), strings.Contains(bundle, "/io.containerd.runtime.v1.linux/"):
		return "containerd"
	case hookRuntime != "":
		return hookRuntime
	}
	return "oci"
}
