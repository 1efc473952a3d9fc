package integration

// Test-only helpers for the integration tests: throwaway cgroup v1 groups, a
// minimal "container" made of namespaces (startNamespaced), a busybox rootfs and a
// real runc container (startRunc). Every helper cleans up after itself in
// t.Cleanup, also when the test fails half-way, and touches only what it created:
// cgroups are named lxmount-test-*, processes are killed by the PID the helper
// started or found in its own cgroup, and no mount ever happens in the host's
// mount namespace.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lxmount/lxmount/internal/testenv"
)

// The shared preconditions (internal/testenv).
var (
	skipOrFail      = testenv.SkipOrFail
	requireRoot     = testenv.RequireRoot
	requireCommands = testenv.RequireCommands
	// buildBusyboxRootfs builds a fresh busybox root filesystem.
	buildBusyboxRootfs = testenv.BusyboxRootfs
)

// cgroupV1Root is where the cgroup v1 hierarchies are mounted, one directory per
// controller (on this project's hosts cpu and cpuacct are separate hierarchies;
// where they are co-mounted the helpers notice that both names lead to one directory).
const cgroupV1Root = "/sys/fs/cgroup"

// testControllers are the v1 controllers a TestCgroup has a directory in: the ones
// lxmount reads.
var testControllers = []string{"memory", "cpu", "cpuacct", "cpuset", "blkio", "pids"}

// execTimeout bounds every command a helper runs, so a hung command fails the test
// instead of eating the whole `go test -timeout`.
const execTimeout = 2 * time.Minute

// requireCgroupV1 skips (or fails under CI=true) unless every controller in
// testControllers is mounted as a cgroup v1 hierarchy under cgroupV1Root.
func requireCgroupV1(t testing.TB) {
	t.Helper()
	for _, ctrl := range testControllers {
		var st syscall.Statfs_t
		dir := filepath.Join(cgroupV1Root, ctrl)
		if err := syscall.Statfs(dir, &st); err != nil {
			skipOrFail(t, "needs cgroup v1 controller %s at %s: %v", ctrl, dir, err)
		}
		const cgroupSuperMagic = 0x27e0eb // linux/magic.h CGROUP_SUPER_MAGIC (v1)
		if st.Type != cgroupSuperMagic {
			skipOrFail(t, "needs cgroup v1 controller %s at %s (filesystem type %#x)", ctrl, dir, st.Type)
		}
	}
}

// randomSuffix returns 8 hex digits for names that must not collide with a
// concurrent test run or a leftover of a crashed one.
func randomSuffix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random suffix: %v", err)
	}
	return hex.EncodeToString(b)
}

// TestCgroup is one test cgroup: a cgroup v1 group created by newCgroupV1, with
// a directory in each of testControllers, or a cgroup v2 group created by
// newCgroup on a v2 host (harness_v2_test.go), with its one directory.
type TestCgroup struct {
	// Path is the cgroup path relative to each hierarchy's root, as it appears in
	// /proc/<pid>/cgroup, e.g. "/lxmount-test-mem-1a2b3c4d".
	Path string
	// Dirs maps a controller name ("memory", "cpu", ...) to the group's absolute
	// directory, e.g. "/sys/fs/cgroup/memory/lxmount-test-mem-1a2b3c4d". Two
	// controllers share a directory where their hierarchies are co-mounted.
	// A v2 group has the single key "unified" (unifiedKey), e.g.
	// "/sys/fs/cgroup/lxmount-test-mem-1a2b3c4d".
	Dirs map[string]string
}

