package discovery

// Test helpers for tests against real runtimes, the minimal bits copied from
// integration/harness_test.go (a _test package that cannot be imported):
// skips, a busybox rootfs, a runc container, cgroup and mount cleanup. Every
// helper cleans up in t.Cleanup, also when the test fails half-way, and
// touches only what it created: names carry lxmount-test-<random>, processes
// are killed by the PID the test started or found in its own cgroup, mounts
// are removed only below the test's own temporary directory.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"

	"github.com/lxmount/lxmount/internal/testenv"
)

// The shared preconditions (internal/testenv).
var (
	skipOrFail = testenv.SkipOrFail
	// buildBusyboxRootfs builds a fresh busybox root filesystem.
	buildBusyboxRootfs = testenv.BusyboxRootfs
	requireRoot        = testenv.RequireRoot
	requireCommands    = testenv.RequireCommands
)

// cgroupRoot is where this project's hosts mount one cgroup v1 hierarchy per
// controller, plus the unified hierarchy at "unified".
const cgroupRoot = "/sys/fs/cgroup"

// execTimeout bounds every command a helper runs.
const execTimeout = 2 * time.Minute

// randomSuffix returns 8 hex digits for names that must not collide.
func randomSuffix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random suffix: %v", err)
	}
	return hex.EncodeToString(b)
}

// runCommand runs name with args under execTimeout and returns its stdout; a
// failure's error carries the command line, the exit status and stderr.
func runCommand(env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), execTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, name, args...)
	if env != nil {
		c.Env = append(os.Environ(), env...)
	}
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	c.WaitDelay = 5 * time.Second
	if err := c.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: %w; stderr: %q", strings.Join(c.Args, " "), err, errb.String())
	}
	return out.String(), nil
}

// runDetached runs a command that leaves a process behind which inherits its
// stdio (runc run -d, runc exec -d, ctr run -d): stdout and stderr go to the
// file logPath, so that no pipe holds Wait until that process exits. A
// failure's error carries the output.
func runDetached(logPath, name string, args ...string) error {
	log, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer log.Close()
	ctx, cancel := context.WithTimeout(context.Background(), execTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, name, args...)
	c.Stdout, c.Stderr = log, log
	if err := c.Run(); err != nil {
		out, _ := os.ReadFile(logPath)
		return fmt.Errorf("%s: %w; output: %q", strings.Join(c.Args, " "), err, out)
	}
	return nil
}

// busyboxPath is where Debian's busybox-static installs the static busybox.
const busyboxPath = testenv.BusyboxPath

// removeCgroupTree removes the cgroup path (relative to each hierarchy's
// root; it must be one this test named lxmount-test-*) and everything below
// it from every hierarchy under cgroupRoot, deepest first, after SIGKILLing
// the processes still in it: nothing else can be in a group with the test's
// random name. Runtimes leave such directories behind (Podman with
// cgroupfs keeps libpod-<id> and conmon).
func removeCgroupTree(t testing.TB, path string) {
	t.Helper()
	if !strings.HasPrefix(path, "/lxmount-test-") {
		t.Errorf("cgroup cleanup: refusing to remove %q, not a test cgroup", path)
		return
	}
	tops, err := filepath.Glob(filepath.Join(cgroupRoot, "*", path))
	if err != nil {
		t.Errorf("cgroup cleanup: %v", err)
		return
	}
	for _, top := range tops {
		var dirs []string
		_ = filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) }) // children first
		for _, d := range dirs {
			killCgroup(t, d)
			if err := testenv.RmdirRetry(d, 10*time.Second); err != nil {
				t.Errorf("cgroup cleanup: %v", err)
			}
		}
	}
}

// killCgroup SIGKILLs the processes listed in dir/cgroup.procs until none is
// left (up to 10 s).
func killCgroup(t testing.TB, dir string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil || len(bytes.TrimSpace(b)) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("cgroup cleanup: %s still has processes %q", dir, b)
			return
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// unmountUnder detaches every mount of the test's own mount namespace below
// dir, deepest first: runtimes mount into their state directories (Podman's
// shm) and a failed test may leave those, which would make t.TempDir's
// removal fail.
func unmountUnder(t testing.TB, dir string) {
	t.Helper()
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		t.Errorf("mount cleanup: %v", err)
		return
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i].Mountpoint) > len(mounts[j].Mountpoint) })
	for _, m := range mounts {
		t.Errorf("mount cleanup: %s still mounted, detaching it", m.Mountpoint)
		if err := syscall.Unmount(m.Mountpoint, syscall.MNT_DETACH); err != nil {
			t.Errorf("mount cleanup: %v", &os.PathError{Op: "umount", Path: m.Mountpoint, Err: err})
		}
	}
}

