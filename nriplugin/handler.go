package nriplugin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"

	"github.com/lxmount/lxmount/supervisor"
)

// handler serves one connection's events (stub finds its methods by
// interface).
type handler struct {
	p    *Plugin
	ctx  context.Context // the plugin's: background attaches stop with it
	stub stub.Stub

	mu             sync.Mutex
	runtimeName    string
	runtimeVersion string
}

var (
	_ stub.ConfigureInterface       = (*handler)(nil)
	_ stub.SynchronizeInterface     = (*handler)(nil)
	_ stub.StartContainerInterface  = (*handler)(nil)
	_ stub.StopContainerInterface   = (*handler)(nil)
	_ stub.RemoveContainerInterface = (*handler)(nil)
	_ stub.ShutdownInterface        = (*handler)(nil)
)

// errLate: the attach did not finish within the bound of a StartContainer.
var errLate = errors.New("not attached in time")

// answerMargin is how long before the runtime's request timeout a
// StartContainer answers at the latest: a late answer costs the
// connection (the runtime drops a plugin that times out).
const answerMargin = 200 * time.Millisecond

func (h *handler) runtime() (name, version string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.runtimeName, h.runtimeVersion
}

// Configure records the runtime's name; the events are those handler
// implements.
func (h *handler) Configure(_ context.Context, _, runtime, version string) (api.EventMask, error) {
	h.mu.Lock()
	h.runtimeName, h.runtimeVersion = runtime, version
	h.mu.Unlock()
	return 0, nil
}

// Synchronize takes the runtime's running containers: it answers at once
// (the runtime bounds the whole synchronization by its request timeout)
// and attaches them in the background, one after the other.
func (h *handler) Synchronize(_ context.Context, pods []*api.PodSandbox, ctrs []*api.Container) ([]*api.ContainerUpdate, error) {
	runtime, _ := h.runtime()
	h.p.setReady(true, runtime)
	byID := make(map[string]*api.PodSandbox, len(pods))
	for _, pod := range pods {
		byID[pod.GetId()] = pod
	}
	var running []*api.Container
	for _, c := range ctrs {
		if c.GetState() == api.ContainerState_CONTAINER_RUNNING {
			running = append(running, c)
		}
	}
	h.p.log.Info("NRI synchronize", "pods", len(pods), "containers", len(ctrs), "running", len(running))
	go h.attachAll(byID, running, runtime)
	return nil, nil
}

// attachAll attaches the containers Synchronize listed.
func (h *handler) attachAll(pods map[string]*api.PodSandbox, ctrs []*api.Container, runtime string) {
	var attached, already, alone, failed int
	for _, c := range ctrs {
		if h.ctx.Err() != nil {
			return
		}
		pid, err := h.pid(c)
		if err == nil {
			var was bool
			_, was, err = h.p.sup.AttachRequest(attachRequest(pods[c.GetPodSandboxId()], c, pid, runtime, time.Time{}))
			if was {
				already++
			}
		}
		switch {
		case errors.Is(err, supervisor.ErrNoPolicy):
			alone++
		case err != nil:
			failed++
			h.p.log.Warn("NRI synchronize: attach failed", "container", c.GetId(), "name", c.GetName(), "error", err)
		default:
			attached++
		}
	}
	h.p.log.Info("NRI synchronize done", "attached", attached-already, "already", already, "left_alone", alone, "failed", failed)
}

// pid returns the host PID of c's init: the runtime's, else from the
// runtimes' state.
func (h *handler) pid(c *api.Container) (int, error) {
	if pid := int(c.GetPid()); pid > 0 {
		return pid, nil
	}
	return h.p.sup.RuntimePID(c.GetId())
}

// deadline is when a StartContainer received now answers at the latest:
// hook_timeout after now, or answerMargin before the runtime's request
// timeout, whichever comes first.
func (h *handler) deadline(ctx context.Context, now time.Time) time.Time {
	d := now.Add(h.p.cfg.HookTimeout)
	if rt := h.stub.RequestTimeout(); rt > 0 {
		d = earliest(d, now.Add(rt-min(answerMargin, rt/2)))
	}
	if cd, ok := ctx.Deadline(); ok {
		d = earliest(d, cd.Add(-min(answerMargin, cd.Sub(now)/2)))
	}
	return d
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// StartContainer attaches ctr before its process starts: the runtime waits
// for the answer, which comes by the deadline whatever the attach does.
// An attach that fails or is late lets the container start with the
// host's files, unless Refuse.
func (h *handler) StartContainer(ctx context.Context, pod *api.PodSandbox, ctr *api.Container) error {
	begin := time.Now()
	deadline := h.deadline(ctx, begin)
	runtime, _ := h.runtime()
	done := make(chan error, 1)
	go func() {
		pid, err := h.pid(ctr)
		if err == nil {
			_, _, err = h.p.sup.AttachRequest(attachRequest(pod, ctr, pid, runtime, deadline))
		}
		done <- err
	}()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	var err error
	select {
	case err = <-done:
	case <-timer.C:
		err = fmt.Errorf("%w (%s)", errLate, deadline.Sub(begin).Round(time.Millisecond))
	}
	log := h.p.log.With("container", ctr.GetId(), "name", ctr.GetName(), "pod", pod.GetNamespace()+"/"+pod.GetName(),
		"took", time.Since(begin).Round(time.Microsecond))
	switch {
	case err == nil:
		log.Debug("NRI StartContainer: attached")
		return nil
	case errors.Is(err, supervisor.ErrNoPolicy):
		log.Debug("NRI StartContainer: left alone", "why", err)
		return nil
	case h.p.cfg.Refuse:
		log.Warn("NRI StartContainer: attach failed; the runtime refuses to start the container (hook_failure = \"refuse\")", "error", err)
		return fmt.Errorf("lxmount: container %s: %w (hook_failure = \"refuse\": the container does not start)", ctr.GetId(), err)
	default:
		log.Warn("NRI StartContainer: attach failed; the container starts with the host's files (the event watch or the next reconcile attaches it)", "error", err)
		return nil
	}
}

// StopContainer detaches the container (usually forgotten already, when
// its init exited).
func (h *handler) StopContainer(_ context.Context, _ *api.PodSandbox, ctr *api.Container) ([]*api.ContainerUpdate, error) {
	h.detach(ctr, "NRI StopContainer")
	return nil, nil
}

// RemoveContainer detaches the container if StopContainer did not.
func (h *handler) RemoveContainer(_ context.Context, _ *api.PodSandbox, ctr *api.Container) error {
	h.detach(ctr, "NRI RemoveContainer")
	return nil
}

func (h *handler) detach(ctr *api.Container, reason string) {
	id, err := h.p.sup.DetachRuntime(ctr.GetId())
	switch {
	case err != nil:
		h.p.log.Warn(reason+": detach failed", "container", ctr.GetId(), "id", id, "error", err)
	case id != "":
		h.p.log.Info(reason+": detached", "container", ctr.GetId(), "id", id)
	}
}

// Shutdown: the runtime is going away; Run reconnects when it is back.
func (h *handler) Shutdown(context.Context) {
	h.p.log.Info("NRI runtime shutting down")
}
