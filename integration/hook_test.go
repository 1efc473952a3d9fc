package integration

// The OCI hook and the runtime wrapper: containers created through
// lxmount-runc (runc, crun) read their own /proc from their first
// instruction, and a hook that cannot attach never keeps a container from
// starting unless told to.

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lxmount/lxmount/supervisor"
)

// firstReadScript is the entrypoint of the hook tests' containers: their
// very first instruction reads the three files programs size themselves
// by.
const firstReadScript = `head -1 /proc/meminfo; cat /sys/devices/system/cpu/online; cat /proc/uptime`

// firstRead is what firstReadScript printed.
type firstRead struct {
	memTotalKB uint64
	online     string
	uptime     float64
	raw        string
	took       time.Duration // how long the run that printed it took, 0: unknown
}

// parseFirstRead parses firstReadScript's output.
func parseFirstRead(t *testing.T, out string) firstRead {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 {
		t.Fatalf("container printed %q, want 3 lines", out)
	}
	r := firstRead{online: strings.TrimSpace(lines[1]), raw: out}
	f := strings.Fields(lines[0])
	if len(f) != 3 || f[0] != "MemTotal:" {
		t.Fatalf("first line %q is not MemTotal", lines[0])
	}
	r.memTotalKB, _ = strconv.ParseUint(f[1], 10, 64)
	u := strings.Fields(lines[2])
	if len(u) != 2 {
		t.Fatalf("uptime line %q", lines[2])
	}
	r.uptime, _ = strconv.ParseFloat(u[0], 64)
	return r
}

// wantVirtual checks a first read against a container of memLimit bytes
// and one CPU that started within the run that printed it: the uptime
// must be under 1 s, or under the run's own duration where starting a
// container takes longer than that (the cgroup v2 VM emulates its CPU).
func (r firstRead) wantVirtual(t *testing.T, memLimit int64) {
	t.Helper()
	if r.memTotalKB != uint64(memLimit/1024) {
		t.Errorf("first read: MemTotal %d kB, want the limit %d kB\n%s", r.memTotalKB, memLimit/1024, r.raw)
	}
	if r.online != "0" {
		t.Errorf("first read: cpu/online %q, want \"0\" (one CPU of quota)\n%s", r.online, r.raw)
	}
	if bound := max(1, r.took.Seconds()); r.uptime >= bound {
		t.Errorf("first read: uptime %.2f s, want under %.2f s (the container started %s ago at most)\n%s", r.uptime, bound, r.took.Round(time.Millisecond), r.raw)
	}
}

// wantHost checks that a first read saw the host's /proc.
func (r firstRead) wantHost(t *testing.T) {
	t.Helper()
	if int64(r.memTotalKB) != hostMemTotalKB(t) {
		t.Errorf("first read: MemTotal %d kB, want the host's %d kB\n%s", r.memTotalKB, hostMemTotalKB(t), r.raw)
	}
}

// newHookInstance is newInstance for the hook, which reads only the
// configuration file: socket and state_dir are in it. The reconcile loop
// and the event watch are off, so only the hook attaches. No daemon runs
// yet. hook_timeout is 20 s unless extra sets it: starting a daemon from
// the hook takes seconds in the emulated v2 VM, and the bound itself is
// TestHookBound's.
func newHookInstance(t *testing.T, extra string, cgroupGlobs ...string) *instance {
	t.Helper()
	in := newInstance(t, "0s", cgroupGlobs...)
	if !strings.Contains(extra, "hook_timeout") {
		extra = "hook_timeout = \"20s\"\n" + extra
	}
	in.writeConfig(fmt.Sprintf("socket = %q\nstate_dir = %q\nreconcile_interval = \"0s\"\nevents = false\n%s", in.socket, in.stateDir, extra))
	return in
}