// uniqueDirs returns the group's directories without duplicates, in
// testControllers order, then the v2 directory.
func (cg *TestCgroup) uniqueDirs() []string {
	var dirs []string
	seen := map[string]bool{}
	for _, ctrl := range testControllers {
		if d, ok := cg.Dirs[ctrl]; ok && !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	if d, ok := cg.Dirs[unifiedKey]; ok && !seen[d] {
		dirs = append(dirs, d)
	}
	return dirs
}

// AddPID moves the process pid (a host PID) into the group in every controller,
// by writing it to each directory's cgroup.procs.
func (cg *TestCgroup) AddPID(pid int) error {
	for _, d := range cg.uniqueDirs() {
		f := filepath.Join(d, "cgroup.procs")
		if err := os.WriteFile(f, []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("add pid %d to %s: %w", pid, f, err)
		}
	}
	return nil
}

// PIDs returns the host PIDs listed in the group's cgroup.procs, over all
// controllers, without duplicates.
func (cg *TestCgroup) PIDs() ([]int, error) {
	var pids []int
	seen := map[int]bool{}
	for _, d := range cg.uniqueDirs() {
		got, err := readPIDs(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			return nil, err
		}
		for _, pid := range got {
			if !seen[pid] {
				seen[pid] = true
				pids = append(pids, pid)
			}
		}
	}
	return pids, nil
}

// readPIDs parses a cgroup.procs file: one decimal PID a line.
func readPIDs(path string) ([]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, line := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(line)
		if err != nil {
			return nil, fmt.Errorf("%s: bad pid line %q: %w", path, line, err)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// newCgroupV1 creates the cgroup /lxmount-test-<name>-<random> in the memory, cpu,
// cpuacct, cpuset, blkio and pids hierarchies and sets its limits:
// memory.limit_in_bytes = memLimit and cpu.cfs_quota_us / cpu.cfs_period_us =
// cpuQuotaUs / cpuPeriodUs. A value <= 0 leaves that limit at the kernel default
// (unlimited, period 100000). cpuset.cpus and cpuset.mems are copied from the
// parent, since v1 refuses tasks in a cpuset whose cpus or mems are empty.
//
// t.Cleanup SIGKILLs the processes still listed in the group's cgroup.procs (only
// those: nothing else can be in a group this helper just made), waits until the
// group is empty and removes every directory, retrying while the kernel still
// counts exiting tasks. Skips (fails under CI=true) without root or cgroup v1.
func newCgroupV1(t testing.TB, name string, memLimit int64, cpuQuotaUs, cpuPeriodUs int64) *TestCgroup {
	t.Helper()
	requireRoot(t)
	requireCgroupV1(t)

	cg := &TestCgroup{
		Path: "/lxmount-test-" + name + "-" + randomSuffix(t),
		Dirs: map[string]string{},
	}
	// Registered before the first mkdir, so a failure half-way still cleans up.
	t.Cleanup(func() { removeCgroup(t, cg) })

	for _, ctrl := range testControllers {
		// Resolve symlinks so co-mounted hierarchies (cpu -> cpu,cpuacct) map to one
		// directory and the second mkdir is not an EEXIST failure.
		mnt, err := filepath.EvalSymlinks(filepath.Join(cgroupV1Root, ctrl))
		if err != nil {
			t.Fatalf("cgroup %s: %v", ctrl, err)
		}
		dir := filepath.Join(mnt, cg.Path)
		if err := os.Mkdir(dir, 0o755); err != nil && !(errors.Is(err, os.ErrExist) && isDirOf(cg, dir)) {
			t.Fatalf("create cgroup: %v", err)
		}
		cg.Dirs[ctrl] = dir
	}

	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		parent, err := os.ReadFile(filepath.Join(filepath.Dir(cg.Dirs["cpuset"]), f))
		if err != nil {
			t.Fatalf("cgroup cpuset: %v", err)
		}
		writeCgroupFile(t, cg.Dirs["cpuset"], f, strings.TrimSpace(string(parent)))
	}
	if memLimit > 0 {
		writeCgroupFile(t, cg.Dirs["memory"], "memory.limit_in_bytes", strconv.FormatInt(memLimit, 10))
	}
	// Period first: the kernel checks quota against the period in force.
	if cpuPeriodUs > 0 {
		writeCgroupFile(t, cg.Dirs["cpu"], "cpu.cfs_period_us", strconv.FormatInt(cpuPeriodUs, 10))
	}
	if cpuQuotaUs > 0 {
		writeCgroupFile(t, cg.Dirs["cpu"], "cpu.cfs_quota_us", strconv.FormatInt(cpuQuotaUs, 10))
	}
	return cg
}

// isDirOf reports whether dir is already one of cg's directories (a co-mounted
// hierarchy reached under a second controller name).
func isDirOf(cg *TestCgroup, dir string) bool {
	for _, d := range cg.Dirs {
		if d == dir {
			return true
		}
	}
	return false
}

// writeCgroupFile writes value to dir/file or fails the test.
func writeCgroupFile(t testing.TB, dir, file, value string) {
	t.Helper()
	p := filepath.Join(dir, file)
	if err := os.WriteFile(p, []byte(value), 0); err != nil {
		t.Fatalf("write %q to %s: %v", value, p, err)
	}
}

// removeCgroup is newCgroupV1's cleanup: kill what is left in the group, wait for
// it to empty, rmdir every directory. Errors are reported, not fatal, so the
// other cleanups still run.
func removeCgroup(t testing.TB, cg *TestCgroup) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, err := cg.PIDs()
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup cleanup: %v", err)
		}
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("cgroup cleanup: %s still has processes %v after SIGKILL", cg.Path, pids)
			break
		}
		for _, pid := range pids {
			// ESRCH is fine: it exited between the read and the kill.
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				t.Errorf("cgroup cleanup: kill %d: %v", pid, err)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}

	dirs := cg.uniqueDirs()
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := testenv.RmdirRetry(dirs[i], 5*time.Second); err != nil {
			t.Errorf("cgroup cleanup: %v", err)
		}
	}
}

