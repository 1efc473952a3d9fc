// Package nritest is a container runtime's side of NRI for tests: the NRI
// module's pkg/adaptation (what containerd and CRI-O embed) serving a real
// NRI socket, fed by the test with the pods and containers it makes, and
// relaying the events a runtime sends, in a runtime's order. It runs no
// container itself: the tests create them with runc (create, then the
// StartContainer event, then start), as containerd's runc shim does.
//
// The adaptation listens on a socket of its own; the plugins' socket is a
// relay to it, so that Stop closes the plugins' connections as a runtime
// that exits does (Adaptation.Stop leaves external plugins connected).
package nritest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/nri/pkg/adaptation"
	"github.com/containerd/nri/pkg/api"
	nrilog "github.com/containerd/nri/pkg/log"
)

// Runtime is a fake container runtime with a real NRI adaptation.
type Runtime struct {
	socket string
	dir    string // plugin and config dirs: empty, no launched plugin

	mu      sync.Mutex
	nri     *adaptation.Adaptation
	relay   net.Listener      // on socket
	conns   map[net.Conn]bool // relayed connections, both ends
	pods    map[string]*api.PodSandbox
	ctrs    map[string]*api.Container
	plugins int
	changed chan struct{} // closed and replaced when plugins changes
}

// Start serves NRI on socket, as a runtime named "containerd" does (the
// name policies' runtime criterion knows). log receives the NRI module's
// messages: its logger is process-wide (nrilog.Set), so Start sets it.
func Start(socket string, log *slog.Logger) (*Runtime, error) {
	if log != nil {
		nrilog.Set(slogLogger{log})
	}
	dir, err := os.MkdirTemp("", "nritest-")
	if err != nil {
		return nil, err
	}
	r := &Runtime{socket: socket, dir: dir, pods: map[string]*api.PodSandbox{}, ctrs: map[string]*api.Container{},
		conns: map[net.Conn]bool{}, changed: make(chan struct{})}
	if err := r.start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return r, nil
}

func (r *Runtime) start() error {
	inner := filepath.Join(r.dir, "adaptation.sock")
	a, err := adaptation.New("containerd", "v2.1.0-nritest", r.sync, r.update,
		adaptation.WithSocketPath(inner),
		adaptation.WithPluginPath(filepath.Join(r.dir, "plugins")),
		adaptation.WithPluginConfigPath(filepath.Join(r.dir, "conf.d")),
		adaptation.WithMetrics(counter{r}),
	)
	if err != nil {
		return fmt.Errorf("nri adaptation: %w", err)
	}
	if err := a.Start(); err != nil {
		return fmt.Errorf("nri adaptation: %w", err)
	}
	os.Remove(r.socket)
	l, err := net.Listen("unix", r.socket)
	if err != nil {
		a.Stop()
		return err
	}
	r.mu.Lock()
	r.nri, r.relay = a, l
	r.mu.Unlock()
	go r.accept(l, inner)
	return nil
}

// accept relays each connection on l to the adaptation's socket.
func (r *Runtime) accept(l net.Listener, inner string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		d, err := net.Dial("unix", inner)
		if err != nil {
			c.Close()
			continue
		}
		r.mu.Lock()
		r.conns[c], r.conns[d] = true, true
		r.mu.Unlock()
		go pipe(c, d)
		go pipe(d, c)
	}
}

// pipe copies src to dst, then closes both.
func pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// Stop stops serving: plugins see their connection close, the socket is
// removed (a runtime that stops).
func (r *Runtime) Stop() {
	r.mu.Lock()
	a, l, conns := r.nri, r.relay, r.conns
	r.nri, r.relay, r.conns = nil, nil, map[net.Conn]bool{}
	r.mu.Unlock()
	if l != nil {
		l.Close()
	}
	for c := range conns {
		c.Close()
	}
	if a != nil {
		a.Stop()
	}
	os.Remove(r.socket)
	r.setPlugins(0)
}

// Restart stops serving and serves again on the same socket with the same
// pods and containers, as a restarted runtime does.
func (r *Runtime) Restart() error {
	r.Stop()
	return r.start()
}

// Close stops the runtime for good.
func (r *Runtime) Close() {
	r.Stop()
	os.RemoveAll(r.dir)
}

// WaitPlugins waits until n plugins are connected and synchronized.
func (r *Runtime) WaitPlugins(n int, within time.Duration) error {
	deadline := time.After(within)
	for {
		r.mu.Lock()
		got, ch := r.plugins, r.changed
		r.mu.Unlock()
		if got == n {
			return nil
		}
		select {
		case <-ch:
		case <-deadline:
			return fmt.Errorf("%d NRI plugins after %s, want %d", got, within, n)
		}
	}
}

func (r *Runtime) setPlugins(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.plugins != n {
		r.plugins = n
		close(r.changed)
		r.changed = make(chan struct{})
	}
}

func (r *Runtime) adaptation() (*adaptation.Adaptation, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.nri == nil {
		return nil, fmt.Errorf("nri runtime stopped")
	}
	return r.nri, nil
}

