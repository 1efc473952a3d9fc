package discovery

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The containers of testdata/docker (see testdata/README.md), captured
// under dockerd --data-root /tmp/lxm-dn/data --exec-root /tmp/lxm-dn/exec.
const (
	dockerWebID  = "d858273d4dbc4c6a4168583a57e65581f3adc647909b98bf73aaee05bcac2434"
	dockerSideID = "4fc16fabdf2ad5f5a727c57c8be41e93e99a3e2faa25ee02d4b3e39bc627bce1"
	dockerOwnID  = "0804610cb56d4735975f9a7e5a0917e76b541166a888a8e1dceed290596a3fac"
	dockerData   = "/tmp/lxm-dn/data"
	dockerExec   = "/tmp/lxm-dn/exec"
)

func TestDockerContainersDir(t *testing.T) {
	bundle := func(name string) []mount {
		t.Helper()
		var cfg ociConfig
		readJSON(t, filepath.Join("testdata", "docker", name, "config.json"), &cfg)
		return cfg.Mounts
	}
	m := func(dst, src string) mount { return mount{Destination: dst, Source: src} }
	tests := []struct {
		name   string
		mounts []mount
		want   string
	}{
		{name: "docker run: bundle config.json", mounts: bundle("web"), want: dockerData + "/containers"},
		{name: "-v file:/etc/hostname: resolv.conf and hosts are still Docker's", mounts: bundle("own-hostname"), want: dockerData + "/containers"},
		{name: "the user's /etc/hostname listed first: /etc/hosts decides", mounts: []mount{
			m("/etc/hostname", "/srv/containers/x/hostname2"),
			m("/etc/hosts", "/var/lib/docker/containers/abc/hosts"),
		}, want: "/var/lib/docker/containers"},
		{name: "the user's file named like Docker's but elsewhere", mounts: []mount{m("/etc/hostname", "/srv/conf/abc/hostname")}, want: ""},
		{name: "another file over /etc/hosts", mounts: []mount{m("/etc/hosts", "/var/lib/docker/containers/abc/hostname")}, want: ""},
		{name: "relative source", mounts: []mount{m("/etc/hostname", "containers/abc/hostname")}, want: ""},
		{name: "runc spec: no bind mounts of /etc files", mounts: []mount{m("/proc", "proc"), m("/dev", "tmpfs")}, want: ""},
		{name: "none", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dockerContainersDir(tt.mounts); got != tt.want {
				t.Errorf("dockerContainersDir = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseRuncStateDocker(t *testing.T) {
	// --network container:web: the /etc files are web's, the id is the sidecar's.
	got, err := parseRuncState(open(t, "docker/sidecar/state.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := record{id: dockerSideID, pid: 9420, start: 53427,
		bundle:    dockerExec + "/containerd/daemon/io.containerd.runtime.v2.task/moby/" + dockerSideID,
		dockerDir: dockerData + "/containers"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseRuncState:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseDockerContainer(t *testing.T) {
	for _, tt := range []struct{ dir, id, name string }{
		{"web", dockerWebID, "/web"},
		{"sidecar", dockerSideID, "/sidecar"},
		{"own-hostname", dockerOwnID, "/own-hostname"},
	} {
		got, err := parseDockerContainer(open(t, filepath.Join("docker", tt.dir, "config.v2.json")))
		if err != nil {
			t.Fatal(err)
		}
		if want := (dockerContainer{ID: tt.id, Name: tt.name}); got != want {
			t.Errorf("%s: parseDockerContainer = %+v, want %+v", tt.dir, got, want)
		}
	}
}

func TestNameStoreDocker(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "containers")
	copyFixture(t, "docker/web/config.v2.json", filepath.Join(dir, dockerWebID, "config.v2.json"), nil)
	copyFixture(t, "docker/sidecar/config.v2.json", filepath.Join(dir, dockerSideID, "config.v2.json"), nil)
	copyFixture(t, "docker/web/config.v2.json", filepath.Join(dir, "0000", "config.v2.json"), nil) // another's file
	write(t, filepath.Join(dir, "bad", "config.v2.json"), "{")
	store := newNameStore(nil)
	tests := []struct {
		name, id, want string
	}{
		{name: "its own file", id: dockerWebID, want: "web"},
		{name: "a sidecar sharing web's network", id: dockerSideID, want: "sidecar"},
		{name: "a file whose ID is another container's", id: "0000", want: ""},
		{name: "no file", id: dockerOwnID, want: ""},
		{name: "not JSON", id: "bad", want: ""},
		{name: "an id that is a path", id: "../containers/" + dockerWebID, want: ""},
		{name: "no id", id: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := store.docker(dir, tt.id); got != tt.want {
				t.Errorf("docker(%q) = %q, want %q", tt.id, got, tt.want)
			}
		})
	}
}

// TestScanDockerFixture lays out the captured files as dockerd 20.10 did
// (its runc root, the task directory of the containerd it starts itself,
// its data root) and checks that Scan names each container from its own
// config.v2.json, whichever of the two sources found it.
func TestScanDockerFixture(t *testing.T) {
	tmp := t.TempDir()
	moved := strings.NewReplacer(dockerData, filepath.Join(tmp, "data"), dockerExec, filepath.Join(tmp, "exec"))
	containers := filepath.Join(tmp, "data", "containers")
	runcRoot := filepath.Join(tmp, "exec", "runtime-runc", "moby")
	tasks := filepath.Join(tmp, "exec", "containerd", "daemon", "io.containerd.runtime.v2.task")
	procs := []fproc{
		{pid: 9011, ppid: 1, start: 50000, pidNS: 1001, mntNS: 2001, nspid: []int{9011, 1}},
		{pid: 9420, ppid: 1, start: 53427, pidNS: 1002, mntNS: 2002, nspid: []int{9420, 1}},
		{pid: 9468, ppid: 1, start: 53500, pidNS: 1003, mntNS: 2003, nspid: []int{9468, 1}},
	}
	for _, c := range []struct{ dir, id string }{{"web", dockerWebID}, {"sidecar", dockerSideID}, {"own-hostname", dockerOwnID}} {
		copyFixture(t, filepath.Join("docker", c.dir, "config.v2.json"), filepath.Join(containers, c.id, "config.v2.json"), moved)
	}
	// web and own-hostname as containerd's task directory has them, the
	// sidecar as runc's root does.
	copyFixture(t, "docker/web/config.json", filepath.Join(tasks, "moby", dockerWebID, "config.json"), moved)
	write(t, filepath.Join(tasks, "moby", dockerWebID, "init.pid"), "9011")
	copyFixture(t, "docker/own-hostname/config.json", filepath.Join(tasks, "moby", dockerOwnID, "config.json"), moved)
	write(t, filepath.Join(tasks, "moby", dockerOwnID, "init.pid"), "9468")
	copyFixture(t, "docker/sidecar/state.json", filepath.Join(runcRoot, dockerSideID, "state.json"), moved)

	cs, err := Scan(Options{ProcRoot: writeProcTree(t, procs), Sources: []Source{
		{Format: RuncState, Dir: runcRoot, Runtime: "docker"},
		{Format: ContainerdTasks, Dir: tasks},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []found{
		{Init: 9011, PIDNS: 1001, MntNS: 2001, Runtime: "docker", ID: dockerWebID, Name: "web"},
		{Init: 9420, PIDNS: 1002, MntNS: 2002, Runtime: "docker", ID: dockerSideID, Name: "sidecar"},
		{Init: 9468, PIDNS: 1003, MntNS: 2003, Runtime: "docker", ID: dockerOwnID, Name: "own-hostname"},
	}
	if got := summarize(cs); !reflect.DeepEqual(got, want) {
		t.Errorf("Scan:\n got %+v\nwant %+v", got, want)
	}

	// Without its config.v2.json a Docker container is named by its id.
	if err := os.Remove(filepath.Join(containers, dockerWebID, "config.v2.json")); err != nil {
		t.Fatal(err)
	}
	cs, err = Scan(Options{ProcRoot: writeProcTree(t, procs[:1]), Sources: []Source{{Format: ContainerdTasks, Dir: tasks}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := summarize(cs), []found{{Init: 9011, PIDNS: 1001, MntNS: 2001, Runtime: "docker", ID: dockerWebID, Name: dockerWebID}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Scan without config.v2.json:\n got %+v\nwant %+v", got, want)
	}
}

// copyFixture copies testdata/name to path, through r if not nil, or fails
// the test.
func copyFixture(t *testing.T, name, path string, r *strings.Replacer) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if r != nil {
		s = r.Replace(s)
	}
	write(t, path, s)
}

// readJSON decodes the JSON file path into v or fails the test.
func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := json.NewDecoder(f).Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestBundleName(t *testing.T) {
	tmp := t.TempDir()
	moved := strings.NewReplacer(dockerData, filepath.Join(tmp, "data"))
	containers := filepath.Join(tmp, "data", "containers")
	copyFixture(t, "docker/web/config.v2.json", filepath.Join(containers, dockerWebID, "config.v2.json"), nil)
	copyFixture(t, "docker/sidecar/config.v2.json", filepath.Join(containers, dockerSideID, "config.v2.json"), nil)
	bundles := filepath.Join(tmp, "moby")
	copyFixture(t, "docker/web/config.json", filepath.Join(bundles, dockerWebID, "config.json"), moved)
	// --network container:web: the sidecar's bundle mounts web's /etc files.
	copyFixture(t, "docker/web/config.json", filepath.Join(bundles, dockerSideID, "config.json"), moved)
	copyFixture(t, "containerd-task/config.json", filepath.Join(tmp, "ctr", "config.json"), nil)

	// Podman's layout: <graphroot>/vfs-containers/{containers.json,<id>/userdata/config.json}.
	const podmanID = "cd5343d9803d9fb1de429c2cc6395ac0756490ec2c63f57dee2c73a53857adab"
	podmanBundle := filepath.Join(tmp, "vfs-containers", podmanID, "userdata")
	copyFixture(t, "podman/containers.json", filepath.Join(tmp, "vfs-containers", "containers.json"), nil)
	writeJSON(t, filepath.Join(podmanBundle, "config.json"), map[string]any{"annotations": map[string]string{annContainerManager: "libpod"}})

	tests := []struct {
		name, bundle, id, want string
	}{
		{name: "docker", bundle: filepath.Join(bundles, dockerWebID), id: dockerWebID, want: "web"},
		{name: "docker sharing another's network", bundle: filepath.Join(bundles, dockerSideID), id: dockerSideID, want: "sidecar"},
		{name: "podman", bundle: podmanBundle, id: podmanID, want: "web"},
		{name: "nerdctl annotation", bundle: filepath.Join(tmp, "ctr"), id: "t1", want: "web"},
		{name: "no config.json", bundle: filepath.Join(tmp, "none"), id: "x", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := BundleName(tt.bundle, tt.id); got != tt.want {
				t.Errorf("BundleName = %q, want %q", got, tt.want)
			}
		})
	}
}