// NSProc is the init of a minimal container made by startNamespaced: a process in
// its own mount, PID and UTS namespaces with its own /proc, inside a TestCgroup.
type NSProc struct {
	// PID is the init's PID in the host's PID namespace (it is 1 inside).
	PID int
	// Cgroup is the group the init and every Exec'd command run in (nil if none).
	Cgroup *TestCgroup

	cmd *exec.Cmd
}

// nsInitScript is the init of startNamespaced, run by /bin/sh as PID 1 of the new
// PID namespace. It waits on fd 3 for the parent's go-ahead ("go", sent once the
// parent has moved it into the cgroup and checked it really is in a new mount
// namespace), mounts a proc for its PID namespace over /proc of its private mount
// namespace, reports "ready" on fd 4 and execs the command ("$@").
const nsInitScript = `read -r go <&3 && [ "$go" = go ] || exit 111
exec 3<&-
mount --make-rprivate / && mount -t proc proc /proc || exit 112
echo ready >&4
exec 4>&-
exec "$@"`

// startNamespaced starts cmd (default: sleep 1000) as PID 1 of new mount, PID and
// UTS namespaces, inside cg (nil: stay in the caller's cgroups), like a minimal
// container that shares the host's root filesystem and /sys but has its own /proc.
//
// The mount namespace is unshared with Go's Unshareflags, which also makes "/"
// recursively private before anything runs, and the script repeats that with
// `mount --make-rprivate /`, so the new /proc never propagates to the host. The
// parent checks /proc/<pid>/ns/mnt differs from its own before it lets the init
// mount anything. The init is moved into cg before it runs anything but the
// waiting shell, so all of cmd is charged to cg. startNamespaced returns once /proc
// is mounted. t.Cleanup SIGKILLs the init by PID (the kernel then kills everything
// in its PID namespace) and waits for it.
func startNamespaced(t testing.TB, cg *TestCgroup, cmd ...string) *NSProc {
	t.Helper()
	requireRoot(t)
	requireCommands(t, "sh", "mount", "nsenter")
	if len(cmd) == 0 {
		cmd = []string{"sleep", "1000"}
	}

	goR, goW, err := os.Pipe()
	if err != nil {
		t.Fatalf("pipe: %v", err)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		t.Fatalf("pipe: %v", err)
	}
	logFile, err := os.Create(filepath.Join(t.TempDir(), "nsinit.log"))
	if err != nil {
		t.Fatalf("init log: %v", err)
	}
	defer logFile.Close()

	c := exec.Command("/bin/sh", append([]string{"-c", nsInitScript, "nsinit"}, cmd...)...)
	c.Stdout, c.Stderr = logFile, logFile
	c.ExtraFiles = []*os.File{goR, readyW} // fds 3 and 4
	c.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:   syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS,
		Unshareflags: syscall.CLONE_NEWNS, // Go also remounts / MS_REC|MS_PRIVATE
		// Safety net if the test binary dies without running its cleanups. It fires
		// when the OS thread that started the child exits, which the Go runtime
		// only does for threads locked with LockOSThread, not used here.
		Pdeathsig: syscall.SIGKILL,
	}
	err = c.Start()
	goR.Close()
	readyW.Close()
	defer readyR.Close()
	if err != nil {
		goW.Close()
		t.Fatalf("start namespaced %v: %v", cmd, err)
	}
	p := &NSProc{PID: c.Process.Pid, Cgroup: cg, cmd: c}
	t.Cleanup(func() {
		goW.Close() // an init still waiting for the go-ahead exits on EOF
		_ = c.Process.Kill()
		_ = c.Wait()
	})

	if err := checkNewNamespace(p.PID, "mnt"); err != nil {
		t.Fatalf("start namespaced: %v", err) // never let it mount /proc then
	}
	if err := checkNewNamespace(p.PID, "pid_for_children"); err != nil {
		t.Fatalf("start namespaced: %v", err)
	}
	if cg != nil {
		if err := cg.AddPID(p.PID); err != nil {
			t.Fatalf("start namespaced: %v", err)
		}
	}
	if _, err := goW.WriteString("go\n"); err != nil {
		t.Fatalf("start namespaced: go-ahead: %v", err)
	}
	goW.Close()

	// Wait for "ready"; EOF without it means the script failed (see the log).
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(readyR).ReadString('\n')
		ready <- line
	}()
	select {
	case line := <-ready:
		if line != "ready\n" {
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("start namespaced %v: init failed before exec; its output: %q", cmd, log)
		}
	case <-time.After(execTimeout):
		t.Fatalf("start namespaced %v: init not ready after %v", cmd, execTimeout)
	}
	return p
}

