package integration

// Self-tests of the container-engine harnesses of internal/testenv
// (StartDockerd, StartContainerd, Podman, the crun wrapper): a real
// container through each engine sees its memory limit, each engine calls a
// custom runtime binary (whose argv is logged), and nothing is left after
// each harness's cleanup, which finds the container still running.

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

// rtMemLimit is the memory limit of the self-tests' containers: 128 MiB.
const rtMemLimit = 128 << 20

// rtLimitScript prints what the self-tests check inside a container.
const rtLimitScript = "head -1 /proc/meminfo; cat /sys/fs/cgroup/memory/memory.limit_in_bytes"

// rtImage is the name the self-tests import the busybox rootfs as.
const rtImage = "docker.io/lxmount/busybox:test"

// requireRuntimeHarnessHost skips on the cgroup v2 VM (`make test-v2`),
// which carries no container engine, and where the checks here, written for
// v1 files (memory.limit_in_bytes) and a hybrid host's crun, do not apply.
// Elsewhere it needs root and the v1 controllers.
func requireRuntimeHarnessHost(t *testing.T) {
	t.Helper()
	if os.Getenv("LXMOUNT_CGROUP") == "v2" {
		t.Skip("engine harness self-tests run on the v1 host only: the v2 VM has no docker, containerd or podman")
	}
	requireRoot(t)
	requireCgroupV1(t)
}

// checkLimitOutput checks rtLimitScript's output: the first line of
// /proc/meminfo (the host's MemTotal: no lxmount here) and the limit.
func checkLimitOutput(t *testing.T, out string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "MemTotal:") {
		t.Fatalf("container output = %q, want a MemTotal: line and the limit", out)
	}
	if lines[1] != strconv.Itoa(rtMemLimit) {
		t.Errorf("memory.limit_in_bytes inside = %q, want %d", lines[1], rtMemLimit)
	}
	t.Logf("inside: %s | memory.limit_in_bytes %s", lines[0], lines[1])
}

// leftovers is what a harness must not leave after its cleanup, checked
// by checkNoLeftovers: processes with one of pids or a command-line
// argument under one of dirs, mounts under dirs, dirs themselves, and
// cgroups named after the containers or the parents.
type leftovers struct {
	pids          []int
	dirs          []string
	containerIDs  []string
	cgroupParents []string
}

// checkNoLeftovers registers, before the harness it checks registers its
// own cleanup, a t.Cleanup that runs after it (cleanups run last-in first-
// out) and fails t if anything in *l is left.
func checkNoLeftovers(t *testing.T, l *leftovers) {
	t.Helper()
	t.Cleanup(func() {
		for _, pid := range l.pids {
			if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && !strings.Contains(string(st), ") Z ") {
				t.Errorf("after cleanup: pid %d still running: %s", pid, st)
			}
		}
		for _, dir := range l.dirs {
			procs, err := testenv.FindProcs(dir)
			if err != nil {
				t.Error(err)
			}
			for _, p := range procs {
				t.Errorf("after cleanup: pid %d still running: %q", p.PID, p.Argv)
			}
			mounts, err := testenv.MountsUnder(dir)
			if err != nil {
				t.Error(err)
			}
			if len(mounts) > 0 {
				t.Errorf("after cleanup: mounts left under %s: %v", dir, mounts)
			}
			if _, err := os.Lstat(dir); err == nil {
				t.Errorf("after cleanup: %s still there", dir)
			}
		}
		for _, p := range l.cgroupParents {
			if left := testenv.CgroupDirs(p); len(left) > 0 {
				t.Errorf("after cleanup: cgroups left: %v", left)
			}
		}
		for _, d := range cgroupsNamed(l.containerIDs) {
			t.Errorf("after cleanup: cgroup named after a test container left: %s", d)
		}
		t.Logf("after cleanup: none of pids %v, nothing under %v, no cgroup %v or named after %v",
			l.pids, l.dirs, l.cgroupParents, l.containerIDs)
	})
}

// cgroupsNamed returns the cgroup directories, in every hierarchy and down
// to four levels, whose name contains one of ids.
func cgroupsNamed(ids []string) []string {
	var found []string
	hier, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hier {
		_ = filepath.WalkDir(h, func(p string, e os.DirEntry, err error) error {
			if err != nil || !e.IsDir() {
				return nil
			}
			if rel, _ := filepath.Rel(h, p); strings.Count(rel, "/") >= 4 {
				return filepath.SkipDir
			}
			for _, id := range ids {
				if id != "" && strings.Contains(e.Name(), id) {
					found = append(found, p)
				}
			}
			return nil
		})
	}
	return found
}

