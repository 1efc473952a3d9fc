package integration

// The NRI plugin (nri = true) against the runtime side of the NRI module
// (internal/nritest: pkg/adaptation on a real socket), with real runc
// containers created with runc's create/start split, as containerd's shim
// does: StartContainer falls between `runc create` and `runc start`, and
// the container's first instruction reads its own /proc. Policies match
// on the pod's namespace, which only NRI tells.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"

	"github.com/lxmount/lxmount/internal/nritest"
	"github.com/lxmount/lxmount/nriplugin"
)

// nriSetup is a daemon with the NRI plugin on and nothing else attaching
// (no event watch, no reconcile loop), its policy matching the pods of
// Kubernetes namespace ns alone, and the runtime's NRI socket path (no
// runtime serves it yet).
func nriSetup(t *testing.T, ns string, extra string) (*instance, string) {
	t.Helper()
	in := newInstance(t, "0s")
	socket := filepath.Join(t.TempDir(), "nri", "nri.sock")
	in.writeConfig(fmt.Sprintf("reconcile_interval = \"0s\"\nevents = false\nnri = true\nnri_socket = %q\n%s", socket, extra))
	in.writePolicy("10-test.toml", fmt.Sprintf("[[policy]]\nname = \"ns-%s\"\n[policy.match]\nkubernetes_namespace = %q\n", ns, ns))
	return in, socket
}