// checkNewNamespace returns an error unless process pid's namespace of the given
// kind (a name in /proc/<pid>/ns) differs from the caller's.
func checkNewNamespace(pid int, kind string) error {
	mine, err := os.Readlink("/proc/self/ns/" + kind)
	if err != nil {
		return err
	}
	theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
	if err != nil {
		return err
	}
	if mine == theirs {
		return fmt.Errorf("pid %d is still in the host's %s namespace %s", pid, kind, mine)
	}
	return nil
}

// cgroupJoinScript moves the shell running it into a cgroup, then execs the rest
// of its arguments. $1 is the number of cgroup.procs files that follow; the shell
// writes its own PID ($$, a host PID: it still runs in the host's PID namespace)
// to each, so everything it execs and forks is inside the group; it exits 125
// if a write fails.
const cgroupJoinScript = `n=$1; shift
while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done
exec "$@"`

// Exec runs args inside p's namespaces with `nsenter -t <pid> -m -p -u -- args...`
// and returns its stdout; err includes the exit status and stderr.
//
// nsenter joins namespaces but not cgroups, so the command is started through
// /bin/sh on the host side, which first writes its own host PID into each of the
// group's cgroup.procs and then execs nsenter. nsenter's child (the command, in
// the new PID namespace) inherits the group, so what the command sees in /proc
// and uses is that of the group: the same as for a process started by a runtime.
func (p *NSProc) Exec(t testing.TB, args ...string) (stdout string, err error) {
	t.Helper()
	argv := []string{"-c", cgroupJoinScript, "cgjoin"}
	var procs []string
	if p.Cgroup != nil {
		for _, d := range p.Cgroup.uniqueDirs() {
			procs = append(procs, filepath.Join(d, "cgroup.procs"))
		}
	}
	argv = append(argv, strconv.Itoa(len(procs)))
	argv = append(argv, procs...)
	argv = append(argv, "nsenter", "-t", strconv.Itoa(p.PID), "-m", "-p", "-u", "--")
	argv = append(argv, args...)
	return runCommand(false, "/bin/sh", argv...)
}