// hookBundle prepares (does not start) a runc bundle like startRunc's,
// whose process is sh -c script.
func hookBundle(t *testing.T, name string, memLimit, cpuQuota, cpuPeriod int64, script string) *RuncContainer {
	t.Helper()
	requireRoot(t)
	requireCgroup(t)
	requireCommands(t, "runc")
	suffix := randomSuffix(t)
	tmp := t.TempDir()
	c := &RuncContainer{
		ID:         "lxmount-test-" + name + "-" + suffix,
		CgroupPath: "/lxmount-test-runc-" + name + "-" + suffix,
		Root:       filepath.Join(tmp, "runc-root"),
		Bundle:     filepath.Join(tmp, "bundle"),
	}
	if err := os.MkdirAll(c.Bundle, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("runc", "spec", "--bundle", c.Bundle).CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v: %s", err, out)
	}
	rootfs := buildBusyboxRootfs(t)
	path := filepath.Join(c.Bundle, "config.json")
	if err := editRuncSpec(path, rootfs, c, memLimit, cpuQuota, cpuPeriod, false); err != nil {
		t.Fatal(err)
	}
	editSpec(t, path, func(spec map[string]any) {
		spec["process"].(map[string]any)["args"] = []string{"sh", "-c", script}
	})
	t.Cleanup(func() { removeRunc(t, c) })
	return c
}

