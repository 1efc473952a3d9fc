package discovery

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lxmount/lxmount/configs"
	"github.com/lxmount/lxmount/internal/testenv"
)

// dockerRun is a container started by runDocker.
type dockerRun struct {
	Name, ID string
	PID      int
}

// runDocker runs `docker run -d --name name <args> image /bin/sleep 1000`
// on d and returns the container; StartDockerd's cleanup removes it.
func runDocker(t *testing.T, d *testenv.Dockerd, name, image string, args ...string) *dockerRun {
	t.Helper()
	run := append(append([]string{"run", "-d", "--name", name}, args...), image, "/bin/sleep", "1000")
	id, _, err := d.Docker(run...)
	if err != nil {
		t.Fatal(err)
	}
	id = strings.TrimSpace(id)
	pid, _, err := d.Docker("inspect", "--format", "{{.State.Pid}}", id)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(pid))
	if err != nil || n <= 0 {
		t.Fatalf("docker inspect %s: pid %q", name, pid)
	}
	return &dockerRun{Name: name, ID: id, PID: n}
}

// TestScanDocker starts a private dockerd (Docker 20.10, testenv) and
// checks that Scan and Resolve name its containers after `docker run
// --name`, read from <data-root>/containers/<id>/config.v2.json: a plain
// container, one that shares the first one's network namespace (its
// /etc/hostname is the first one's file), one whose /etc/hostname is the
// user's own bind mount; that BundleName agrees; that `docker rename` is
// seen through a Cache; and that a policy's `name = [...]` matches a
// Docker container.
func TestScanDocker(t *testing.T) {
	requireRoot(t)
	rootfs := buildBusyboxRootfs(t)
	d := testenv.StartDockerd(t, testenv.DockerdOptions{})
	suffix := randomSuffix(t)
	image := "lxmount-test-busybox:" + suffix
	d.ImportRootfs(t, rootfs, image)
	hostname := filepath.Join(t.TempDir(), "hostname")
	write(t, hostname, "mine\n")

	web := runDocker(t, d, "lxmount-test-web-"+suffix, image, "--network", "none")
	side := runDocker(t, d, "lxmount-test-side-"+suffix, image, "--network", "container:"+web.Name)
	own := runDocker(t, d, "lxmount-test-own-"+suffix, image, "--network", "none", "-v", hostname+":/etc/hostname:ro")

	// The sources DefaultSources lists for Docker, below this daemon's
	// --exec-root and its containerd's state directory.
	opts := Options{Cache: &Cache{}, Sources: []Source{
		{Format: RuncState, Dir: filepath.Join(d.ExecRoot, "runtime-runc", "moby"), Runtime: "docker"},
		{Format: ContainerdTasks, Dir: filepath.Join(d.Containerd.Dir, "state", "io.containerd.runtime.v2.task")},
	}}
	check := func(t *testing.T, cs []Container, want *dockerRun, wantName string) Container {
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
	for _, c := range []*dockerRun{web, side, own} {
		t.Run(strings.TrimSuffix(strings.TrimPrefix(c.Name, "lxmount-test-"), "-"+suffix), func(t *testing.T) {
			got := check(t, cs, c, c.Name)
			checkNamespaces(t, got)
			if cg := d.CgroupParent + "/" + c.ID; got.CgroupV1["memory"] != cg {
				t.Errorf("cgroups v1 %v; want memory %q", got.CgroupV1, cg)
			}
			r, err := Resolve(opts, c.PID)
			if err != nil {
				t.Fatal(err)
			}
			if r.Name != c.Name {
				t.Errorf("Resolve: name %q, want %q", r.Name, c.Name)
			}
			if n := BundleName(got.Bundle, c.ID); n != c.Name {
				t.Errorf("BundleName(%s): %q, want %q", got.Bundle, n, c.Name)
			}
		})
	}

	t.Run("rename", func(t *testing.T) {
		renamed := "lxmount-test-renamed-" + suffix
		if _, _, err := d.Docker("rename", side.Name, renamed); err != nil {
			t.Fatal(err)
		}
		side.Name = renamed
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
			c    *dockerRun
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