// runCommand runs name with args under execTimeout and returns its stdout
// (stdout and stderr interleaved if combined). A failure's error carries the
// command line, the exit status and stderr.
func runCommand(combined bool, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), execTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	c.Stdout = &out
	c.Stderr = &errb
	if combined {
		c.Stderr = &out
	}
	// Without WaitDelay a grandchild that keeps the pipes open would hold Wait
	// after a timeout kill.
	c.WaitDelay = 5 * time.Second
	if err := c.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: %w; stderr: %q", strings.Join(c.Args, " "), err, errb.String())
	}
	return out.String(), nil
}

// busyboxPath is where Debian's busybox-static installs the static busybox.
const busyboxPath = testenv.BusyboxPath

// RuncContainer is a detached runc container started by startRunc.
type RuncContainer struct {
	// ID is the runc container id, "lxmount-test-<name>-<random>".
	ID string
	// PID is the container init's PID in the host's PID namespace.
	PID int
	// CgroupPath is the container's cgroup relative to each v1 hierarchy's root
	// (or to the v2 root), "/lxmount-test-runc-<name>-<random>"; runc's cgroupfs
	// driver creates it in every mounted hierarchy.
	CgroupPath string
	// Root is the runc state directory (runc --root), private to this container.
	Root string
	// Bundle is the OCI bundle directory holding config.json and the init's log.
	Bundle string
}

// startRunc starts a detached runc container running `sleep 1000` (no terminal)
// on rootfs (see buildBusyboxRootfs), with new pid, mount, ipc, uts and network
// namespaces (the network namespace has only a loopback device), cgroupsPath
// /lxmount-test-runc-<name>-<random>, memory.limit = memLimit and CPU quota /
// period = cpuQuota / cpuPeriod in µs (<= 0: unset). With bindHostUsr the host's
// /usr is bind-mounted read-only at /usr so host binaries (procps free, python3,
// node) run inside; /lib and /lib64 are symlinks into usr in the rootfs, as on
// the Debian 12 host.
//
// The bundle is `runc spec` edited as JSON, so runtime-spec defaults (masked
// paths, capabilities) stay those of the installed runc. The container uses a
// runc --root of its own under t.TempDir(). t.Cleanup runs `runc kill <id> KILL`
// and `runc delete -f <id>` and then checks that the cgroup directories are gone
// (removing leftovers, which is reported as an error).
func startRunc(t testing.TB, rootfs string, name string, memLimit int64, cpuQuota, cpuPeriod int64, bindHostUsr bool) *RuncContainer {
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
		t.Fatalf("bundle: %v", err)
	}
	absRootfs, err := filepath.Abs(rootfs)
	if err != nil {
		t.Fatalf("rootfs: %v", err)
	}
	if out, err := exec.Command("runc", "spec", "--bundle", c.Bundle).CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v: %s", err, out)
	}
	if err := editRuncSpec(filepath.Join(c.Bundle, "config.json"), absRootfs, c, memLimit, cpuQuota, cpuPeriod, bindHostUsr); err != nil {
		t.Fatalf("runc config: %v", err)
	}

	// Cleanup first, so a failed `runc run` still removes what it made.
	t.Cleanup(func() { removeRunc(t, c) })

	// With -d and no terminal the container inherits runc's stdio: give it a file,
	// not a pipe, or Wait would block until the container exits.
	logFile, err := os.Create(filepath.Join(c.Bundle, "init.log"))
	if err != nil {
		t.Fatalf("runc log: %v", err)
	}
	defer logFile.Close()
	pidFile := filepath.Join(c.Bundle, "init.pid")
	run := exec.Command("runc", "--root", c.Root, "run", "-d", "--bundle", c.Bundle, "--pid-file", pidFile, c.ID)
	run.Stdin, run.Stdout, run.Stderr = nil, logFile, logFile
	if err := run.Run(); err != nil {
		log, _ := os.ReadFile(logFile.Name())
		t.Fatalf("runc run %s: %v; output: %s", c.ID, err, log)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("runc pid file: %v", err)
	}
	if c.PID, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
		t.Fatalf("runc pid file %s: %q: %v", pidFile, b, err)
	}
	return c
}