// editSpec edits a config.json as generic JSON.
func editSpec(t *testing.T, path string, edit func(map[string]any)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	edit(spec)
	if b, err = json.MarshalIndent(spec, "", "\t"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// runWrapped runs the container to its end in the foreground through
// lxmount-runc with the given wrapper options, and returns what it
// printed and the runtime's error. prefix, when set, runs the wrapper
// under another command (crun's private mount namespace).
func runWrapped(t *testing.T, c *RuncContainer, prefix []string, wrapperOpts ...string) (string, string, error) {
	t.Helper()
	argv := append(append([]string{}, prefix...), wrapperBin)
	argv = append(argv, wrapperOpts...)
	argv = append(argv, "--root", c.Root, "run", "--bundle", c.Bundle, c.ID)
	cmd := exec.Command(argv[0], argv[1:]...)
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return so.String(), se.String(), err
	case <-time.After(execTimeout):
		cmd.Process.Kill()
		t.Fatalf("%v did not finish in %s; stderr: %s", argv, execTimeout, se.String())
	}
	return "", "", nil
}

// hookEntries returns the bundle's createRuntime hooks.
func hookEntries(t *testing.T, c *RuncContainer) []map[string]any {
	t.Helper()
	var spec struct {
		Hooks map[string][]map[string]any `json:"hooks"`
	}
	b, err := os.ReadFile(filepath.Join(c.Bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	return spec.Hooks["createRuntime"]
}

const hookMemLimit = 128 << 20

// TestHookRunc: a runc container created through lxmount-runc reads its
// own limit, CPUs and uptime at its first instruction; the hook started
// the daemon, which then forgets the container when it exits. A second
// run of the same bundle keeps one hook entry.
func TestHookRunc(t *testing.T) {
	c := hookBundle(t, "hook", hookMemLimit, 100000, 100000, firstReadScript)
	in := newHookInstance(t, "", c.CgroupPath)
	begin := time.Now()
	out, stderr, err := runWrapped(t, c, nil, "--lxmount-config", in.config)
	if err != nil {
		t.Fatalf("lxmount-runc run: %v\nstderr: %s\ndaemon log:\n%s", err, stderr, in.log())
	}
	r := parseFirstRead(t, out)
	r.took = time.Since(begin)
	r.wantVirtual(t, hookMemLimit)
	if in.daemonPID() == 0 {
		t.Fatalf("the hook started no daemon in %s", in.stateDir)
	}
	if n := len(hookEntries(t, c)); n != 1 {
		t.Errorf("config.json has %d createRuntime hooks, want 1", n)
	}
	st := in.waitContainers(0, 10*time.Second)
	if st.Daemon.Hooks.Attached != 1 || st.Daemon.Hooks.Late+st.Daemon.Hooks.Failed+st.Daemon.Hooks.Unanswered != 0 {
		t.Errorf("hook counts %+v, want 1 attached", st.Daemon.Hooks)
	}

	// The same bundle again (as `docker start` reuses one): one entry.
	begin = time.Now()
	out, stderr, err = runWrapped(t, c, nil, "--lxmount-config", in.config)
	if err != nil {
		t.Fatalf("second run: %v\nstderr: %s", err, stderr)
	}
	r = parseFirstRead(t, out)
	r.took = time.Since(begin)
	r.wantVirtual(t, hookMemLimit)
	if n := len(hookEntries(t, c)); n != 1 {
		t.Errorf("after a second create config.json has %d createRuntime hooks, want 1", n)
	}
}

// crunPrefix runs a command as crun 1.8 needs it on this project's hosts:
// it refuses a hybrid cgroup layout whose cgroup2 mount has controllers
// (/sys/fs/cgroup/unified with hugetlb here), so the command runs in a
// private mount namespace without that mount. The host's mounts are not
// touched.
func crunPrefix(t *testing.T) []string {
	t.Helper()
	requireCommands(t, "crun", "unshare")
	return []string{"unshare", "--mount", "--propagation", "private", "sh", "-c",
		`if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified || exit 1; fi; exec "$@"`, "sh"}
}

// TestHookCrun: the same with crun as the real runtime.
func TestHookCrun(t *testing.T) {
	requireCgroupV1(t)
	c := hookBundle(t, "hookcrun", hookMemLimit, 100000, 100000, firstReadScript)
	in := newHookInstance(t, "", c.CgroupPath)
	in.startDaemon()
	out, stderr, err := runWrapped(t, c, crunPrefix(t), "--lxmount-config", in.config, "--lxmount-runtime", "crun")
	if err != nil {
		t.Fatalf("lxmount-runc --lxmount-runtime crun run: %v\nstderr: %s\ndaemon log:\n%s", err, stderr, in.log())
	}
	parseFirstRead(t, out).wantVirtual(t, hookMemLimit)
	if h := hookEntries(t, c); len(h) != 1 || !strings.Contains(fmt.Sprint(h[0]["args"]), "--runtime crun") {
		t.Errorf("createRuntime hooks %v, want one naming crun", h)
	}
}

// TestHookSkipAnnotation: lxmount.io/skip=true keeps the wrapper from
// adding the hook; the container sees the host.
func TestHookSkipAnnotation(t *testing.T) {
	c := hookBundle(t, "hookskip", hookMemLimit, 100000, 100000, firstReadScript)
	editSpec(t, filepath.Join(c.Bundle, "config.json"), func(spec map[string]any) {
		spec["annotations"] = map[string]string{"lxmount.io/skip": "true"}
	})
	in := newHookInstance(t, "", c.CgroupPath)
	in.startDaemon()
	out, stderr, err := runWrapped(t, c, nil, "--lxmount-config", in.config)
	if err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, stderr)
	}
	parseFirstRead(t, out).wantHost(t)
	if h := hookEntries(t, c); len(h) != 0 {
		t.Errorf("a skipped bundle got hooks %v", h)
	}
}

// stalledDaemon listens on socket and never answers: a daemon stuck on
// something. Closed at the end of the test.
func stalledDaemon(t *testing.T, socket string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(socket), 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
}

// TestHookBound: a daemon that never answers holds a container's start
// for hook_timeout at most; the container then starts with the host's
// files and the hook records it. With hook_failure = "refuse" the runtime
// refuses to start it instead.
func TestHookBound(t *testing.T) {
	t.Run("start", func(t *testing.T) {
		c := hookBundle(t, "hookbound", hookMemLimit, 100000, 100000, firstReadScript)
		in := newHookInstance(t, "hook_timeout = \"500ms\"\n", c.CgroupPath)
		stalledDaemon(t, in.socket)
		begin := time.Now()
		out, stderr, err := runWrapped(t, c, nil, "--lxmount-config", in.config)
		took := time.Since(begin)
		if err != nil {
			t.Fatalf("run with a stalled daemon: %v\nstderr: %s", err, stderr)
		}
		parseFirstRead(t, out).wantHost(t)
		t.Logf("container start with a stalled daemon took %s (hook_timeout 500ms)", took)
		b, err := os.ReadFile(filepath.Join(in.stateDir, supervisor.HookFailuresFile))
		if err != nil || !strings.Contains(string(b), "id="+c.ID) || !strings.Contains(string(b), "no answer in time") {
			t.Errorf("%s: %q, %v; want one line for %s", supervisor.HookFailuresFile, b, err, c.ID)
		}
	})
	t.Run("refuse", func(t *testing.T) {
		c := hookBundle(t, "hookrefuse", hookMemLimit, 100000, 100000, firstReadScript)
		in := newHookInstance(t, "hook_timeout = \"500ms\"\nhook_failure = \"refuse\"\n", c.CgroupPath)
		stalledDaemon(t, in.socket)
		out, stderr, err := runWrapped(t, c, nil, "--lxmount-config", in.config)
		if err == nil {
			t.Fatalf("run with a stalled daemon and hook_failure = refuse started the container; it printed %q", out)
		}
		if !strings.Contains(stderr, `hook_failure = \"refuse\"`) && !strings.Contains(stderr, `hook_failure = "refuse"`) {
			t.Errorf("runtime's error does not say why: %s", stderr)
		}
	})
}
