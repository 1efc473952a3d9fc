package integration

// The first instruction of a container started by a real engine, with
// lxmount as its runtime or hook: Docker (daemon.json runtimes), containerd
// (ctr --runc-binary) and Podman (the oci-hooks file of configs/deploy).
// Each engine is the test's own (internal/testenv), and each container's
// first read of /proc/meminfo, /sys/devices/system/cpu/online and
// /proc/uptime must be its own, never the host's.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lxmount/lxmount/internal/testenv"
)

// engineImage is the busybox image the engines import.
const engineImage = "docker.io/lxmount/busybox:hook"

// requireEngineHost: the engines exist on the v1 host only (the v2 VM
// lists these tests in its skip list).
func requireEngineHost(t *testing.T) {
	t.Helper()
	requireRoot(t)
	requireCgroupV1(t)
}

// dockerWithLxmount starts the test's own dockerd with lxmount-runc as its
// default runtime (the README's daemon.json), and a daemon configuration
// whose policy matches the dockerd's containers.
func dockerWithLxmount(t *testing.T) (*testenv.Dockerd, *instance) {
	t.Helper()
	requireEngineHost(t)
	in := newHookInstance(t, "")
	d := testenv.StartDockerd(t, testenv.DockerdOptions{
		Runtimes:       map[string]testenv.DockerRuntime{"lxmount": {Path: wrapperBin, Args: []string{"--lxmount-config", in.config}}},
		DefaultRuntime: "lxmount",
	})
	in.writePolicy("10-test.toml", fmt.Sprintf("[[policy]]\nname = \"test\"\n[policy.match]\ncgroup = [%q]\n", d.CgroupParent+"/*"))
	d.ImportRootfs(t, buildBusyboxRootfs(t), engineImage)
	return d, in
}

func mustDocker(t *testing.T, d *testenv.Dockerd, args ...string) string {
	t.Helper()
	out, stderr, err := d.Docker(args...)
	if err != nil {
		t.Fatalf("docker %s: %v\nstderr: %s\ndockerd log:\n%s", strings.Join(args, " "), err, stderr, d.Log(30))
	}
	return out
}

// TestDockerFirstInstruction: `docker run -m 128m --cpus 1` through
// lxmount-runc reads the container's limit, CPU and uptime at its first
// instruction, and so do `docker restart` and `docker stop` + `start` of a
// named container, which status names as Docker does.
func TestDockerFirstInstruction(t *testing.T) {
	d, in := dockerWithLxmount(t)
	out := mustDocker(t, d, "run", "--rm", "--network", "none", "-m", "128m", "--cpus", "1", engineImage, "sh", "-c", firstReadScript)
	parseFirstRead(t, out).wantVirtual(t, 128<<20)

	// A named container, kept: its log keeps the first read of every start.
	mustDocker(t, d, "run", "-d", "--name", "web", "--network", "none", "-m", "128m", "--cpus", "1", engineImage,
		"sh", "-c", firstReadScript+"; echo ---; exec sleep 1000")
	waitLogRuns(t, d, "web", 1)
	st := in.waitContainers(1, 10*time.Second)
	if len(st.Containers) != 1 || st.Containers[0].Name != "web" || st.Containers[0].Runtime != "docker" {
		t.Errorf("status containers %+v, want one named web, runtime docker", st.Containers)
	}
	mustDocker(t, d, "restart", "-t", "0", "web")
	waitLogRuns(t, d, "web", 2)
	mustDocker(t, d, "stop", "-t", "0", "web")
	mustDocker(t, d, "start", "web")
	runs := waitLogRuns(t, d, "web", 3)
	for i, r := range runs {
		t.Logf("start %d of web: %q", i+1, r)
		parseFirstRead(t, r).wantVirtual(t, 128<<20)
	}
	if h := in.status().Daemon.Hooks; h.Attached != 4 {
		t.Errorf("hook counts %+v, want 4 attached (run, run, restart, start)", h)
	}
}