// editRuncSpec rewrites the `runc spec` default config.json at path for startRunc.
// It edits generic JSON rather than typed structs so fields this code does not
// know survive unchanged.
func editRuncSpec(path, rootfs string, c *RuncContainer, memLimit, cpuQuota, cpuPeriod int64, bindHostUsr bool) error {
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
	process["args"] = []string{"sleep", "1000"}
	spec["root"] = map[string]any{"path": rootfs, "readonly": false}
	spec["hostname"] = c.ID

	mounts, _ := spec["mounts"].([]any)
	mounts = append(mounts, map[string]any{
		"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
		"options": []string{"nosuid", "nodev", "mode=1777", "size=65536k"},
	})
	if bindHostUsr {
		mounts = append(mounts, map[string]any{
			"destination": "/usr", "type": "bind", "source": "/usr",
			"options": []string{"rbind", "ro", "nosuid", "nodev"},
		})
	}
	spec["mounts"] = mounts

	linux["cgroupsPath"] = c.CgroupPath
	resources, _ := linux["resources"].(map[string]any)
	if resources == nil {
		resources = map[string]any{}
	}
	if memLimit > 0 {
		resources["memory"] = map[string]any{"limit": memLimit}
	}
	cpu := map[string]any{}
	if cpuQuota > 0 {
		cpu["quota"] = cpuQuota
	}
	if cpuPeriod > 0 {
		cpu["period"] = cpuPeriod
	}
	if len(cpu) > 0 {
		resources["cpu"] = cpu
	}
	linux["resources"] = resources

	out, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o600)
}

// Exec runs args in the container with `runc exec` (which puts the process into
// the container's namespaces and cgroup) and returns its combined output.
func (c *RuncContainer) Exec(t testing.TB, args ...string) (string, error) {
	t.Helper()
	argv := append([]string{"--root", c.Root, "exec", c.ID}, args...)
	return runCommand(true, "runc", argv...)
}

// removeRunc is startRunc's cleanup: kill and delete the container, then make
// sure no directory of its cgroup is left in any hierarchy.
func removeRunc(t testing.TB, c *RuncContainer) {
	t.Helper()
	// kill fails if the container already stopped or never started: delete -f
	// below covers both, so only its failure counts.
	_, _ = runCommand(true, "runc", "--root", c.Root, "kill", c.ID, "KILL")
	if out, err := runCommand(true, "runc", "--root", c.Root, "delete", "-f", c.ID); err != nil &&
		!strings.Contains(out, "does not exist") {
		t.Errorf("runc cleanup: %v: %s", err, out)
	}
	left, err := filepath.Glob(filepath.Join(cgroupV1Root, "*", c.CgroupPath))
	if err != nil {
		t.Errorf("runc cleanup: %v", err)
	}
	if d := filepath.Join(cgroup2Root, c.CgroupPath); isDir(d) {
		left = append(left, d) // v2: the one unified directory
	}
	for _, dir := range left {
		t.Errorf("runc cleanup: runc left cgroup %s, removing it", dir)
		if err := testenv.RmdirRetry(dir, 5*time.Second); err != nil {
			t.Errorf("runc cleanup: %v", err)
		}
	}
}