// startNRIRuntime serves NRI on socket for the rest of the test.
func startNRIRuntime(t *testing.T, socket string) *nritest.Runtime {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(socket), 0o700); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rt, err := nritest.Start(socket, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	return rt
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(b []byte) (int, error) {
	w.t.Log("nri runtime: " + strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// nriPod is a pod of Kubernetes namespace ns.
func nriPod(ns string) *api.PodSandbox {
	return &api.PodSandbox{Id: "pod-" + ns, Name: "web-0", Namespace: ns, Uid: "uid-" + ns,
		Labels: map[string]string{"app": "web"}}
}

// nriContainer is what the test runtime tells the plugin of runc
// container c of pod, whose init is pid.
func nriContainer(c *RuncContainer, pod *api.PodSandbox, pid int) *api.Container {
	return &api.Container{Id: c.ID, PodSandboxId: pod.Id, Name: "app", Pid: uint32(pid),
		Annotations: map[string]string{"io.kubernetes.cri.container-type": "container"},
		Linux:       &api.LinuxContainer{CgroupsPath: c.CgroupPath}}
}

// runcCreate runs `runc create` for c, its stdio a file of the bundle, and
// returns the init's pid and the file.
func runcCreate(t *testing.T, c *RuncContainer) (int, string) {
	t.Helper()
	out := filepath.Join(c.Bundle, "stdout")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pidFile := filepath.Join(c.Bundle, "init.pid")
	cmd := exec.Command("runc", "--root", c.Root, "create", "--bundle", c.Bundle, "--pid-file", pidFile, c.ID)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, f, f
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(out)
		t.Fatalf("runc create %s: %v: %s", c.ID, err, b)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %q: %v", b, err)
	}
	return pid, out
}

// runcStartWait runs `runc start` for c and waits for its process to end;
// it returns what the process printed.
func runcStartWait(t *testing.T, c *RuncContainer, out string) string {
	t.Helper()
	if b, err := exec.Command("runc", "--root", c.Root, "start", c.ID).CombinedOutput(); err != nil {
		t.Fatalf("runc start %s: %v: %s", c.ID, err, b)
	}
	deadline := time.Now().Add(execTimeout)
	for time.Now().Before(deadline) {
		b, err := exec.Command("runc", "--root", c.Root, "state", c.ID).Output()
		var st struct {
			Status string `json:"status"`
		}
		if err == nil && json.Unmarshal(b, &st) == nil && st.Status == "stopped" {
			b, _ := os.ReadFile(out)
			return string(b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("container %s still runs %s after runc start", c.ID, execTimeout)
	return ""
}

// nriStart runs container c of pod through the runtime: runc create,
// CreateContainer, StartContainer (timed), runc start, PostStartContainer,
// and, once its process ended, StopContainer and RemoveContainer. It
// returns what the process printed, how long StartContainer took and the
// daemon's status between StartContainer and runc start.
func nriStart(t *testing.T, in *instance, rt *nritest.Runtime, pod *api.PodSandbox, c *RuncContainer) (string, time.Duration, []string) {
	t.Helper()
	ctx := context.Background()
	pid, out := runcCreate(t, c)
	ctr := nriContainer(c, pod, pid)
	if err := rt.CreateContainer(ctx, ctr); err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	begin := time.Now()
	if err := rt.StartContainer(ctx, ctr); err != nil {
		t.Fatalf("StartContainer: %v\ndaemon log:\n%s", err, in.log())
	}
	took := time.Since(begin)
	var attached []string
	for _, ci := range in.status().Containers {
		attached = append(attached, fmt.Sprintf("%s name=%s policy=%s pid=%d", ci.ID, ci.Name, ci.Policy, ci.InitPID))
	}
	printed := runcStartWait(t, c, out)
	if err := rt.Started(ctx, ctr); err != nil {
		t.Errorf("PostStartContainer: %v", err)
	}
	if err := rt.StopContainer(ctx, ctr); err != nil {
		t.Errorf("StopContainer: %v", err)
	}
	if err := rt.RemoveContainer(ctx, ctr); err != nil {
		t.Errorf("RemoveContainer: %v", err)
	}
	return printed, took, attached
}

// TestNRIFirstInstruction: a pod's container is attached at NRI's
// StartContainer, after runc create and before runc start, so its first
// instruction reads its limit, its CPU and its uptime; the policy chose
// it by its pod's namespace. A container of a pod in another namespace is
// left alone and starts at once. The daemon was up before the runtime:
// the plugin registered when the socket appeared.
func TestNRIFirstInstruction(t *testing.T) {
	requireRoot(t)
	ns := "shop-" + randomSuffix(t)
	in, socket := nriSetup(t, ns, "")
	in.startDaemon() // no NRI socket yet: the daemon starts all the same
	rt := startNRIRuntime(t, socket)
	if err := rt.WaitPlugins(1, 10*time.Second); err != nil {
		t.Fatalf("%v\ndaemon log:\n%s", err, in.log())
	}
	ctx := context.Background()
	pod := nriPod(ns)
	if err := rt.RunPod(ctx, pod); err != nil {
		t.Fatal(err)
	}
	c := hookBundle(t, "nri", hookMemLimit, 100000, 100000, firstReadScript)
	begin := time.Now()
	out, took, attached := nriStart(t, in, rt, pod, c)
	t.Logf("StartContainer took %s; attached then: %v", took, attached)
	r := parseFirstRead(t, out)
	r.took = time.Since(begin) // from runc create
	r.wantVirtual(t, hookMemLimit)
	if len(attached) != 1 || !strings.Contains(attached[0], "name=app") || !strings.Contains(attached[0], "policy=ns-"+ns) {
		t.Errorf("attached between StartContainer and runc start: %v, want the container app by policy ns-%s", attached, ns)
	}
	in.waitContainers(0, 10*time.Second) // forgotten when it exited

	// Another namespace: no policy, no attach, no delay.
	other := nriPod("other-" + randomSuffix(t))
	if err := rt.RunPod(ctx, other); err != nil {
		t.Fatal(err)
	}
	c2 := hookBundle(t, "nrioth", hookMemLimit, 100000, 100000, firstReadScript)
	out, took, attached = nriStart(t, in, rt, other, c2)
	t.Logf("StartContainer of a container no policy matches took %s", took)
	parseFirstRead(t, out).wantHost(t)
	if len(attached) != 0 {
		t.Errorf("a container of namespace %s was attached: %v", other.Namespace, attached)
	}
	if took > time.Second {
		t.Errorf("StartContainer of a container no policy matches took %s", took)
	}
}

// TestNRIReconnect: after the runtime restarts (its NRI socket's server
// stops, closing the connection, and comes back), the plugin registers
// again, the ready file follows, and the next container is attached
// before its first instruction.
func TestNRIReconnect(t *testing.T) {
	requireRoot(t)
	ns := "re-" + randomSuffix(t)
	in, socket := nriSetup(t, ns, "")
	rt := startNRIRuntime(t, socket)
	in.startDaemon()
	if err := rt.WaitPlugins(1, 10*time.Second); err != nil {
		t.Fatalf("%v\ndaemon log:\n%s", err, in.log())
	}
	ready := filepath.Join(in.stateDir, nriplugin.ReadyFile)
	waitFile(t, ready, true)

	rt.Stop()
	waitFile(t, ready, false)
	time.Sleep(time.Second) // the daemon retries against no socket
	if _, _, code := in.run("status"); code != 0 {
		t.Fatalf("status with the NRI runtime down: exit %d\n%s", code, in.log())
	}
	begin := time.Now()
	if err := rt.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := rt.WaitPlugins(1, 10*time.Second); err != nil {
		t.Fatalf("after the runtime came back: %v\ndaemon log:\n%s", err, in.log())
	}
	t.Logf("the plugin registered again %s after the runtime came back", time.Since(begin).Round(time.Millisecond))
	waitFile(t, ready, true)
	if n := strings.Count(in.log(), "NRI plugin registered"); n != 2 {
		t.Errorf("daemon log says %d registrations, want 2", n)
	}

	pod := nriPod(ns)
	if err := rt.RunPod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	c := hookBundle(t, "nrire", hookMemLimit, 100000, 100000, firstReadScript)
	begin = time.Now()
	out, took, _ := nriStart(t, in, rt, pod, c)
	t.Logf("StartContainer after the reconnection took %s", took)
	r := parseFirstRead(t, out)
	r.took = time.Since(begin) // from runc create
	r.wantVirtual(t, hookMemLimit)
}

// TestNRISynchronize: containers running when the plugin registers are
// attached from Synchronize's list (their namespace from NRI); detached
// at StopContainer.
func TestNRISynchronize(t *testing.T) {
	requireRoot(t)
	ns := "sync-" + randomSuffix(t)
	in, socket := nriSetup(t, ns, "")
	rt := startNRIRuntime(t, socket)
	ctx := context.Background()
	pod := nriPod(ns)
	if err := rt.RunPod(ctx, pod); err != nil {
		t.Fatal(err)
	}
	c := startRunc(t, buildBusyboxRootfs(t), "nrisync", hookMemLimit, 100000, 100000, false)
	ctr := nriContainer(c, pod, c.PID)
	if err := rt.CreateContainer(ctx, ctr); err != nil {
		t.Fatal(err)
	}
	if err := rt.Started(ctx, ctr); err != nil {
		t.Fatal(err)
	}
	in.startDaemon()
	st := in.waitContainers(1, 10*time.Second)
	if ci := st.Containers[0]; ci.InitPID != c.PID || ci.Name != "app" || ci.Policy != "ns-"+ns {
		t.Errorf("synchronize attached %+v, want %s's init %d as app by ns-%s", ci, c.ID, c.PID, ns)
	}
	out, err := c.Exec(t, "head", "-1", "/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	if got := memTotalKB(t, out); got != hookMemLimit/1024 {
		t.Errorf("MemTotal %d kB in the synchronized container, want %d", got, hookMemLimit/1024)
	}
	if err := rt.StopContainer(ctx, ctr); err != nil {
		t.Fatal(err)
	}
	in.waitContainers(0, 10*time.Second)
	out, err = c.Exec(t, "head", "-1", "/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	if got := memTotalKB(t, out); got != hostMemTotalKB(t) {
		t.Errorf("MemTotal %d kB after StopContainer detached it, want the host's %d", got, hostMemTotalKB(t))
	}
}

// waitFile waits until path exists (or, !exists, is gone).
func waitFile(t *testing.T, path string, exists bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := os.Stat(path)
		if (err == nil) == exists {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: exists %t after 10 s, want %t", path, err == nil, exists)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
