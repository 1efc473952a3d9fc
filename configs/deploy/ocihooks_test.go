package deploy_test

// The oci-hooks(5) file against Debian's podman 4.3: it accepts the file
// (stage createRuntime included) and runs the hook, with the container's
// state on stdin, before the container's process execs.

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
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"

	"github.com/lxmount/lxmount/internal/testenv"
)

// recordingHook is a hook program that appends one line per run to
// <its dir>/runs.log (its arguments, and the comm of the process whose PID
// the state names: "runc:[2:INIT]" while runc's init has not exec'd the
// container's process yet) and keeps its stdin as <its dir>/state-<n>.json.
const recordingHook = `#!/bin/sh
d=$(dirname "$0")
n=$(($(cat "$d/runs.log" 2>/dev/null | wc -l) + 1))
cat > "$d/state-$n.json"
pid=$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' "$d/state-$n.json")
echo "args=$* comm=$(cat /proc/$pid/comm)" >> "$d/runs.log"
`

// TestOCIHookFilePodman installs oci-hooks.d/lxmount.json, its path
// pointed at recordingHook, in a private --hooks-dir and runs one container
// with rootful podman (runc, cgroupfs, every directory private to the
// test). The hook must run once, with args "oci-hook", the OCI state of
// the container (status "creating") on stdin, before runc's init has
// exec'd the container's first process.
func TestOCIHookFilePodman(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommands(t, "podman", "conmon", "runc")
	rootfs := testenv.BusyboxRootfs(t)
	tmp := shortTempDir(t)
	suffix := randomHex(t)
	cgParent := "/lxmount-test-hooks-" + suffix
	t.Cleanup(func() {
		removeTestCgroup(t, cgParent)
		for _, m := range mountsUnder(t, tmp) {
			t.Errorf("cleanup: %s still mounted, detaching it", m)
			_ = syscall.Unmount(m, syscall.MNT_DETACH)
		}
	})

	hookDir := filepath.Join(tmp, "hook")
	hooksDir := filepath.Join(tmp, "hooks.d")
	for _, d := range []string{hookDir, hooksDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	hookBin := filepath.Join(hookDir, "lxmount")
	if err := os.WriteFile(hookBin, []byte(recordingHook), 0o755); err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(readFile(t, "oci-hooks.d/lxmount.json"), binPath, hookBin)
	if !strings.Contains(text, hookBin) {
		t.Fatalf("oci-hooks.d/lxmount.json does not name %s", binPath)
	}
	if err := os.WriteFile(filepath.Join(hooksDir, "lxmount.json"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}

	// runc with a private --root through a wrapper: podman's --runtime-flag
	// is not passed to the `podman container cleanup` conmon runs.
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(tmp, "runc")
	if err := os.WriteFile(wrapper, []byte(fmt.Sprintf("#!/bin/sh\nexec %s --root %s \"$@\"\n", runc, filepath.Join(tmp, "runc-root"))), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(tmp, "containers.conf")
	if err := os.WriteFile(conf, []byte("[engine]\nlock_type = \"file\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	global := []string{
		"--root", filepath.Join(tmp, "root"), "--runroot", filepath.Join(tmp, "runroot"),
		"--tmpdir", filepath.Join(tmp, "tmp"), "--cgroup-manager", "cgroupfs",
		"--events-backend", "file", "--runtime", wrapper, "--storage-driver", "vfs",
		"--hooks-dir", hooksDir,
	}
	name := "lxmount-test-hook-" + suffix
	t.Cleanup(func() {
		if out, err := podman(conf, global, "rm", "--force", "--time", "0", name); err != nil && !strings.Contains(out, "no such container") {
			t.Errorf("podman cleanup: %v\n%s", err, out)
		}
	})
	// podman raises RLIMIT_NOFILE and NPROC by default, which fails where
	// the test runs without CAP_SYS_RESOURCE.
	out, err := podman(conf, global, "run", "--name", name, "--network", "none",
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
		"--cgroup-parent", cgParent, "--rootfs", rootfs, "/bin/true")
	if err != nil {
		t.Fatalf("podman run: %v\n%s", err, out)
	}
	id, err := podman(conf, global, "inspect", "--format", "{{.Id}}", name)
	if err != nil {
		t.Fatalf("podman inspect: %v\n%s", err, id)
	}
	id = strings.TrimSpace(id)

	runs, err := os.ReadFile(filepath.Join(hookDir, "runs.log"))
	if err != nil {
		t.Fatalf("the hook did not run: %v", err)
	}
	if got, want := strings.TrimSpace(string(runs)), "args=oci-hook comm=runc:[2:INIT]"; got != want {
		t.Errorf("hook runs:\n%s\nwant one: %s", runs, want)
	}
	var st struct {
		ID, Status, Bundle string
		Pid                int
	}
	b, err := os.ReadFile(filepath.Join(hookDir, "state-1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("hook stdin: %v\n%s", err, b)
	}
	if st.ID != id || st.Status != "creating" || st.Pid <= 0 || st.Bundle == "" {
		t.Errorf("hook stdin: id %q status %q pid %d bundle %q; want id %s, creating, a pid and a bundle\n%s",
			st.ID, st.Status, st.Pid, st.Bundle, id, b)
	}
}

// podman runs podman with CONTAINERS_CONF=conf, the global flags and args,
// under a timeout, and returns its combined output.
func podman(conf string, global []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "podman", append(append([]string{}, global...), args...)...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+conf)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// randomHex returns 8 hex digits for names that must not collide.
func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// removeTestCgroup removes the cgroup path (it must be one this test named
// /lxmount-test-*) and everything below it from every hierarchy, deepest
// first, after SIGKILLing what is still in it: Podman with cgroupfs leaves
// its libpod-<id> and conmon groups behind.
func removeTestCgroup(t *testing.T, path string) {
	t.Helper()
	if !strings.HasPrefix(path, "/lxmount-test-") {
		t.Errorf("cgroup cleanup: refusing to remove %q", path)
		return
	}
	tops, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", path))
	for _, top := range tops {
		var dirs []string
		_ = filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			if procs, err := os.ReadFile(filepath.Join(d, "cgroup.procs")); err == nil {
				for _, f := range strings.Fields(string(procs)) {
					var pid int
					if _, err := fmt.Sscan(f, &pid); err == nil && pid > 0 {
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
			if err := testenv.RmdirRetry(d, 10*time.Second); err != nil {
				t.Errorf("cgroup cleanup: %v", err)
			}
		}
	}
}

// mountsUnder returns the mount points of the test's mount namespace below
// dir, deepest first.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		t.Errorf("mount cleanup: %v", err)
		return nil
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Mountpoint)
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// shortTempDir returns a new directory /tmp/lxm-deploy-<random>, removed
// by t.Cleanup after the cleanups registered later: Podman refuses a
// --runroot longer than 50 characters, which t.TempDir's names can exceed.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "lxm-deploy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return dir
}