// startBare starts `sleep 1000` as PID 1 of new pid and mount namespaces,
// like a minimal container without any runtime (nothing is mounted in the new
// mount namespace, so nothing can propagate to the host), and returns its
// host PID. t.Cleanup SIGKILLs and reaps it.
func startBare(t testing.TB) int {
	t.Helper()
	c := exec.Command("/bin/sleep", "1000")
	c.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS,
		Pdeathsig:  syscall.SIGKILL,
	}
	if err := c.Start(); err != nil {
		t.Fatalf("start namespaced sleep: %v", err)
	}
	t.Cleanup(func() {
		_ = c.Process.Kill()
		_ = c.Wait()
	})
	return c.Process.Pid
}

// runcContainer is a detached runc container started by startRunc.
type runcContainer struct {
	ID         string // lxmount-test-<name>-<random>
	PID        int    // host PID of the init
	CgroupPath string // "/lxmount-test-runc-<random>"
	Bundle     string
	Root       string // runc --root
}

// startRunc starts a detached runc container running /bin/sleep 1000 on
// rootfs under the runc --root root, with new pid, mount, ipc, uts and
// network namespaces, the given OCI annotations and cgroupsPath
// /lxmount-test-runc-<random>. The bundle is `runc spec` edited as JSON.
// t.Cleanup kills and deletes the container and removes its cgroups.
func startRunc(t testing.TB, root, rootfs, name string, annotations map[string]string) *runcContainer {
	t.Helper()
	requireRoot(t)
	requireCommands(t, "runc")
	suffix := randomSuffix(t)
	c := &runcContainer{
		ID:         "lxmount-test-" + name + "-" + suffix,
		CgroupPath: "/lxmount-test-runc-" + suffix,
		Bundle:     filepath.Join(t.TempDir(), "bundle"),
		Root:       root,
	}
	if err := os.MkdirAll(c.Bundle, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := runCommand(nil, "runc", "spec", "--bundle", c.Bundle); err != nil {
		t.Fatal(err)
	}
	if err := editRuncSpec(filepath.Join(c.Bundle, "config.json"), rootfs, c, annotations); err != nil {
		t.Fatalf("runc config: %v", err)
	}
	t.Cleanup(func() {
		_, _ = runCommand(nil, "runc", "--root", root, "kill", c.ID, "KILL")
		if _, err := runCommand(nil, "runc", "--root", root, "delete", "-f", c.ID); err != nil && !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("runc cleanup: %v", err)
		}
		removeCgroupTree(t, c.CgroupPath)
	})
	pidFile := filepath.Join(c.Bundle, "init.pid")
	if err := runDetached(filepath.Join(c.Bundle, "init.log"), "runc", "--root", root, "run", "-d", "--bundle", c.Bundle, "--pid-file", pidFile, c.ID); err != nil {
		t.Fatal(err)
	}
	c.PID = readPID(t, pidFile)
	return c
}

// readPID reads a pid file or fails the test.
func readPID(t testing.TB, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %s: %q: %v", path, b, err)
	}
	return pid
}

// editRuncSpec rewrites the `runc spec` default config.json at path for
// startRunc, as generic JSON so that fields it does not know survive.
func editRuncSpec(path, rootfs string, c *runcContainer, annotations map[string]string) error {
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
	process["args"] = []string{"/bin/sleep", "1000"}
	spec["root"] = map[string]any{"path": rootfs, "readonly": false}
	spec["hostname"] = c.ID
	if len(annotations) > 0 {
		spec["annotations"] = annotations
	}
	linux["cgroupsPath"] = c.CgroupPath
	out, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o600)
}

// findByPID returns the container of cs whose InitPID is pid.
func findByPID(cs []Container, pid int) (Container, bool) {
	for _, c := range cs {
		if c.InitPID == pid {
			return c, true
		}
	}
	return Container{}, false
}

// procStart returns the start time of host process pid, or fails the test.
func procStart(t testing.TB, pid int) uint64 {
	t.Helper()
	st, err := readStat(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	return st.Start
}

// itoa is strconv.Itoa.
func itoa(i int) string { return strconv.Itoa(i) }
