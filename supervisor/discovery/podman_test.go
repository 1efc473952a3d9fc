package discovery

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// podman is a rootful Podman whose every directory is private to one test.
type podman struct {
	args     []string // global flags
	env      []string // CONTAINERS_CONF
	runcRoot string   // runc's --root, through the wrapper
	cgParent string   // --cgroup-parent of its containers
}

// newPodman prepares a Podman that keeps everything under t.TempDir():
// --root, --runroot and --tmpdir there, file locks instead of
// /dev/shm/libpod_lock (containers.conf lock_type), and runc through a
// wrapper that adds --root: podman's --runtime-flag is not handed to the
// `podman container cleanup` that conmon runs when the container exits, and
// runc's default /run/runc would be used there. cgroupfs with the parent
// /lxmount-test-podman-<random>, so that every cgroup Podman and conmon make
// is below a name the test owns; t.Cleanup removes that tree.
func newPodman(t *testing.T) *podman {
	t.Helper()
	requireRoot(t)
	requireCommands(t, "podman", "conmon", "runc")
	tmp := t.TempDir()
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Fatal(err)
	}
	p := &podman{
		runcRoot: filepath.Join(tmp, "runc-root"),
		cgParent: "/lxmount-test-podman-" + randomSuffix(t),
		env:      []string{"CONTAINERS_CONF=" + filepath.Join(tmp, "containers.conf")},
	}
	wrapper := filepath.Join(tmp, "bin", "runc")
	write(t, wrapper, fmt.Sprintf("#!/bin/sh\nexec %s --root %s \"$@\"\n", runc, p.runcRoot))
	if err := os.Chmod(wrapper, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(tmp, "containers.conf"), "[engine]\nlock_type = \"file\"\n")
	p.args = []string{
		"--root", filepath.Join(tmp, "root"),
		"--runroot", filepath.Join(tmp, "runroot"),
		"--tmpdir", filepath.Join(tmp, "tmp"),
		"--cgroup-manager", "cgroupfs",
		"--events-backend", "file",
		"--runtime", wrapper,
		"--storage-driver", "vfs",
	}
	t.Cleanup(func() {
		removeCgroupTree(t, p.cgParent)
		unmountUnder(t, tmp)
	})
	return p
}

// run runs podman with p's flags and args and returns its trimmed stdout.
func (p *podman) run(args ...string) (string, error) {
	out, err := runCommand(p.env, "podman", append(append([]string{}, p.args...), args...)...)
	return strings.TrimSpace(out), err
}

// podmanContainer is a container started by (*podman).start.
type podmanContainer struct {
	Name, ID string
	PID      int
}

// start runs `podman run -d --rootfs rootfs sleep 1000` named
// lxmount-test-<name>-<random>, without network, with rlimits no higher than
// the test's own (Podman raises RLIMIT_NOFILE and RLIMIT_NPROC by default,
// which needs CAP_SYS_RESOURCE). t.Cleanup removes the container.
func (p *podman) start(t *testing.T, rootfs, name string) *podmanContainer {
	t.Helper()
	c := &podmanContainer{Name: "lxmount-test-" + name + "-" + randomSuffix(t)}
	t.Cleanup(func() {
		if _, err := p.run("rm", "--force", "--time", "0", c.Name); err != nil && !strings.Contains(err.Error(), "no such container") {
			t.Errorf("podman cleanup: %v", err)
		}
	})
	id, err := p.run("run", "--detach", "--name", c.Name,
		"--network", "none",
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
		"--cgroup-parent", p.cgParent,
		"--rootfs", rootfs, "/bin/sleep", "1000")
	if err != nil {
		t.Fatal(err)
	}
	c.ID = id
	pid, err := p.run("inspect", "--format", "{{.State.Pid}}", c.Name)
	if err != nil {
		t.Fatal(err)
	}
	if c.PID, err = strconv.Atoi(pid); err != nil || c.PID <= 0 {
		t.Fatalf("podman inspect: pid %q: %v", pid, err)
	}
	return c
}

// TestScanPodman runs a container with Debian's rootful Podman (runc,
// cgroupfs, everything in private directories) and checks that Scan finds it
// through procfs, recognises Podman from the io.container.manager=libpod
// annotation in runc's state and takes the name from Podman's container
// store.
func TestScanPodman(t *testing.T) {
	requireRoot(t)
	rootfs := buildBusyboxRootfs(t)
	p := newPodman(t)
	pc := p.start(t, rootfs, "podman")

	cs, err := Scan(Options{Sources: append(DefaultSources(), Source{Format: RuncState, Dir: p.runcRoot})})
	if err != nil {
		t.Fatal(err)
	}
	c, ok := findByPID(cs, pc.PID)
	if !ok {
		t.Fatalf("podman container %s (pid %d) not found; Scan: %+v", pc.Name, pc.PID, cs)
	}
	if c.Runtime != "podman" || c.ID != pc.ID || c.Name != pc.Name {
		t.Errorf("got runtime %q id %q name %q; want podman %q %q", c.Runtime, c.ID, c.Name, pc.ID, pc.Name)
	}
	checkNamespaces(t, c)
	if want := p.cgParent + "/libpod-" + pc.ID; c.CgroupV1["memory"] != want {
		t.Errorf("cgroups v1 %v; want memory %q", c.CgroupV1, want)
	}
	if c.Bundle == "" || c.Annotations[annContainerManager] != "libpod" {
		t.Errorf("bundle %q, annotations %v; want a bundle and io.container.manager=libpod", c.Bundle, c.Annotations)
	}
}
