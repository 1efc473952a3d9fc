package discovery

import (
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

	"github.com/lxmount/lxmount/configs"
)

// Debian's docker.io puts these here; /usr/local/bin/docker may be another
// program on a development machine.
const (
	dockerdPath = "/usr/sbin/dockerd"
	dockerPath  = "/usr/bin/docker"
)

// dockerDaemon is a dockerd started by startDockerd.
type dockerDaemon struct {
	host     string // -H
	dataRoot string // --data-root
	execRoot string // --exec-root
	cgParent string // --cgroup-parent of every container
}

// startDockerd starts Debian's dockerd with every directory private to the
// test: --data-root, --exec-root (and so the containerd dockerd starts for
// itself, under <exec-root>/containerd), the socket, the pid file, the
// trust key (deprecated-key-path; by default /etc/docker/key.json), no
// bridge, no iptables, the vfs storage driver (no kernel module, no mount
// per layer) and the cgroup parent /lxmount-test-docker-<random>. It waits
// until `docker version` answers. t.Cleanup stops the daemon (SIGTERM, then
// SIGKILL), then removes what it may leave: mounts below the test's
// directory, the cgroup tree, and the /run/containerd/s and /run/docker
// directories the daemon and its shims create when the test made them.
// The containers are removed by runDocker's cleanups, which run first.
func startDockerd(t *testing.T) *dockerDaemon {
	t.Helper()
	requireRoot(t)
	requireCommands(t, dockerdPath, dockerPath, "containerd", "containerd-shim-runc-v2", "runc", "tar")
	tmp := t.TempDir()
	d := &dockerDaemon{
		host:     "unix://" + filepath.Join(tmp, "docker.sock"),
		dataRoot: filepath.Join(tmp, "data"),
		execRoot: filepath.Join(tmp, "exec"),
		cgParent: "/lxmount-test-docker-" + randomSuffix(t),
	}
	var madeRun []string
	for _, dir := range []string{"/run/containerd", "/run/containerd/s", "/run/docker", "/run/docker/plugins"} {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			madeRun = append(madeRun, dir)
		}
	}
	cfg := filepath.Join(tmp, "daemon.json")
	write(t, cfg, fmt.Sprintf(`{"deprecated-key-path": %q}`, filepath.Join(tmp, "key.json")))
	log, err := os.Create(filepath.Join(tmp, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	c := exec.Command(dockerdPath,
		"--data-root", d.dataRoot, "--exec-root", d.execRoot, "-H", d.host,
		"--pidfile", filepath.Join(tmp, "docker.pid"), "--config-file", cfg,
		"--bridge=none", "--iptables=false", "--ip6tables=false",
		"--storage-driver", "vfs", "--cgroup-parent", d.cgParent)
	c.Stdout, c.Stderr = log, log
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		t.Fatalf("start dockerd: %v", err)
	}
	t.Cleanup(func() {
		_ = c.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("dockerd %d ignored SIGTERM, killing it", c.Process.Pid)
			_ = c.Process.Kill()
			<-done
		}
		unmountUnder(t, tmp)
		removeCgroupTree(t, d.cgParent)
		for i := len(madeRun) - 1; i >= 0; i-- {
			if err := syscall.Rmdir(madeRun[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
				t.Logf("dockerd cleanup: leaving %s: %v", madeRun[i], err)
			}
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := d.docker("version")
		if err == nil {
			return d
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(log.Name())
			t.Fatalf("dockerd not ready after 60 s: %v; its log:\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// docker runs the docker client against d and returns its trimmed stdout.
func (d *dockerDaemon) docker(args ...string) (string, error) {
	out, err := runCommand(nil, dockerPath, append([]string{"-H", d.host}, args...)...)
	return strings.TrimSpace(out), err
}

// importBusybox imports rootfs as the image lxmount-test-busybox:<random>
// and returns its reference; the image goes with the daemon's data root.
func (d *dockerDaemon) importBusybox(t *testing.T, rootfs string) string {
	t.Helper()
	tarball := filepath.Join(t.TempDir(), "rootfs.tar")
	if _, err := runCommand(nil, "tar", "-C", rootfs, "-cf", tarball, "."); err != nil {
		t.Fatal(err)
	}
	ref := "lxmount-test-busybox:" + randomSuffix(t)
	if _, err := d.docker("import", tarball, ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

// dockerContainerRun is a container started by runDocker.
type dockerContainerRun struct {
	Name, ID string
	PID      int
}

// runDocker runs `docker run -d --name name <args> image /bin/sleep 1000`
// and returns the container; t.Cleanup removes it (docker rm -f).
func (d *dockerDaemon) runDocker(t *testing.T, name, image string, args ...string) *dockerContainerRun {
	t.Helper()
	t.Cleanup(func() {
		if _, err := d.docker("rm", "-f", name); err != nil && !strings.Contains(err.Error(), "No such container") {
			t.Errorf("docker cleanup: %v", err)
		}
	})
	run := append(append([]string{"run", "-d", "--name", name}, args...), image, "/bin/sleep", "1000")
	id, err := d.docker(run...)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := d.docker("inspect", "--format", "{{.State.Pid}}", id)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 {
		t.Fatalf("docker inspect %s: pid %q", name, pid)
	}
	return &dockerContainerRun{Name: name, ID: id, PID: n}
}

// TestScanDocker starts a private dockerd (Docker 20.10) and checks that
// Scan names its containers after `docker run --name`, read from
// <data-root>/containers/<id>/config.v2.json: a plain container, one that
// shares the first one's network namespace (its /etc/hostname is the first
// one's file), one whose /etc/hostname is the user's own bind mount; that
// `docker rename` is seen through a Cache; and that a policy's
// `name = [...]` matches a Docker container.
func TestScanDocker(t *testing.T) {
	requireRoot(t)
	rootfs := buildBusyboxRootfs(t)
	d := startDockerd(t)
	image := d.importBusybox(t, rootfs)
	suffix := randomSuffix(t)
	hostname := filepath.Join(t.TempDir(), "hostname")
	write(t, hostname, "mine\n")

	web := d.runDocker(t, "lxmount-test-web-"+suffix, image, "--network", "none")
	side := d.runDocker(t, "lxmount-test-side-"+suffix, image, "--network", "container:"+web.Name)
	own := d.runDocker(t, "lxmount-test-own-"+suffix, image, "--network", "none", "-v", hostname+":/etc/hostname:ro")

	// The sources DefaultSources lists for Docker, below this daemon's --exec-root.
	opts := Options{Cache: &Cache{}, Sources: []Source{
		{Format: RuncState, Dir: filepath.Join(d.execRoot, "runtime-runc", "moby"), Runtime: "docker"},
		{Format: ContainerdTasks, Dir: filepath.Join(d.execRoot, "containerd", "daemon", "io.containerd.runtime.v2.task")},
	}}
	check := func(t *testing.T, cs []Container, want *dockerContainerRun, wantName string) Container {
		t.Helper()
		c, ok := findByPID(cs, want.PID)
		if !ok {
			t.Fatalf("docker container %s (pid %d) not found; Scan: %+v", want.Name, want.PID, cs)
		}
		if c.Runtime != "docker" || c.ID != want.ID || c.Name != wantName {
			t.Errorf("got runtime %q id %q name %q; want docker %q %q", c.Runtime, c.ID, c.Name, want.ID, wantName)
		}
		return c
	}
	cs, err := Scan(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*dockerContainerRun{web, side, own} {
		t.Run(strings.TrimSuffix(strings.TrimPrefix(c.Name, "lxmount-test-"), "-"+suffix), func(t *testing.T) {
			got := check(t, cs, c, c.Name)
			checkNamespaces(t, got)
			if cg := d.cgParent + "/" + c.ID; got.CgroupV1["memory"] != cg {
				t.Errorf("cgroups v1 %v; want memory %q", got.CgroupV1, cg)
			}
			r, err := Resolve(opts, c.PID)
			if err != nil {
				t.Fatal(err)
			}
			if r.Name != c.Name {
				t.Errorf("Resolve: name %q, want %q", r.Name, c.Name)
			}
		})
	}

	t.Run("rename", func(t *testing.T) {
		renamed := "lxmount-test-renamed-" + suffix
		if _, err := d.docker("rename", side.Name, renamed); err != nil {
			t.Fatal(err)
		}
		side.Name = renamed // for its cleanup, docker rm -f
		cs, err := Scan(opts)
		if err != nil {
			t.Fatal(err)
		}
		check(t, cs, side, renamed)
	})

	t.Run("policy name", func(t *testing.T) {
		ps, err := configs.ParsePolicies("docker.toml", []byte(
			"[[policy]]\nname = \"web\"\n[policy.match]\nruntime = \"docker\"\nname = [\"lxmount-test-web-*\"]\n"))
		if err != nil {
			t.Fatal(err)
		}
		set := &configs.Set{Daemon: configs.DefaultDaemon(), Policies: ps}
		for _, tt := range []struct {
			c    *dockerContainerRun
			want string
		}{{web, "web"}, {own, ""}} {
			c, _ := findByPID(cs, tt.c.PID)
			p, why := set.Match(configs.Container{CgroupPath: c.CgroupV1["memory"], Runtime: c.Runtime, ID: c.ID, Name: c.Name, Annotations: c.Annotations})
			got := ""
			if p != nil {
				got = p.Name
			}
			if got != tt.want {
				t.Errorf("%s: policy %q, want %q (%s)", tt.c.Name, got, tt.want, why)
			}
		}
	})
}
