package mountns

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxmount/lxmount/internal/testenv"
)

// The shared preconditions (internal/testenv).
var (
	skipOrFail  = testenv.SkipOrFail
	requireRoot = testenv.RequireRoot
)

const (
	// helperEnv switches the test binary into reexecHelper; its value
	// is the directory the helper mounts a tmpfs on.
	helperEnv = "LXMOUNT_MOUNTNS_TEST_HELPER"
	// helperMarker is the helper's ReexecInPrivateNamespace marker.
	helperMarker = "LXMOUNT_MOUNTNS_TEST_HELPER_PRIVATE"
	// suiteMarker is the test suite's own marker: as root, the whole
	// suite runs in a private mount namespace, so even a crashed test
	// leaves no tmpfs behind in the host's mount table.
	suiteMarker = "LXMOUNT_MOUNTNS_TEST_PRIVATE"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(reexecHelper(os.Getenv(helperEnv)))
	}
	if os.Geteuid() == 0 {
		if err := ReexecInPrivateNamespace(suiteMarker); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}

// reexecHelper is the child of TestReexecInPrivateNamespace: it re-executes
// itself into a private namespace, mounts a tmpfs on dir, prints
// "<pid> <mnt ns inode>" and waits for stdin to close.
func reexecHelper(dir string) int {
	if err := ReexecInPrivateNamespace(helperMarker); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		fmt.Fprintln(os.Stderr, "helper: mount tmpfs:", err)
		return 2
	}
	fmt.Printf("%d %d\n", os.Getpid(), nsInode(nil, "/proc/self/ns/mnt"))
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// requireTool skips (or fails on CI) unless the named program is installed.
func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		skipOrFail(t, "needs %s: %v", name, err)
	}
}

// nsInode returns the inode of a namespace file, e.g. /proc/self/ns/mnt.
// With t == nil it returns 0 on error (for the helper process).
func nsInode(t *testing.T, path string) uint64 {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		if t == nil {
			return 0
		}
		t.Helper()
		t.Fatalf("stat %s: %v", path, err)
	}
	return st.Ino
}

// mountTmpfs mounts a small tmpfs on a fresh temp dir in the test's own
// namespace and detaches it when the test ends.
func mountTmpfs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// sourceTree writes content to a file on a fresh tmpfs and returns a
// detached clone of it, closed when the test ends.
func sourceTree(t *testing.T, name, content string) *os.File {
	t.Helper()
	path := filepath.Join(mountTmpfs(t), name)
	if err := os.WriteFile(path, []byte(content), 0o444); err != nil {
		t.Fatal(err)
	}
	tree, err := CloneTree(path)
	if err != nil {
		t.Fatalf("CloneTree: %v", err)
	}
	t.Cleanup(func() { tree.Close() })
	return tree
}

// container is a process in fresh mount and PID namespaces with its own
// procfs on /proc, as a container runtime would set it up.
type container struct {
	pid int        // host PID of the sleep inside
	ns  *Namespace // its mount namespace
}

// startContainer runs `unshare --mount --pid --fork --kill-child
// --mount-proc sleep 300`. unshare makes all mounts in the new namespace
// private, and the new /proc is a procfs of its own; the guard below makes
// sure of that before any test mounts over it. Cleanup kills unshare by
// PID; --kill-child takes the sleep with it.
func startContainer(t *testing.T) *container {
	t.Helper()
	requireRoot(t)
	requireTool(t, "unshare")
	cmd := exec.Command("unshare", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "sleep", "300")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start unshare: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})

	children := fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid)
	pid := 0
	for deadline := time.Now().Add(10 * time.Second); pid == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no sleep under unshare (pid %d); stderr: %s", cmd.Process.Pid, stderr.String())
		}
		b, _ := os.ReadFile(children)
		for _, f := range strings.Fields(string(b)) {
			c, _ := strconv.Atoi(f)
			// comm turns into "sleep" at execve, after --mount-proc.
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c)); string(comm) == "sleep\n" {
				pid = c
			}
		}
	}
	ns, err := Open(pid)
	if err != nil {
		t.Fatalf("Open(%d): %v", pid, err)
	}
	t.Cleanup(func() { ns.Close() })

	// Guard: a different mount namespace with a different procfs.
	if ns.ID() == nsInode(t, "/proc/self/ns/mnt") {
		t.Fatalf("container pid %d shares our mount namespace", pid)
	}
	var own, inner unix.Stat_t
	if err := unix.Stat("/proc", &own); err != nil {
		t.Fatal(err)
	}
	if err := ns.Do(func() error { return unix.Stat("/proc", &inner) }); err != nil {
		t.Fatalf("stat /proc in container: %v", err)
	}
	if own.Dev == inner.Dev {
		t.Fatalf("container /proc is our own procfs (dev %#x)", own.Dev)
	}
	return &container{pid: pid, ns: ns}
}

// cat reads a file in the container from outside, with nsenter.
func (c *container) cat(t *testing.T, path string) string {
	t.Helper()
	requireTool(t, "nsenter")
	out, err := exec.Command("nsenter", "-t", strconv.Itoa(c.pid), "-m", "-p", "cat", path).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("nsenter cat %s: %v: %s", path, err, stderr)
	}
	return string(out)
}

// mountDeadFUSE mounts a FUSE file system on target inside the container
// and closes the /dev/fuse descriptor without ever serving it: the kernel
// aborts the connection, and the mount answers ENOTCONN from then on, just
// like lxmount's mounts after the daemon died.
func (c *container) mountDeadFUSE(t *testing.T, target string) {
	t.Helper()
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		skipOrFail(t, "open /dev/fuse: %v", err)
	}
	defer unix.Close(fd)
	// rootmode is octal: a read-only regular file, to mount on a file.
	opts := fmt.Sprintf("fd=%d,rootmode=100444,user_id=0,group_id=0", fd)
	err = c.ns.Do(func() error {
		return unix.Mount("lxmount-test", target, "fuse", unix.MS_NOSUID|unix.MS_NODEV, opts)
	})
	if err != nil {
		t.Fatalf("mount fuse on %s in container: %v", target, err)
	}
}

// killedProcessPID returns the PID of a process that has exited and been reaped.
func killedProcessPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(cmd.Process.Pid, 0); err == nil {
		skipOrFail(t, "pid %d was reused at once", cmd.Process.Pid)
	}
	return cmd.Process.Pid
}