// sync is the runtime's SyncFn: it lists the pods and the containers.
func (r *Runtime) sync(ctx context.Context, cb adaptation.SyncCB) error {
	r.mu.Lock()
	pods := make([]*api.PodSandbox, 0, len(r.pods))
	for _, p := range r.pods {
		pods = append(pods, p)
	}
	ctrs := make([]*api.Container, 0, len(r.ctrs))
	for _, c := range r.ctrs {
		ctrs = append(ctrs, c)
	}
	r.mu.Unlock()
	_, err := cb(ctx, pods, ctrs)
	return err
}

// update is the runtime's UpdateFn: this runtime applies no update.
func (r *Runtime) update(context.Context, []*api.ContainerUpdate) ([]*api.ContainerUpdate, error) {
	return nil, nil
}

// RunPod records pod and sends RunPodSandbox.
func (r *Runtime) RunPod(ctx context.Context, pod *api.PodSandbox) error {
	r.mu.Lock()
	r.pods[pod.Id] = pod
	r.mu.Unlock()
	a, err := r.adaptation()
	if err != nil {
		return err
	}
	return a.RunPodSandbox(ctx, &api.RunPodSandboxRequest{Pod: pod})
}

// pod returns the recorded pod of ctr.
func (r *Runtime) pod(ctr *api.Container) (*api.PodSandbox, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pod := r.pods[ctr.PodSandboxId]
	if pod == nil {
		return nil, fmt.Errorf("container %s: no pod %q", ctr.Id, ctr.PodSandboxId)
	}
	return pod, nil
}

// CreateContainer records ctr as created and sends CreateContainer (whose
// adjustments this runtime ignores) and PostCreateContainer: call it
// after the container's runtime created it (runc create).
func (r *Runtime) CreateContainer(ctx context.Context, ctr *api.Container) error {
	pod, err := r.pod(ctr)
	if err != nil {
		return err
	}
	a, err := r.adaptation()
	if err != nil {
		return err
	}
	ctr.State = api.ContainerState_CONTAINER_CREATED
	r.mu.Lock()
	r.ctrs[ctr.Id] = ctr
	r.mu.Unlock()
	if _, err := a.CreateContainer(ctx, &api.CreateContainerRequest{Pod: pod, Container: ctr}); err != nil {
		return err
	}
	return a.PostCreateContainer(ctx, &api.PostCreateContainerRequest{Pod: pod, Container: ctr})
}

// StartContainer sends StartContainer for ctr, whose Pid is its init's:
// call it between runc create and runc start. An error is the plugins'
// refusal, on which a runtime does not start the container.
func (r *Runtime) StartContainer(ctx context.Context, ctr *api.Container) error {
	pod, err := r.pod(ctr)
	if err != nil {
		return err
	}
	a, err := r.adaptation()
	if err != nil {
		return err
	}
	return a.StartContainer(ctx, &api.StartContainerRequest{Pod: pod, Container: ctr})
}

// Started records ctr as running and sends PostStartContainer: call it
// after runc start.
func (r *Runtime) Started(ctx context.Context, ctr *api.Container) error {
	pod, err := r.pod(ctr)
	if err != nil {
		return err
	}
	ctr.State = api.ContainerState_CONTAINER_RUNNING
	a, err := r.adaptation()
	if err != nil {
		return err
	}
	return a.PostStartContainer(ctx, &api.PostStartContainerRequest{Pod: pod, Container: ctr})
}

// StopContainer records ctr as stopped and sends StopContainer.
func (r *Runtime) StopContainer(ctx context.Context, ctr *api.Container) error {
	pod, err := r.pod(ctr)
	if err != nil {
		return err
	}
	ctr.State = api.ContainerState_CONTAINER_STOPPED
	a, err := r.adaptation()
	if err != nil {
		return err
	}
	_, err = a.StopContainer(ctx, &api.StopContainerRequest{Pod: pod, Container: ctr})
	return err
}

// RemoveContainer forgets ctr and sends RemoveContainer.
func (r *Runtime) RemoveContainer(ctx context.Context, ctr *api.Container) error {
	pod, err := r.pod(ctr)
	if err != nil {
		return err
	}
	r.mu.Lock()
	delete(r.ctrs, ctr.Id)
	r.mu.Unlock()
	a, err := r.adaptation()
	if err != nil {
		return err
	}
	return a.RemoveContainer(ctx, &api.RemoveContainerRequest{Pod: pod, Container: ctr})
}

// counter takes the adaptation's plugin count.
type counter struct{ r *Runtime }

func (c counter) RecordPluginInvocation(string, string, error)                               {}
func (c counter) RecordPluginLatency(string, string, time.Duration)                          {}
func (c counter) RecordPluginAdjustments(string, string, *api.ContainerAdjustment, int, int) {}
func (c counter) UpdatePluginCount(n int)                                                    { c.r.setPlugins(n) }

var _ adaptation.Metrics = counter{}

// slogLogger hands the NRI module's messages to slog, at debug level.
type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Debugf(ctx context.Context, f string, a ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(f, a...))
}
func (l slogLogger) Infof(ctx context.Context, f string, a ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(f, a...))
}
func (l slogLogger) Warnf(ctx context.Context, f string, a ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(f, a...))
}
func (l slogLogger) Errorf(ctx context.Context, f string, a ...any) {
	l.log.ErrorContext(ctx, fmt.Sprintf(f, a...))
}
