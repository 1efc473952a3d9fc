package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// DockerdPath is Debian's Docker 20.10 daemon and DockerPath its client.
// DockerPath is given in full on purpose: on this project's machines
// /usr/local/bin/docker, first on PATH, is an unrelated newer client.
const (
	DockerdPath = "/usr/sbin/dockerd"
	DockerPath  = "/usr/bin/docker"
)

// DockerRuntime is an OCI runtime in daemon.json's "runtimes": Path is the
// binary, Args its "runtimeArgs". Docker 20.10 does not give the shim a
// runtime with Args directly: it writes <data-root>/runtimes/<name>, a
// script `<Path> <Args...> $@` (no exec, $@ unquoted), so Args come before
// the shim's own global flags (see WriteArgvLogger for the argv that
// results). Path must outlive the harness: make it before StartDockerd.
type DockerRuntime struct {
	Path string
	Args []string
}

// DockerdOptions configures StartDockerd.
type DockerdOptions struct {
	// Runtimes are added to daemon.json "runtimes" by name; runc (/usr/bin/runc)
	// is always there.
	Runtimes map[string]DockerRuntime
	// DefaultRuntime is daemon.json "default-runtime" ("" : runc).
	DefaultRuntime string
	// StorageDriver is the graph driver. "" tries overlay2 and falls back to
	// vfs if dockerd does not come up with it: overlay2 needs a backing
	// filesystem with d_type that takes overlay mounts (ext4 and xfs do; an
	// overlayfs data-root, as in a container, does not), vfs copies every
	// layer but works anywhere. Here (ext4 /tmp, kernel 6.18) overlay2
	// works; "vfs" was checked by hand to work too.
	StorageDriver string
}

// Dockerd is a Docker daemon of one test, started by StartDockerd: its own
// data-root, exec-root, socket, pidfile, daemon.json and containerd under
// Dir, no networking of its own (no bridge, no iptables rules, no
// ip_forward change), containers in cgroups under CgroupParent.
type Dockerd struct {
	// Host is the daemon's socket as `docker -H` takes it, "unix://<Dir>/docker.sock".
	Host string
	// Dir holds data/ (--data-root), exec/ (--exec-root), daemon.json,
	// docker.pid, dockerd.log and containerd/.
	Dir      string
	DataRoot string
	ExecRoot string
	// CgroupParent is daemon.json "cgroup-parent",
	// "/lxmount-test-docker-<random>": a container's cgroup is
	// <CgroupParent>/<full container id> in every hierarchy (cgroupfs
	// driver). Cleanup removes the tree.
	CgroupParent string
	// StorageDriver is the graph driver in use (overlay2 or vfs).
	StorageDriver string
	// Containerd is the daemon's containerd (`dockerd --containerd`): its
	// Ctr sees Docker's containers in Docker's namespace, "moby".
	Containerd *Containerd

	d *daemon
}

// StartDockerd starts Debian's dockerd with its own directories under a new
// Dir (see Dockerd), a daemon.json with opts' runtimes and
// "native.cgroupdriver=cgroupfs", `--bridge=none --iptables=false
// --ip6tables=false --ip-forward=false --ip-masq=false`, and a containerd
// of its own (StartContainerd's, with Docker's namespace "moby"), and waits
// until `docker info` answers.
//
// The containerd is started by the harness and given to dockerd with
// --containerd rather than left to dockerd to start: the containerd.toml
// dockerd 20.10 writes has no setting for the opt plugin, whose containerd
// then creates /opt/containerd on the host. daemon.json also moves the
// trust key dockerd 20.10 makes at start out of /etc/docker/key.json.
//
// With --bridge=none a container has only a loopback device, whether it is
// run with `--network none` or not. runc's state for Docker's containers is
// in <ExecRoot>/runtime-runc/moby, the bundles are in the containerd's
// <Containerd.Dir>/state/io.containerd.runtime.v2.task/moby/<id>.
//
// t.Cleanup, which runs also when the test fails: removes every container
// (docker rm -f) and image, stops dockerd (SIGTERM, then SIGKILL after 10 s,
// by the PID it started, checked against --pidfile), stops the containerd
// (StartContainerd's cleanup), lazily unmounts what is left under Dir,
// removes the CgroupParent tree and Dir, and fails the test if a docker0
// bridge, a DOCKER iptables chain or a changed ip_forward appeared. Runtime
// binaries given in opts must outlive that cleanup: make them before
// StartDockerd (cleanups run last-in first-out, t.TempDir's too). Skips
// (fails under CI=true) without root, dockerd or the docker client.
func StartDockerd(t testing.TB, opts DockerdOptions) *Dockerd {
	t.Helper()
	RequireRoot(t)
	RequireCommands(t, DockerdPath, DockerPath, ContainerdPath, CtrPath, RuncPath)

	dir := shortTempDir(t, "lxm-dockerd-")
	missing := missingHostDirs()
	before := readNetState()
	t.Cleanup(func() { // last, after the containerd's and dockerd's cleanups
		removeTree(t, "dockerd", dir)
		removeHostDirs(t, missing)
		after := readNetState()
		for _, e := range before.diff(after) {
			t.Errorf("dockerd cleanup: network state changed (by this test's dockerd or another one on the host): %s", e)
		}
	})
	cd, err := startContainerd(t, filepath.Join(dir, "containerd"), "moby", false)
	if err != nil {
		t.Fatalf("dockerd: its containerd: %v", err)
	}
	d := &Dockerd{
		Host:         "unix://" + filepath.Join(dir, "docker.sock"),
		Dir:          dir,
		DataRoot:     filepath.Join(dir, "data"),
		ExecRoot:     filepath.Join(dir, "exec"),
		CgroupParent: "/lxmount-test-docker-" + randomHex(t, 4),
		Containerd:   cd,
	}
	t.Cleanup(func() { d.cleanup(t) })

	drivers := []string{opts.StorageDriver}
	if opts.StorageDriver == "" {
		drivers = []string{"overlay2", "vfs"}
	}
	for i, driver := range drivers {
		err = d.start(opts, driver)
		if err == nil {
			d.StorageDriver = driver
			return d
		}
		if i < len(drivers)-1 {
			t.Logf("dockerd with storage driver %s: %v; trying %s", driver, err, drivers[i+1])
			if err := d.stopAndWipe(); err != nil {
				t.Fatalf("dockerd: %v", err)
			}
		}
	}
	t.Fatalf("dockerd: %v", err)
	return nil
}