// rtRuntime is a runtime the limit test runs each engine with.
type rtRuntime struct {
	name string
	// binary returns the runtime binary for the engine ("": its default,
	// runc) and, for a custom one, the argv log of the WriteArgvLogger
	// wrapper in front of it, which shows the engine used it.
	binary func(t *testing.T) (path, argvLog string)
}

// rtRuntimes are runc (each engine's default here) and crun through the
// no-cgroup2 wrapper, with an argv logger in front.
var rtRuntimes = []rtRuntime{
	{"runc", func(*testing.T) (string, string) { return "", "" }},
	{"crun", func(t *testing.T) (string, string) {
		dir := t.TempDir()
		path, argvLog := filepath.Join(dir, "crun-logged"), filepath.Join(dir, "argv.log")
		if err := testenv.WriteArgvLogger(path, argvLog, testenv.CrunWrapper(t)); err != nil {
			t.Fatal(err)
		}
		return path, argvLog
	}},
}

// checkLogged checks that the runtime wrapper logged a create, i.e. that
// the engine ran the container with it.
func checkLogged(t *testing.T, argvLog string) {
	t.Helper()
	if argvLog == "" {
		return
	}
	calls, err := testenv.ReadArgvLog(argvLog)
	if err != nil {
		t.Fatal(err)
	}
	created := false
	for _, argv := range calls {
		t.Logf("runtime argv: %q", argv)
		for _, a := range argv {
			created = created || a == "create"
		}
	}
	if created {
		return
	}
	t.Errorf("the custom runtime logged no create: %q", calls)
}

// TestRuntimeHarnessMemoryLimit runs a busybox container with a 128 MiB
// limit through each engine harness with runc and with crun, reads what it
// sees through the engine's exec, and leaves it running for the harness's
// cleanup, after which nothing may be left: the daemons, the shim or
// conmon, the container's init, mounts, directories, cgroups.
func TestRuntimeHarnessMemoryLimit(t *testing.T) {
	requireRuntimeHarnessHost(t)
	rootfs := testenv.BusyboxRootfs(t)
	for _, rt := range rtRuntimes {
		t.Run("docker-"+rt.name, func(t *testing.T) { testDockerLimit(t, rootfs, rt) })
		t.Run("containerd-"+rt.name, func(t *testing.T) { testContainerdLimit(t, rootfs, rt) })
		t.Run("podman-"+rt.name, func(t *testing.T) { testPodmanLimit(t, rootfs, rt) })
	}
}

// testDockerLimit is TestRuntimeHarnessMemoryLimit through Docker.
func testDockerLimit(t *testing.T, rootfs string, rt rtRuntime) {
	l := &leftovers{}
	checkNoLeftovers(t, l)
	start := time.Now()
	opts := testenv.DockerdOptions{}
	bin, argvLog := rt.binary(t)
	if bin != "" {
		opts.Runtimes = map[string]testenv.DockerRuntime{rt.name: {Path: bin}}
		opts.DefaultRuntime = rt.name
	}
	d := testenv.StartDockerd(t, opts)
	t.Logf("dockerd (%s, pid %d) up in %v", d.StorageDriver, d.PID(), time.Since(start).Round(time.Millisecond))
	*l = leftovers{pids: []int{d.PID(), d.Containerd.PID()}, dirs: []string{d.Dir}, cgroupParents: []string{d.CgroupParent}}
	d.ImportRootfs(t, rootfs, rtImage)
	name := "lxmount-test-docker-" + rt.name + "-" + randomSuffix(t)
	id, _, err := d.Docker("run", "-d", "--name", name, "--network", "none", "--memory", strconv.Itoa(rtMemLimit), rtImage, "sleep", "1000")
	if err != nil {
		t.Fatal(err)
	}
	l.containerIDs = []string{strings.TrimSpace(id)}
	out, _, err := d.Docker("exec", name, "sh", "-c", rtLimitScript)
	if err != nil {
		t.Fatal(err)
	}
	checkLimitOutput(t, out)
	pid, _, err := d.Docker("inspect", "--format", "{{.State.Pid}}", name)
	if err != nil {
		t.Fatal(err)
	}
	l.pids = append(l.pids, rtPIDAndParent(t, pid)...)
	checkLogged(t, argvLog)
	if bin != "" {
		// A runtime without runtimeArgs goes to the shim as it is: no script.
		if _, err := os.Stat(filepath.Join(d.DataRoot, "runtimes", rt.name)); err == nil {
			t.Errorf("dockerd wrote a runtimes script for a runtime without runtimeArgs")
		}
	}
	t.Logf("docker-%s: %v until cleanup", rt.name, time.Since(start).Round(time.Millisecond))
}

