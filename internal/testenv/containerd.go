package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ContainerdPath and CtrPath are Debian's containerd 1.6 and its client.
const (
	ContainerdPath = "/usr/bin/containerd"
	CtrPath        = "/usr/bin/ctr"
)

// shimSocketDir is where containerd 1.6's v2 shims put their sockets,
// whatever the daemon's state directory (runtime/v2/shim/util_unix.go,
// socketRoot = defaults.DefaultStateDir + "/s"): one socket named
// sha256(<daemon address>/<namespace>/<id or group>) per shim.
const shimSocketDir = "/run/containerd/s"

// CtrCgroupMount is a `ctr run --mount` value that mounts the container's
// cgroups read-only at /sys/fs/cgroup, as Docker and Podman do: ctr's
// default spec has no cgroup mount, so /sys/fs/cgroup is an empty directory
// of the read-only sysfs. On cgroup v1 runc (and crun) bind the container's
// own group of every hierarchy there (memory/memory.limit_in_bytes...).
const CtrCgroupMount = "type=cgroup,src=cgroup,dst=/sys/fs/cgroup,options=ro:nosuid:noexec:nodev"

// Containerd is a containerd daemon of one test, started by
// StartContainerd: its own config, root, state and sockets under Dir, and
// a namespace for Ctr that no other test uses.
type Containerd struct {
	// Address is the daemon's gRPC socket, what `ctr -a` takes.
	Address string
	// Namespace is the containerd namespace Ctr passes (`ctr -n`),
	// "lxmount-test-<random>". `ctr run` puts a container in the cgroup
	// /<Namespace>/<id> unless told otherwise (--cgroup); cleanup removes
	// the /<Namespace> tree runc leaves in every hierarchy.
	Namespace string
	// Dir holds config.toml, root/, state/, opt/, the daemon's log
	// containerd.log and the sockets.
	Dir string
	// RuncRoot is a runc state directory under Dir for `ctr run --runc-root`.
	// Without that flag the runc v2 shim keeps runc's state in
	// /run/containerd/runc/<namespace> (removed by cleanup if left).
	RuncRoot string
	// FifoDir is a directory under Dir for `ctr run --fifo-dir`. Without it
	// ctr makes a task's stdio fifos in /run/containerd/fifo.
	FifoDir string

	ownNS bool // Namespace is this test's alone (startContainerd)
	d     *daemon
	// ctrBin is the ctr that Ctr runs, CtrPath unless set (StartCRIContainerd);
	// socketDir where the shims put their sockets, shimSocketDir unless set.
	ctrBin, socketDir string
}