// start writes daemon.json for driver, starts dockerd and waits for it.
func (d *Dockerd) start(opts DockerdOptions, driver string) error {
	runtimes := map[string]any{}
	for name, r := range opts.Runtimes {
		rt := map[string]any{"path": r.Path}
		if len(r.Args) > 0 {
			rt["runtimeArgs"] = r.Args
		}
		runtimes[name] = rt
	}
	conf := map[string]any{
		"runtimes":       runtimes,
		"storage-driver": driver,
		"cgroup-parent":  d.CgroupParent,
		"exec-opts":      []string{"native.cgroupdriver=cgroupfs"},
		// The trust key dockerd 20.10 makes at start (default /etc/docker/key.json).
		"deprecated-key-path": filepath.Join(d.Dir, "key.json"),
	}
	if opts.DefaultRuntime != "" {
		conf["default-runtime"] = opts.DefaultRuntime
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return err
	}
	config := filepath.Join(d.Dir, "daemon.json")
	if err := os.WriteFile(config, b, 0o600); err != nil {
		return err
	}
	pidfile := filepath.Join(d.Dir, "docker.pid")
	args := []string{
		"--config-file", config,
		"--data-root", d.DataRoot,
		"--exec-root", d.ExecRoot,
		"-H", d.Host,
		"--pidfile", pidfile,
		"--containerd", d.Containerd.Address,
		"--bridge=none", "--iptables=false", "--ip6tables=false",
		"--ip-forward=false", "--ip-masq=false", "--userland-proxy=false",
	}
	dm, err := startDaemon("dockerd", filepath.Join(d.Dir, "dockerd.log"), DockerdPath, args, nil)
	if err != nil {
		return err
	}
	d.d = dm
	ready := func() bool {
		out, _, err := d.Docker("info", "--format", "{{.Driver}}")
		return err == nil && strings.TrimSpace(out) == driver
	}
	if !waitUntil(30*time.Second, ready, dm.exited) {
		return fmt.Errorf("dockerd (pid %d) not answering on %s after 30 s or exited; its log:\n%s", dm.pid, d.Host, dm.logTail(20))
	}
	pid, err := os.ReadFile(pidfile)
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(pid)) != fmt.Sprint(dm.pid) {
		return fmt.Errorf("dockerd pidfile %s holds %q, not the pid started, %d", pidfile, pid, dm.pid)
	}
	return nil
}

