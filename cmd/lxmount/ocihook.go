package main

import (
	"context"
	"errors"
	"flag"
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

func ociHookCommand() *command {
	var runtime string
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

EXAMPLE (a config.json hooks entry):
  "createRuntime": [{"path": "/usr/local/bin/lxmount",
                     "args": ["lxmount", "oci-hook", "--config", "/etc/lxmount/lxmount.toml"]}]`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&runtime, "runtime", "", "the OCI runtime that runs the hook (runc, crun), for status")
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
		return runHook(g, hookInput{stdin: os.Stdin, runtime: runtime}, stderr)
	}
	return c
}

// hookInput is what the hook is given besides its flags.
type hookInput struct {
	stdin   io.Reader
	runtime string // --runtime
}

// runHook attaches the container the OCI state on in.stdin describes.
func runHook(g globals, in hookInput, stderr io.Writer) error {
	start := time.Now()
	d, cfgErr := configs.LoadDaemon(g.config)
	if cfgErr != nil {
		d = configs.DefaultDaemon()
	}
	deadline := start.Add(d.HookTimeout)
	st, err := oci.ParseState(in.stdin)
	if err != nil {
		return hookFailed(g, d, st, err, false, stderr)
	}
	bundle, err := oci.ReadBundle(st.Bundle)
	if err != nil {
		return hookFailed(g, d, st, fmt.Errorf("container %s: %w", st.ID, err), false, stderr)
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
	if cfgErr != nil {
		// The daemon refuses to start on a bad file; say why here.
		return hookFailed(g, d, st, fmt.Errorf("container %s: %w", st.ID, cfgErr), false, stderr)
	}
	req := supervisor.Attach{PID: st.PID, OCI: &supervisor.OCIContainer{
		ID:          st.ID,
		Bundle:      st.Bundle,
		Rootfs:      bundle.Rootfs,
		Runtime:     runtimeOf(in.runtime, st.Bundle, ann),
		Annotations: ann,
		Deadline:    deadline,
	}}
	cl := supervisor.NewClient(g.socket)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	_, err = cl.AttachRequest(ctx, req)
	if errors.Is(err, supervisor.ErrNoDaemon) {
		// Nothing listens: start a daemon, as attach does, and ask again.
		if err := ensureDaemonBy(g, cl, false, deadline); err != nil {
			return hookFailed(g, d, st, fmt.Errorf("container %s: %w", st.ID, err), true, stderr)
		}
		_, err = cl.AttachRequest(ctx, req)
	}
	if err != nil {
		var api *supervisor.APIError
		answered := errors.As(err, &api)
		return hookFailed(g, d, st, fmt.Errorf("container %s: %w", st.ID, err), !answered, stderr)
	}
	return nil
}

// hookFailed applies hook_failure to a failed attach: the error itself
// with "refuse", else a line on stderr (and in the state directory's
// hook-failures.log when no daemon answered, which status counts) and
// success, so the container starts.
func hookFailed(g globals, d configs.Daemon, st oci.State, err error, unanswered bool, stderr io.Writer) error {
	if d.HookFailure == configs.HookFailureRefuse {
		return fmt.Errorf("%w (hook_failure = \"refuse\": the container does not start)", err)
	}
	msg := fmt.Sprintf("lxmount oci-hook: %v; the container starts with the host's files (the event watch or the next reconcile attaches it)", err)
	fmt.Fprintln(stderr, msg)
	if unanswered {
		line := fmt.Sprintf("%s id=%s pid=%d: %s\n", time.Now().UTC().Format(time.RFC3339Nano), st.ID, st.PID, oneLine(err.Error()))
		_ = os.MkdirAll(g.stateDir, 0o700)
		if f, ferr := os.OpenFile(filepath.Join(g.stateDir, supervisor.HookFailuresFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); ferr == nil {
			f.WriteString(line)
			f.Close()
		}
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// runtimeOf names what created the container, for status and policies
// (`runtime = [...]`): the manager the annotations or the bundle's place
// reveal (Podman, CRI-O, Kubernetes through containerd, Docker, plain
// containerd), else the OCI runtime that ran the hook.
func runtimeOf(hookRuntime, bundle string, ann map[string]string) string {
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
