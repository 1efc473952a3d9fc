package nriplugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"

	"github.com/lxmount/lxmount/internal/nritest"
	"github.com/lxmount/lxmount/supervisor"
)

// These tests run the plugin against the NRI module's runtime side
// (internal/nritest, pkg/adaptation) on a real socket, with a fake
// supervisor: the protocol, the bounds and the reconnection. The
// integration tests run it in the daemon with runc containers.

// fakeSupervisor records what the plugin asks.
type fakeSupervisor struct {
	mu       sync.Mutex
	attached []supervisor.Attach
	detached []string
	// attach, when set, answers AttachRequest.
	attach func(supervisor.Attach) error
	calls  chan supervisor.Attach
}

func newFake() *fakeSupervisor { return &fakeSupervisor{calls: make(chan supervisor.Attach, 16)} }

func (f *fakeSupervisor) AttachRequest(req supervisor.Attach) (supervisor.ContainerInfo, bool, error) {
	f.mu.Lock()
	f.attached = append(f.attached, req)
	fn := f.attach
	f.mu.Unlock()
	f.calls <- req
	if fn != nil {
		if err := fn(req); err != nil {
			return supervisor.ContainerInfo{}, false, err
		}
	}
	return supervisor.ContainerInfo{ID: req.OCI.ID}, false, nil
}

func (f *fakeSupervisor) DetachRuntime(id string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.detached = append(f.detached, id)
	return id, nil
}

func (f *fakeSupervisor) RuntimePID(id string) (int, error) {
	return 0, fmt.Errorf("container %s: %w", id, supervisor.ErrNotAttached)
}