// waitLogRuns waits until the container's log holds n first reads (each
// ended by ---) and returns them.
func waitLogRuns(t *testing.T, d *testenv.Dockerd, name string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := mustDocker(t, d, "logs", name)
		runs := strings.Split(out, "---\n")
		runs = runs[:len(runs)-1]
		if len(runs) >= n {
			return runs
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s logged %d first reads in 30s, want %d:\n%s", name, len(runs), n, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nginxConf sizes nginx by the CPUs it sees: worker_processes auto is
// sysconf(_SC_NPROCESSORS_ONLN), /sys/devices/system/cpu/online. The busybox
// image has no "nobody": workers run as root.
const nginxConf = `user root;
worker_processes auto;
pid /tmp/nginx.pid;
error_log stderr;
events { worker_connections 16; }
http {
  access_log off;
  client_body_temp_path /tmp/body;
  proxy_temp_path /tmp/proxy;
  fastcgi_temp_path /tmp/fastcgi;
  uwsgi_temp_path /tmp/uwsgi;
  scgi_temp_path /tmp/scgi;
  server { listen 127.0.0.1:8080; }
}
`

// TestDockerNginxWorkers: nginx with worker_processes auto in a container
// with a one-CPU quota, started through Docker with lxmount, starts one
// worker (with plain runc it starts one per host CPU).
func TestDockerNginxWorkers(t *testing.T) {
	requireCommands(t, "/usr/sbin/nginx")
	d, _ := dockerWithLxmount(t)
	conf := t.TempDir()
	if err := os.WriteFile(filepath.Join(conf, "nginx.conf"), []byte(nginxConf), 0o644); err != nil {
		t.Fatal(err)
	}
	workers := func(runtime string) int {
		id := strings.TrimSpace(mustDocker(t, d, "run", "-d", "--runtime", runtime, "--network", "none", "--cpus", "1",
			"-v", "/usr:/usr:ro", "-v", conf+":/etc/nginx:ro", "--tmpfs", "/tmp", engineImage,
			"/usr/sbin/nginx", "-c", "/etc/nginx/nginx.conf", "-g", "daemon off;"))
		defer mustDocker(t, d, "rm", "-f", id)
		pid, _ := strconv.Atoi(strings.TrimSpace(mustDocker(t, d, "inspect", "-f", "{{.State.Pid}}", id)))
		// The master forks its workers at start: wait until their number
		// holds still for a moment.
		n, last, stable := 0, -1, 0
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && stable < 5; time.Sleep(50 * time.Millisecond) {
			n = nginxWorkers(pid)
			if n == last && n > 0 {
				stable++
			} else {
				stable = 0
			}
			last = n
		}
		if n == 0 {
			logs, stderr, _ := d.Docker("logs", id)
			t.Logf("nginx (%s) started no worker; its log: %s%s", runtime, logs, stderr)
		}
		return n
	}
	host := len(cpuList(t, "/sys/devices/system/cpu/online"))
	if got := workers("lxmount"); got != 1 {
		t.Errorf("nginx through lxmount started %d workers, want 1 (one CPU of quota)", got)
	}
	if host > 1 {
		if got := workers("runc"); got != host {
			t.Errorf("control: nginx through plain runc started %d workers, want %d (the host's CPUs)", got, host)
		}
	}
}

// nginxWorkers counts the children of the nginx master pid.
func nginxWorkers(master int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", master, master))
	if err != nil {
		return 0
	}
	n := 0
	for _, f := range strings.Fields(string(b)) {
		if comm, _ := os.ReadFile("/proc/" + f + "/comm"); strings.TrimSpace(string(comm)) == "nginx" {
			n++
		}
	}
	return n
}

// cpuList parses a kernel CPU list file ("0-1,4").
func cpuList(t *testing.T, path string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cpus []int
	for _, part := range strings.Split(strings.TrimSpace(string(b)), ",") {
		lo, hi, found := strings.Cut(part, "-")
		a, _ := strconv.Atoi(lo)
		z := a
		if found {
			z, _ = strconv.Atoi(hi)
		}
		for c := a; c <= z; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus
}

// deployedHooksFile writes, into dir, configs/deploy's oci-hooks file as
// `make install` would for this test: the hook's path the test's lxmount,
// and --config naming the test daemon's configuration.
func deployedHooksFile(t *testing.T, dir, config string) {
	t.Helper()
	b, err := os.ReadFile("../configs/deploy/oci-hooks.d/lxmount.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("oci-hooks file: %v", err)
	}
	hook := doc["hook"].(map[string]any)
	hook["path"] = lxmountBin
	hook["args"] = append(hook["args"].([]any), "--config", config)
	if b, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "lxmount.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPodmanHooksFile: with configs/deploy's oci-hooks file in its hooks
// directory, a plain `podman run` (no flag about lxmount) is virtualized
// from its first instruction.
func TestPodmanHooksFile(t *testing.T) {
	requireEngineHost(t)
	in := newHookInstance(t, "")
	hooks := t.TempDir()
	deployedHooksFile(t, hooks, in.config)
	p := testenv.Podman(t, testenv.PodmanOptions{HooksDir: hooks})
	in.writePolicy("10-test.toml", fmt.Sprintf("[[policy]]\nname = \"test\"\n[policy.match]\ncgroup = [%q]\n", p.CgroupParent+"/*"))
	p.ImportRootfs(t, buildBusyboxRootfs(t), engineImage)
	// The daemon runs as a service would. A daemon the hook starts is a
	// child of conmon, Podman's subreaper, which then waits for it: the
	// README says to run lxmount.service rather than rely on that.
	in.startDaemon()
	out, stderr, err := p.Run("run", "--rm", "--cgroup-parent", p.CgroupParent, "-m", "128m", "--cpus", "1", engineImage, "sh", "-c", firstReadScript)
	if err != nil {
		t.Fatalf("podman run: %v\nstderr: %s\nlxmount log:\n%s", err, stderr, in.log())
	}
	parseFirstRead(t, out).wantVirtual(t, 128<<20)
	if h := in.status().Daemon.Hooks; h.Attached != 1 {
		t.Errorf("hook counts %+v, want 1 attached", h)
	}
}

// TestContainerdRuncBinary: containerd 1.6 (Debian's, no NRI) runs
// lxmount-runc as its runc binary (`ctr run --runc-binary`, the BinaryName
// runtime option of config.toml); the wrapper's options come from a
// one-line script, as BinaryName takes no arguments.
func TestContainerdRuncBinary(t *testing.T) {
	requireEngineHost(t)
	in := newHookInstance(t, "")
	c := testenv.StartContainerd(t)
	in.writePolicy("10-test.toml", fmt.Sprintf("[[policy]]\nname = \"test\"\n[policy.match]\ncgroup = [%q]\n", "/"+c.Namespace+"/*"))
	c.ImportRootfs(t, buildBusyboxRootfs(t), engineImage)
	script := filepath.Join(t.TempDir(), "lxmount-runc")
	if err := os.WriteFile(script, []byte(fmt.Sprintf("#!/bin/sh\nexec %s --lxmount-config %s \"$@\"\n", wrapperBin, in.config)), 0o755); err != nil {
		t.Fatal(err)
	}
	id := "lxmount-test-ctr-" + randomSuffix(t)
	out, stderr, err := c.Ctr("run", "--rm", "--runc-binary", script, "--runc-root", c.RuncRoot, "--fifo-dir", c.FifoDir,
		"--memory-limit", strconv.Itoa(128<<20), "--cpu-quota", "100000", "--cpu-period", "100000",
		engineImage, id, "sh", "-c", firstReadScript)
	if err != nil {
		t.Fatalf("ctr run: %v\nstderr: %s\nlxmount log:\n%s\ncontainerd log:\n%s", err, stderr, in.log(), c.Log(20))
	}
	parseFirstRead(t, out).wantVirtual(t, 128<<20)
	st := in.status()
	if h := st.Daemon.Hooks; h.Attached != 1 {
		t.Errorf("hook counts %+v, want 1 attached", h)
	}
}