// testContainerdLimit is TestRuntimeHarnessMemoryLimit through containerd
// and ctr.
func testContainerdLimit(t *testing.T, rootfs string, rt rtRuntime) {
	l := &leftovers{}
	checkNoLeftovers(t, l)
	start := time.Now()
	// Made before the harness, so it is removed after the harness's cleanup
	// (t.TempDir's cleanup runs last-in first-out too), which still needs it.
	bin, argvLog := rt.binary(t)
	c := testenv.StartContainerd(t)
	t.Logf("containerd (pid %d) up in %v", c.PID(), time.Since(start).Round(time.Millisecond))
	id := "lxmount-test-ctr-" + rt.name + "-" + randomSuffix(t)
	*l = leftovers{pids: []int{c.PID()}, dirs: []string{c.Dir}, containerIDs: []string{id}, cgroupParents: []string{"/" + c.Namespace}}
	c.ImportRootfs(t, rootfs, rtImage)
	args := []string{"run", "-d", "--null-io", "--memory-limit", strconv.Itoa(rtMemLimit),
		"--runc-root", c.RuncRoot, "--fifo-dir", c.FifoDir, "--mount", testenv.CtrCgroupMount}
	if bin != "" {
		args = append(args, "--runc-binary", bin)
	}
	if _, _, err := c.Ctr(append(args, rtImage, id, "sleep", "1000")...); err != nil {
		t.Fatal(err)
	}
	out, _, err := c.Ctr("tasks", "exec", "--exec-id", "limit", "--fifo-dir", c.FifoDir, id, "sh", "-c", rtLimitScript)
	if err != nil {
		t.Fatal(err)
	}
	checkLimitOutput(t, out)
	tasks, _, err := c.Ctr("tasks", "ls")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(tasks, "\n") { // TASK PID STATUS
		if f := strings.Fields(line); len(f) == 3 && f[0] == id {
			l.pids = append(l.pids, rtPIDAndParent(t, f[1])...)
		}
	}
	if len(l.pids) != 3 {
		t.Errorf("ctr tasks ls: no pid for %s: %q", id, tasks)
	}
	checkLogged(t, argvLog)
	t.Logf("containerd-%s: %v until cleanup", rt.name, time.Since(start).Round(time.Millisecond))
}

// testPodmanLimit is TestRuntimeHarnessMemoryLimit through podman.
func testPodmanLimit(t *testing.T, rootfs string, rt rtRuntime) {
	l := &leftovers{}
	checkNoLeftovers(t, l)
	start := time.Now()
	bin, argvLog := rt.binary(t)
	p := testenv.Podman(t, testenv.PodmanOptions{Runtime: bin})
	*l = leftovers{dirs: []string{p.Dir}, cgroupParents: []string{p.CgroupParent}}
	p.ImportRootfs(t, rootfs, rtImage)
	name := "lxmount-test-podman-" + rt.name + "-" + randomSuffix(t)
	id, _, err := p.Run("run", "-d", "--name", name, "--cgroup-parent", p.CgroupParent, "--memory", strconv.Itoa(rtMemLimit), rtImage, "sleep", "1000")
	if err != nil {
		t.Fatal(err)
	}
	l.containerIDs = []string{strings.TrimSpace(id)}
	out, _, err := p.Run("exec", name, "sh", "-c", rtLimitScript)
	if err != nil {
		t.Fatal(err)
	}
	checkLimitOutput(t, out)
	pids, _, err := p.Run("inspect", "--format", "{{.State.Pid}} {{.State.ConmonPid}}", name)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(pids) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("podman inspect pids %q: %v", pids, err)
		}
		l.pids = append(l.pids, pid)
	}
	checkLogged(t, argvLog)
	t.Logf("podman-%s: %v until cleanup", rt.name, time.Since(start).Round(time.Millisecond))
}