func (f *fakeSupervisor) next(t *testing.T) supervisor.Attach {
	t.Helper()
	select {
	case req := <-f.calls:
		return req
	case <-time.After(5 * time.Second):
		t.Fatal("no attach asked for within 5 s")
	}
	return supervisor.Attach{}
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// setup starts a runtime on a temp socket and a plugin connected to it.
func setup(t *testing.T, cfg Config) (*nritest.Runtime, *Plugin, *fakeSupervisor, string) {
	t.Helper()
	dir := t.TempDir()
	socket := filepath.Join(dir, "nri.sock")
	rt, err := nritest.Start(socket, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	f := newFake()
	cfg.Socket = socket
	cfg.ReadyFile = filepath.Join(dir, "nri.ready")
	cfg.Log = testLog(t)
	p := New(f, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := rt.WaitPlugins(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	return rt, p, f, cfg.ReadyFile
}

var testPod = &api.PodSandbox{Id: "pod-1", Name: "web-0", Namespace: "shop", Uid: "uid-1", Labels: map[string]string{"app": "web"}}

// TestEvents: registration, readiness, Synchronize's running containers,
// StartContainer's attach and StopContainer/RemoveContainer's detach.
func TestEvents(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	socket := filepath.Join(dir, "nri.sock")
	rt, err := nritest.Start(socket, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	// A container running before the plugin connects: Synchronize lists it.
	if err := rt.RunPod(ctx, testPod); err != nil {
		t.Fatal(err)
	}
	old := &api.Container{Id: "old-1", PodSandboxId: "pod-1", Name: "sidecar", Pid: 77}
	if err := rt.CreateContainer(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := rt.Started(ctx, old); err != nil {
		t.Fatal(err)
	}
	created := &api.Container{Id: "created-1", PodSandboxId: "pod-1", Name: "late", Pid: 78}
	if err := rt.CreateContainer(ctx, created); err != nil {
		t.Fatal(err)
	}

	f := newFake()
	ready := filepath.Join(dir, "nri.ready")
	p := New(f, Config{Socket: socket, HookTimeout: time.Second, ReadyFile: ready, Log: testLog(t)})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { p.Run(runCtx); close(done) }()
	defer func() { cancel(); <-done }()
	if err := rt.WaitPlugins(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if req := f.next(t); req.PID != 77 || req.OCI.ID != "old-1" || !req.OCI.Deadline.IsZero() {
		t.Errorf("synchronize attached %+v %+v, want old-1 pid 77 without a deadline", req, req.OCI)
	}
	if !p.Registered() {
		t.Error("Registered() false after the runtime synchronized the plugin")
	}
	if b, err := os.ReadFile(ready); err != nil || strings.TrimSpace(string(b)) != "containerd" {
		t.Errorf("ready file: %q, %v", b, err)
	}

	ctr := &api.Container{Id: "new-1", PodSandboxId: "pod-1", Name: "nginx", Pid: 99,
		Annotations: map[string]string{"io.kubernetes.cri.container-type": "container"}}
	if err := rt.CreateContainer(ctx, ctr); err != nil {
		t.Fatal(err)
	}
	if err := rt.StartContainer(ctx, ctr); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	req := f.next(t)
	if req.PID != 99 || req.OCI.ID != "new-1" || req.OCI.Name != "nginx" || req.OCI.Rootfs != "/" || req.OCI.Runtime != "containerd" ||
		req.OCI.Deadline.IsZero() || req.OCI.Annotations["io.kubernetes.pod.namespace"] != "shop" || req.OCI.Annotations["app"] != "web" {
		t.Errorf("StartContainer attached %+v %+v", req, req.OCI)
	}
	if err := rt.StopContainer(ctx, ctr); err != nil {
		t.Fatal(err)
	}
	if err := rt.RemoveContainer(ctx, ctr); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	detached := strings.Join(f.detached, ",")
	f.mu.Unlock()
	if detached != "new-1,new-1" {
		t.Errorf("detached %q, want new-1 on stop and on remove", detached)
	}
	select {
	case req := <-f.calls:
		t.Errorf("unexpected attach %+v (a created container is attached at its StartContainer)", req.OCI)
	default:
	}
}

// TestStartBound: an attach that does not finish holds StartContainer for
// hook_timeout at most; the container then starts, unless Refuse. A
// container no policy matches is never refused.
func TestStartBound(t *testing.T) {
	ctx := context.Background()
	for _, refuse := range []bool{false, true} {
		t.Run(fmt.Sprintf("refuse=%t", refuse), func(t *testing.T) {
			rt, _, f, _ := setup(t, Config{HookTimeout: 300 * time.Millisecond, Refuse: refuse})
			release := make(chan struct{})
			defer close(release)
			f.mu.Lock()
			f.attach = func(supervisor.Attach) error { <-release; return nil }
			f.mu.Unlock()
			if err := rt.RunPod(ctx, testPod); err != nil {
				t.Fatal(err)
			}
			ctr := &api.Container{Id: "slow-1", PodSandboxId: "pod-1", Name: "slow", Pid: 5}
			if err := rt.CreateContainer(ctx, ctr); err != nil {
				t.Fatal(err)
			}
			begin := time.Now()
			err := rt.StartContainer(ctx, ctr)
			took := time.Since(begin)
			t.Logf("StartContainer with a stuck attach answered in %s (hook_timeout 300ms)", took)
			if took < 250*time.Millisecond || took > time.Second {
				t.Errorf("StartContainer took %s, want about hook_timeout (300ms)", took)
			}
			if refuse != (err != nil) {
				t.Errorf("StartContainer: %v; want an error only with refuse", err)
			}
			if err != nil && !strings.Contains(err.Error(), "hook_failure") {
				t.Errorf("the refusal does not say why: %v", err)
			}

			// No policy: the container starts whatever hook_failure says.
			f.mu.Lock()
			f.attach = func(supervisor.Attach) error { return fmt.Errorf("attach 6: %w (no policy)", supervisor.ErrNoPolicy) }
			f.mu.Unlock()
			other := &api.Container{Id: "nopolicy-1", PodSandboxId: "pod-1", Name: "other", Pid: 6}
			if err := rt.CreateContainer(ctx, other); err != nil {
				t.Fatal(err)
			}
			if err := rt.StartContainer(ctx, other); err != nil {
				t.Errorf("a container no policy matches: StartContainer %v, want nil", err)
			}
			// A failed attach (not late).
			f.mu.Lock()
			f.attach = func(supervisor.Attach) error { return errors.New("mount failed") }
			f.mu.Unlock()
			failing := &api.Container{Id: "fail-1", PodSandboxId: "pod-1", Name: "fail", Pid: 7}
			if err := rt.CreateContainer(ctx, failing); err != nil {
				t.Fatal(err)
			}
			if err := rt.StartContainer(ctx, failing); refuse != (err != nil) {
				t.Errorf("failed attach: StartContainer %v; want an error only with refuse", err)
			}
		})
	}
}

// TestReconnect: the plugin registers again after the runtime restarts,
// and when the socket appears after the plugin started; readiness
// follows.
func TestReconnect(t *testing.T) {
	rt, p, _, ready := setup(t, Config{})
	if n := p.Registrations(); n != 1 {
		t.Fatalf("registrations %d, want 1", n)
	}
	begin := time.Now()
	if err := rt.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := rt.WaitPlugins(1, 5*time.Second); err != nil {
		t.Fatalf("after a runtime restart: %v", err)
	}
	t.Logf("registered again %s after the runtime restarted", time.Since(begin).Round(time.Millisecond))
	if n := p.Registrations(); n != 2 {
		t.Errorf("registrations %d, want 2", n)
	}

	// Down for a while: not ready, no socket; then back.
	rt.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for p.Registered() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if p.Registered() {
		t.Fatal("still registered 5 s after the runtime stopped")
	}
	if _, err := os.Stat(ready); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ready file with the runtime down: %v", err)
	}
	time.Sleep(1500 * time.Millisecond) // several retries against no socket
	begin = time.Now()
	if err := rt.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := rt.WaitPlugins(1, 5*time.Second); err != nil {
		t.Fatalf("after the socket came back: %v", err)
	}
	t.Logf("registered %s after the socket came back", time.Since(begin).Round(time.Millisecond))
	if !p.Registered() || p.Registrations() != 3 {
		t.Errorf("Registered %t, registrations %d; want true, 3", p.Registered(), p.Registrations())
	}
}