// StartContainerd starts Debian's containerd with a generated config.toml
// (containerdConfig: root, state, gRPC and ttrpc sockets and the opt
// plugin's directory under Dir; the CRI plugin and the snapshotters that
// cannot work here disabled) and waits until `ctr version` answers.
//
// t.Cleanup, which runs also when the test fails: in every namespace,
// SIGKILLs and deletes the tasks, removes containers, images, snapshots and
// the namespace; stops containerd (SIGTERM, SIGKILL after 10 s, by the PID
// it started); kills any shim still serving this daemon (reported as an
// error); removes shim sockets and runc state it left in /run/containerd;
// removes the /<Namespace> cgroup tree; lazily unmounts what is left under
// Dir and removes Dir. A runtime given with `ctr run --runc-binary` must
// outlive that cleanup, which still calls it: make it before
// StartContainerd. Skips (fails under CI=true) without root or containerd.
func StartContainerd(t testing.TB) *Containerd {
	t.Helper()
	RequireRoot(t)
	RequireCommands(t, ContainerdPath, CtrPath, RuncPath)
	missing := missingHostDirs()
	t.Cleanup(func() { removeHostDirs(t, missing) }) // runs after c's cleanup
	dir := shortTempDir(t, "lxm-ctrd-")
	c, err := startContainerd(t, dir, "lxmount-test-"+randomHex(t, 4), true)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startContainerd starts containerd in dir (which cleanup removes) with ns
// as the namespace of Ctr, and registers the cleanup. ownNS says ns is this
// test's alone, so cleanup may remove the /<ns> cgroup tree and runc state
// directory; dockerd.go uses startContainerd for dockerd's containerd with
// Docker's "moby", which is not.
func startContainerd(t testing.TB, dir, ns string, ownNS bool) (*Containerd, error) {
	t.Helper()
	c := &Containerd{
		ownNS:     ownNS,
		Address:   filepath.Join(dir, "containerd.sock"),
		Namespace: ns,
		Dir:       dir,
		RuncRoot:  filepath.Join(dir, "runc"),
		FifoDir:   filepath.Join(dir, "fifo"),
	}
	t.Cleanup(func() { c.cleanup(t) }) // before anything can fail half-way
	for _, d := range []string{c.RuncRoot, c.FifoDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	config := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(config, []byte(containerdConfig(dir, c.Address)), 0o600); err != nil {
		return nil, err
	}
	d, err := startDaemon("containerd", filepath.Join(dir, "containerd.log"), ContainerdPath, []string{"--config", config}, nil)
	if err != nil {
		return nil, err
	}
	c.d = d
	ready := func() bool {
		out, _, err := c.Ctr("version")
		return err == nil && strings.Contains(out, "Server:")
	}
	if !waitUntil(30*time.Second, ready, d.exited) {
		return nil, fmt.Errorf("containerd (pid %d) not answering on %s after 30 s; its log:\n%s", d.pid, c.Address, d.logTail(30))
	}
	return c, nil
}

// containerdConfig is the config.toml of a test's containerd (version 2
// format, containerd 1.6). Everything containerd would otherwise put under
// /var/lib/containerd, /run/containerd or /opt/containerd is under dir,
// except the shims' sockets (shimSocketDir, not configurable in 1.6). The
// CRI plugin is disabled (no kubelet here, and it would want CNI), so are
// the snapshotters that need a filesystem this host does not have.
func containerdConfig(dir, address string) string {
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = %[5]q
  [plugins."io.containerd.runtime.v1.linux"]
    runtime_root = %[6]q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), address, address+".ttrpc",
		filepath.Join(dir, "opt"), filepath.Join(dir, "runc-v1"))
}

// Ctr runs /usr/bin/ctr -a <Address> -n <Namespace> args... and returns its
// stdout and stderr; err carries the exit status and stderr.
func (c *Containerd) Ctr(args ...string) (stdout, stderr string, err error) {
	return c.ctrNS(c.Namespace, args...)
}

// ctrNS is Ctr in namespace ns.
func (c *Containerd) ctrNS(ns string, args ...string) (stdout, stderr string, err error) {
	ctr := CtrPath
	if c.ctrBin != "" {
		ctr = c.ctrBin
	}
	return runClient(nil, ctr, append([]string{"-a", c.Address, "-n", ns}, args...)...)
}

// ImportRootfs imports the root filesystem at rootfsDir as the image ref
// (e.g. "docker.io/lxmount/busybox:latest") into Namespace: it writes an OCI
// image layout archive (WriteOCIArchive) under t.TempDir() and runs `ctr
// images import` on it.
func (c *Containerd) ImportRootfs(t testing.TB, rootfsDir, ref string) {
	t.Helper()
	archive := filepath.Join(t.TempDir(), "image.oci.tar")
	if err := writeTarFile(archive, func(w io.Writer) error { return WriteOCIArchive(rootfsDir, ref, w) }); err != nil {
		t.Fatalf("containerd import %s: %v", ref, err)
	}
	if _, _, err := c.Ctr("images", "import", archive); err != nil {
		t.Fatalf("containerd import %s: %v", ref, err)
	}
	out, _, err := c.Ctr("images", "ls", "-q")
	if err != nil {
		t.Fatalf("containerd import %s: %v", ref, err)
	}
	if !containsLine(out, ref) {
		t.Fatalf("containerd import %s: not in `ctr images ls`: %q", ref, out)
	}
}

// PID returns the daemon's process ID.
func (c *Containerd) PID() int { return c.d.pid }

// Log returns the last n lines of the daemon's log.
func (c *Containerd) Log(n int) string {
	return fileTail(filepath.Join(c.Dir, "containerd.log"), n)
}