// rtPIDAndParent returns the container init's PID (decimal in s) and its
// parent's, the shim.
func rtPIDAndParent(t *testing.T, s string) []int {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || pid <= 0 {
		t.Fatalf("container pid %q: %v", s, err)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// pid (comm) state ppid ...
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("%d: ppid %q: %v", pid, f[1], err)
	}
	return []int{pid, ppid}
}

// TestRuntimeHarnessArgv puts a wrapper that logs its argv and execs
// /usr/bin/runc (testenv.WriteArgvLogger) in front of each engine and
// checks that the engine used it for the container's life cycle (create,
// start, delete) and how: the argv shapes logged here are those documented
// at testenv.WriteArgvLogger.
func TestRuntimeHarnessArgv(t *testing.T) {
	requireRuntimeHarnessHost(t)
	rootfs := testenv.BusyboxRootfs(t)

	t.Run("docker", func(t *testing.T) {
		wrapper, argvLog := rtArgvLogger(t)
		// A runc global flag that changes nothing here, so the wrapper can
		// pass it on: where it lands in argv shows where runtimeArgs go.
		const runtimeArg = "--rootless=false"
		d := testenv.StartDockerd(t, testenv.DockerdOptions{Runtimes: map[string]testenv.DockerRuntime{
			"argvlog": {Path: wrapper, Args: []string{runtimeArg}},
		}})
		d.ImportRootfs(t, rootfs, rtImage)
		name := "lxmount-test-docker-argv-" + randomSuffix(t)
		if _, _, err := d.Docker("run", "--rm", "--name", name, "--network", "none", "--runtime", "argvlog", rtImage, "true"); err != nil {
			t.Fatal(err)
		}
		// Docker 20.10 writes the script in <data-root>/runtimes, not exec-root.
		scriptPath := filepath.Join(d.DataRoot, "runtimes", "argvlog")
		script, err := os.ReadFile(scriptPath)
		if err != nil {
			t.Fatalf("Docker's runtimeArgs script: %v", err)
		}
		t.Logf("%s:\n%s", scriptPath, script)
		for _, argv := range checkArgv(t, argvLog, wrapper) {
			if len(argv) < 3 || argv[1] != runtimeArg || argv[2] != "--root" {
				t.Errorf("argv = %q, want the runtimeArgs first, then the shim's --root", argv)
			}
		}
	})

	t.Run("containerd", func(t *testing.T) {
		wrapper, argvLog := rtArgvLogger(t)
		c := testenv.StartContainerd(t)
		c.ImportRootfs(t, rootfs, rtImage)
		id := "lxmount-test-ctr-argv-" + randomSuffix(t)
		if _, _, err := c.Ctr("run", "--rm", "--runc-binary", wrapper, "--runc-root", c.RuncRoot, "--fifo-dir", c.FifoDir, rtImage, id, "true"); err != nil {
			t.Fatal(err)
		}
		for _, argv := range checkArgv(t, argvLog, wrapper) {
			if len(argv) < 3 || argv[1] != "--root" || argv[2] != filepath.Join(c.RuncRoot, c.Namespace) {
				t.Errorf("argv = %q, want --root %s first", argv, filepath.Join(c.RuncRoot, c.Namespace))
			}
		}
	})

	t.Run("podman", func(t *testing.T) {
		wrapper, argvLog := rtArgvLogger(t)
		p := testenv.Podman(t, testenv.PodmanOptions{Runtime: wrapper})
		p.ImportRootfs(t, rootfs, rtImage)
		name := "lxmount-test-podman-argv-" + randomSuffix(t)
		if _, _, err := p.Run("run", "--rm", "--name", name, "--cgroup-parent", p.CgroupParent, rtImage, "true"); err != nil {
			t.Fatal(err)
		}
		for _, argv := range checkArgv(t, argvLog, wrapper) {
			if len(argv) < 2 || strings.HasPrefix(argv[1], "-") {
				t.Errorf("argv = %q, want no global flags: podman passes none", argv)
			}
		}
	})
}