// stopAndWipe stops a dockerd that did not come up and empties its
// data-root and exec-root for another try.
func (d *Dockerd) stopAndWipe() error {
	if d.d != nil {
		if err := d.d.stop(stopGrace); err != nil {
			return err
		}
	}
	for _, dir := range []string{d.DataRoot, d.ExecRoot} {
		if _, err := unmountUnder(dir); err != nil {
			return err
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	return nil
}

// Docker runs /usr/bin/docker -H <Host> args... and returns its stdout and
// stderr; err carries the exit status and stderr.
func (d *Dockerd) Docker(args ...string) (stdout, stderr string, err error) {
	return runClient(d.clientEnv(), DockerPath, append([]string{"-H", d.Host}, args...)...)
}

// clientEnv is the docker client's environment: its config.json (and
// context) from Dir, not from ~/.docker, and no DOCKER_HOST or
// DOCKER_CONTEXT of the caller's.
func (d *Dockerd) clientEnv() []string {
	return []string{"DOCKER_CONFIG=" + filepath.Join(d.Dir, "client"), "DOCKER_CONTEXT=", "DOCKER_HOST="}
}

// PID returns dockerd's process ID.
func (d *Dockerd) PID() int { return d.d.pid }

// Log returns the last n lines of dockerd's log.
func (d *Dockerd) Log(n int) string { return fileTail(filepath.Join(d.Dir, "dockerd.log"), n) }

// ImportRootfs imports the root filesystem at rootfsDir as the image
// imageName (e.g. "lxmount/busybox:test"): WriteRootfsTar piped into
// `docker import - imageName`.
func (d *Dockerd) ImportRootfs(t testing.TB, rootfsDir, imageName string) {
	t.Helper()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(WriteRootfsTar(rootfsDir, pw)) }()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, DockerPath, "-H", d.Host, "import", "-", imageName)
	c.Env = append(os.Environ(), d.clientEnv()...)
	c.Stdin = pr
	out, err := c.CombinedOutput()
	pr.Close()
	if err != nil {
		t.Fatalf("docker import %s: %v: %s", imageName, err, out)
	}
}

// cleanup is StartDockerd's t.Cleanup for the daemon (the containerd's and
// Dir's run after it).
func (d *Dockerd) cleanup(t testing.TB) {
	t.Helper()
	if d.d != nil && d.d.alive() {
		if ids, _, err := d.Docker("ps", "-aq", "--no-trunc"); err != nil {
			t.Errorf("dockerd cleanup: %v", err)
		} else if f := strings.Fields(ids); len(f) > 0 {
			if _, _, err := d.Docker(append([]string{"rm", "-f", "-v"}, f...)...); err != nil {
				t.Errorf("dockerd cleanup: %v", err)
			}
		}
		if ids, _, err := d.Docker("images", "-aq", "--no-trunc"); err != nil {
			t.Errorf("dockerd cleanup: %v", err)
		} else if f := strings.Fields(ids); len(f) > 0 {
			if _, _, err := d.Docker(append([]string{"rmi", "-f"}, f...)...); err != nil {
				t.Errorf("dockerd cleanup: %v", err)
			}
		}
		if err := d.d.stop(stopGrace); err != nil {
			t.Errorf("dockerd cleanup: %v", err)
		}
	}
	if t.Failed() && d.d != nil {
		t.Logf("dockerd log (%s), last lines:\n%s", d.d.log, d.Log(40))
	}
	for _, dir := range []string{d.ExecRoot, d.DataRoot} {
		left, err := unmountUnder(dir)
		if err != nil {
			t.Errorf("dockerd cleanup: %v", err)
		}
		if len(left) > 0 {
			t.Logf("dockerd cleanup: unmounted leftovers (MNT_DETACH): %v", left)
		}
	}
	removeCgroupTree(t, "dockerd", d.CgroupParent)
}

// netState is what a dockerd could change in the host's network set-up:
// whether a docker0 link exists, the iptables and ip6tables chains whose
// name starts with DOCKER, and net.ipv4.ip_forward.
type netState struct {
	docker0   bool
	chains    []string
	ipForward string
}

// readNetState reads the host's netState; iptables that are not installed
// contribute nothing.
func readNetState() netState {
	var s netState
	_, err := net.InterfaceByName("docker0")
	s.docker0 = err == nil
	for _, cmd := range []string{"iptables", "ip6tables"} {
		for _, table := range []string{"filter", "nat"} {
			out, err := exec.Command(cmd, "-w", "5", "-t", table, "-S").Output()
			if err != nil {
				continue
			}
			for _, l := range strings.Split(string(out), "\n") {
				// "-N DOCKER", "-N DOCKER-USER", ...
				if f := strings.Fields(l); len(f) == 2 && f[0] == "-N" && strings.HasPrefix(f[1], "DOCKER") {
					s.chains = append(s.chains, cmd+" "+table+" "+f[1])
				}
			}
		}
	}
	sort.Strings(s.chains)
	b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	s.ipForward = strings.TrimSpace(string(b))
	return s
}

// diff describes what is in after that was not in s.
func (s netState) diff(after netState) []string {
	var d []string
	if after.docker0 && !s.docker0 {
		d = append(d, "a docker0 link appeared")
	}
	had := map[string]bool{}
	for _, c := range s.chains {
		had[c] = true
	}
	for _, c := range after.chains {
		if !had[c] {
			d = append(d, "new chain: "+c)
		}
	}
	if after.ipForward != s.ipForward {
		d = append(d, fmt.Sprintf("net.ipv4.ip_forward %s -> %s", s.ipForward, after.ipForward))
	}
	return d
}