// cleanup is StartContainerd's t.Cleanup.
func (c *Containerd) cleanup(t testing.TB) {
	t.Helper()
	var shimIDs [][2]string // (namespace, id) of every container seen
	if c.d != nil && c.d.alive() {
		shimIDs = c.removeAll(t)
		if err := c.d.stop(stopGrace); err != nil {
			t.Errorf("containerd cleanup: %v", err)
		}
	}
	if t.Failed() && c.d != nil {
		t.Logf("containerd log (%s), last lines:\n%s", c.d.log, c.Log(40))
	}
	killProcs(t, "containerd", c.Dir) // shims are started with -address <Dir>/containerd.sock
	for _, p := range shimIDs {
		sum := sha256.Sum256([]byte(filepath.Join(c.Address, p[0], p[1])))
		dir := shimSocketDir
		if c.socketDir != "" {
			dir = c.socketDir
		}
		sock := filepath.Join(dir, hex.EncodeToString(sum[:]))
		if _, err := os.Lstat(sock); err == nil {
			t.Errorf("containerd cleanup: shim socket %s of %s/%s left, removing it", sock, p[0], p[1])
			_ = os.Remove(sock)
		}
	}
	if c.ownNS {
		if err := os.Remove(filepath.Join("/run/containerd/runc", c.Namespace)); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("containerd cleanup: %v", err) // not empty: runc state left
		}
		removeCgroupTree(t, "containerd", "/"+c.Namespace)
	}
	removeTree(t, "containerd", c.Dir)
}

// removeAll kills and deletes every task and removes every container,
// image and snapshot in every namespace of the daemon (all its own), then
// the namespaces. It returns the (namespace, id) of the containers found.
func (c *Containerd) removeAll(t testing.TB) [][2]string {
	t.Helper()
	nsOut, _, err := c.ctrNS("default", "namespaces", "ls", "-q")
	if err != nil {
		t.Errorf("containerd cleanup: %v", err)
		return nil
	}
	var seen [][2]string
	for _, ns := range strings.Fields(nsOut) {
		tasks, _, err := c.ctrNS(ns, "tasks", "ls", "-q")
		if err != nil {
			t.Errorf("containerd cleanup: %v", err)
		}
		for _, id := range strings.Fields(tasks) {
			_, _, _ = c.ctrNS(ns, "tasks", "kill", "--all", "--signal", "SIGKILL", id)
			// delete fails until the task is stopped: retry for a while.
			ok := waitUntil(10*time.Second, func() bool {
				_, _, err := c.ctrNS(ns, "tasks", "delete", id)
				return err == nil
			}, nil)
			if !ok {
				if _, _, err := c.ctrNS(ns, "tasks", "delete", "--force", id); err != nil {
					t.Errorf("containerd cleanup: %v", err)
				}
			}
		}
		ctrs, _, err := c.ctrNS(ns, "containers", "ls", "-q")
		if err != nil {
			t.Errorf("containerd cleanup: %v", err)
		}
		for _, id := range strings.Fields(ctrs) {
			seen = append(seen, [2]string{ns, id})
			if _, _, err := c.ctrNS(ns, "containers", "delete", id); err != nil {
				t.Errorf("containerd cleanup: %v", err)
			}
		}
		if imgs, _, err := c.ctrNS(ns, "images", "ls", "-q"); err == nil && len(strings.Fields(imgs)) > 0 {
			if _, _, err := c.ctrNS(ns, append([]string{"images", "delete", "--sync"}, strings.Fields(imgs)...)...); err != nil {
				t.Errorf("containerd cleanup: %v", err)
			}
		}
		c.removeSnapshots(t, ns)
		if _, _, err := c.ctrNS("default", "namespaces", "remove", ns); err != nil && ns != "default" {
			t.Logf("containerd cleanup: %v", err) // a namespace with leftovers; Dir goes anyway
		}
	}
	return seen
}

// removeSnapshots removes every snapshot of namespace ns in the default
// (overlayfs) snapshotter, children first: a parent with children cannot go,
// so it retries the ones left until none is or a round removes none.
func (c *Containerd) removeSnapshots(t testing.TB, ns string) {
	t.Helper()
	for {
		out, _, err := c.ctrNS(ns, "snapshots", "ls")
		if err != nil {
			t.Errorf("containerd cleanup: %v", err)
			return
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) <= 1 { // header only: KEY PARENT KIND
			return
		}
		removed := 0
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			if len(f) == 0 {
				continue
			}
			if _, _, err := c.ctrNS(ns, "snapshots", "rm", f[0]); err == nil {
				removed++
			}
		}
		if removed == 0 {
			t.Errorf("containerd cleanup: snapshots left in %s: %q", ns, out)
			return
		}
	}
}

// containsLine reports whether out has a line equal to s.
func containsLine(out, s string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == s {
			return true
		}
	}
	return false
}