// rtArgvLogger writes a WriteArgvLogger wrapper for runc under t.TempDir()
// and returns its path and its log's.
func rtArgvLogger(t *testing.T) (path, argvLog string) {
	t.Helper()
	dir := t.TempDir()
	path, argvLog = filepath.Join(dir, "runtime-wrapper"), filepath.Join(dir, "argv.log")
	if err := testenv.WriteArgvLogger(path, argvLog, testenv.RuncPath); err != nil {
		t.Fatal(err)
	}
	return path, argvLog
}

// checkArgv checks that the wrapper at path logged (as its argv[0]) a
// create, a start and a delete to argvLog, logs every call and returns
// them.
func checkArgv(t *testing.T, argvLog, path string) [][]string {
	t.Helper()
	calls, err := testenv.ReadArgvLog(argvLog)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, argv := range calls {
		t.Logf("runtime argv: %q", argv)
		if argv[0] != path {
			t.Errorf("argv[0] = %q, want the wrapper %s", argv[0], path)
		}
		for _, a := range argv[1:] {
			if !strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "/") && a != "json" {
				seen[a] = true // the subcommand: the first word that is no flag or flag value
				break
			}
		}
	}
	for _, sub := range []string{"create", "start", "delete"} {
		if !seen[sub] {
			t.Errorf("no %q call logged", sub)
		}
	}
	return calls
}

// TestRuntimeHarnessCrunNoUnified runs crun directly, without an engine,
// through testenv.NoUnifiedCommand: a 128 MiB container sees its limit, and
// the host's cgroup2 mount is still there afterwards. It also records
// whether crun alone still refuses this host (the reason for the helper).
func TestRuntimeHarnessCrunNoUnified(t *testing.T) {
	requireRuntimeHarnessHost(t)
	requireCommands(t, testenv.CrunPath, "unshare", "mountpoint")
	rootfs := testenv.BusyboxRootfs(t)
	dir := t.TempDir()
	bundle, root := filepath.Join(dir, "bundle"), filepath.Join(dir, "crun-root")
	id := "lxmount-test-crun-" + randomSuffix(t)
	cgroupPath := "/" + id
	l := &leftovers{containerIDs: []string{id}, cgroupParents: []string{cgroupPath}}
	checkNoLeftovers(t, l)
	t.Cleanup(func() { // a failed run may leave the container: delete it
		_, _ = runCommand(true, testenv.CrunPath, "--root", root, "delete", "--force", id)
	})
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := runCommand(true, testenv.CrunPath, "spec", "--bundle", bundle); err != nil {
		t.Fatalf("crun spec: %v: %s", err, out)
	}
	if err := rtEditSpec(filepath.Join(bundle, "config.json"), rootfs, cgroupPath); err != nil {
		t.Fatal(err)
	}

	plain, err := runCommand(true, testenv.CrunPath, "--root", root, "run", "--bundle", bundle, id+"-plain")
	t.Logf("crun run without the helper: err %v, output %q", err, plain)

	c := testenv.NoUnifiedCommand(testenv.CrunPath, "--root", root, "run", "--bundle", bundle, id)
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v: %s", c.Args, err, out)
	}
	checkLimitOutput(t, string(out))
	if b, err := os.ReadFile("/proc/self/mountinfo"); err != nil || !strings.Contains(string(b), " /sys/fs/cgroup/unified ") {
		t.Errorf("the host's /sys/fs/cgroup/unified mount is gone (%v)", err)
	}
}

// rtEditSpec edits a `crun spec` config.json: no terminal, rootfs, the
// limit script as the process, cgroupsPath and the 128 MiB limit.
func rtEditSpec(path, rootfs, cgroupPath string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	process, ok1 := spec["process"].(map[string]any)
	linux, ok2 := spec["linux"].(map[string]any)
	if !ok1 || !ok2 {
		return fmt.Errorf("%s: no process or linux object", path)
	}
	process["terminal"] = false
	process["args"] = []string{"sh", "-c", rtLimitScript}
	spec["root"] = map[string]any{"path": rootfs, "readonly": false}
	linux["cgroupsPath"] = cgroupPath
	resources, _ := linux["resources"].(map[string]any)
	if resources == nil {
		resources = map[string]any{}
	}
	resources["memory"] = map[string]any{"limit": rtMemLimit}
	linux["resources"] = resources
	out, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o600)
}
