package deploy_test

// The container engine snippets of runtimes/: each parses as its engine's
// format, names lxmount-runc where `make install` puts it, and is read by
// the real engine where this machine has it (Docker 20.10, containerd
// 1.6, Podman 4.3; CRI-O is not packaged in Debian 12).

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/lxmount/lxmount/configs"
	"github.com/lxmount/lxmount/internal/testenv"
	"github.com/lxmount/lxmount/supervisor/discovery"
)

// wrapperPath is where `make install` puts lxmount-runc.
const wrapperPath = binPath + "-runc"

// dockerDaemonJSON is the part of daemon.json the snippet sets.
type dockerDaemonJSON struct {
	Runtimes map[string]struct {
		Path        string   `json:"path"`
		RuntimeArgs []string `json:"runtimeArgs"`
	} `json:"runtimes"`
	DefaultRuntime string `json:"default-runtime"`
}

// readDockerSnippet parses runtimes/docker-daemon.json strictly.
func readDockerSnippet(t *testing.T) dockerDaemonJSON {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(readFile(t, "runtimes/docker-daemon.json")))
	dec.DisallowUnknownFields()
	var d dockerDaemonJSON
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("runtimes/docker-daemon.json: %v", err)
	}
	return d
}

// readTOML decodes a TOML snippet into a generic map, failing on syntax.
func readTOML(t *testing.T, name string) map[string]any {
	t.Helper()
	var m map[string]any
	if _, err := toml.Decode(readFile(t, name), &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// lookup walks keys through nested TOML tables; nil if a key is missing.
func lookup(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		t, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = t[k]
	}
	return v
}

func TestRuntimeSnippets(t *testing.T) {
	t.Run("docker", func(t *testing.T) {
		d := readDockerSnippet(t)
		rt, ok := d.Runtimes["lxmount"]
		if !ok || len(d.Runtimes) != 1 {
			t.Fatalf("runtimes %v, want just lxmount", d.Runtimes)
		}
		if rt.Path != wrapperPath {
			t.Errorf("runtimes.lxmount.path %q, want %q", rt.Path, wrapperPath)
		}
		if want := []string{"--lxmount-config", configs.DefaultConfigPath}; !slices.Equal(rt.RuntimeArgs, want) {
			t.Errorf("runtimes.lxmount.runtimeArgs %q, want %q", rt.RuntimeArgs, want)
		}
		if d.DefaultRuntime != "lxmount" {
			t.Errorf("default-runtime %q, want lxmount", d.DefaultRuntime)
		}
	})
	t.Run("containerd", func(t *testing.T) {
		m := readTOML(t, "runtimes/containerd-config.toml")
		if v := lookup(m, "version"); v != int64(2) {
			t.Errorf("version = %v, want 2 (containerd 1.6 and 1.7)", v)
		}
		runc := []string{"plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes", "runc"}
		if v := lookup(m, append(runc, "runtime_type")...); v != "io.containerd.runc.v2" {
			t.Errorf("runtime_type = %v, want io.containerd.runc.v2", v)
		}
		if v := lookup(m, append(runc, "options", "BinaryName")...); v != wrapperPath {
			t.Errorf("options.BinaryName = %v, want %s", v, wrapperPath)
		}
	})
	t.Run("cri-o", func(t *testing.T) {
		m := readTOML(t, "runtimes/crio-lxmount.conf")
		if v := lookup(m, "crio", "runtime", "default_runtime"); v != "lxmount" {
			t.Errorf("crio.runtime.default_runtime = %v, want lxmount", v)
		}
		h := []string{"crio", "runtime", "runtimes", "lxmount"}
		for key, want := range map[string]string{"runtime_path": wrapperPath, "runtime_type": "oci", "runtime_root": "/run/runc"} {
			if v := lookup(m, append(h, key)...); v != want {
				t.Errorf("%s.%s = %v, want %s", strings.Join(h, "."), key, v, want)
			}
		}
		// Discovery must read the handler's runtime root.
		root := lookup(m, append(h, "runtime_root")...)
		if !slices.ContainsFunc(discovery.DefaultSources(), func(s discovery.Source) bool {
			return s.Format == discovery.RuncState && s.Dir == root
		}) {
			t.Errorf("runtime_root %v is not a runc state directory of discovery.DefaultSources()", root)
		}
	})
	t.Run("podman", func(t *testing.T) {
		m := readTOML(t, "runtimes/podman-containers.conf")
		if v := lookup(m, "engine", "runtime"); v != "lxmount" {
			t.Errorf("engine.runtime = %v, want lxmount", v)
		}
		if v, _ := lookup(m, "engine", "runtimes", "lxmount").([]any); len(v) != 1 || v[0] != wrapperPath {
			t.Errorf("engine.runtimes.lxmount = %v, want [%s]", v, wrapperPath)
		}
	})
}

// TestRuntimeSnippetContainerd has containerd 1.6 read the snippet
// (`containerd config dump`, root and state moved to the test's directory)
// and checks that the CRI runtime's options carry BinaryName.
func TestRuntimeSnippetContainerd(t *testing.T) {
	testenv.RequireCommands(t, testenv.ContainerdPath)
	dir := t.TempDir()
	conf := strings.Replace(readFile(t, "runtimes/containerd-config.toml"), "version = 2\n",
		fmt.Sprintf("version = 2\nroot = %q\nstate = %q\n", filepath.Join(dir, "root"), filepath.Join(dir, "state")), 1)
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(testenv.ContainerdPath, "--config", path, "config", "dump").CombinedOutput()
	if err != nil {
		t.Fatalf("containerd config dump: %v\n%s", err, out)
	}
	var dump map[string]any
	if _, err := toml.Decode(string(out), &dump); err != nil {
		t.Fatalf("containerd config dump: %v\n%s", err, out)
	}
	opts := lookup(dump, "plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes", "runc", "options", "BinaryName")
	if opts != wrapperPath {
		t.Errorf("containerd's merged config: runc options BinaryName = %v, want %s\n%s", opts, wrapperPath, out)
	}
}

// writeStandIn writes an executable at path standing in for lxmount-runc:
// it appends its arguments as one line to logPath, drops the
// --lxmount-config option as lxmount-runc does, and execs runc.
func writeStandIn(t *testing.T, path, logPath string) {
	t.Helper()
	runc, err := exec.LookPath("runc")
	if err != nil {
		testenv.SkipOrFail(t, "needs runc: %v", err)
	}
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$*\" >> %s\nif [ \"$1\" = --lxmount-config ]; then shift 2; fi\nexec %s \"$@\"\n", logPath, runc)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// createCall returns the logged argument line of the runtime's create.
func createCall(t *testing.T, logPath string) string {
	t.Helper()
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatalf("the runtime was not called: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if slices.Contains(strings.Fields(l), "create") {
			return l
		}
	}
	t.Fatalf("no create among the runtime's calls:\n%s", b)
	return ""
}

// TestRuntimeSnippetDocker starts Docker 20.10 with the snippet's runtimes
// and default runtime (the path pointed at a stand-in that logs its
// arguments and runs runc) and checks that dockerd takes lxmount as its
// default runtime and runs a container through it with runtimeArgs first,
// where lxmount-runc expects its own options.
func TestRuntimeSnippetDocker(t *testing.T) {
	snippet := readDockerSnippet(t)
	dir := t.TempDir()
	standIn, log := filepath.Join(dir, "lxmount-runc"), filepath.Join(dir, "argv.log")
	writeStandIn(t, standIn, log)
	opts := testenv.DockerdOptions{Runtimes: map[string]testenv.DockerRuntime{}, DefaultRuntime: snippet.DefaultRuntime}
	for name, rt := range snippet.Runtimes {
		// dockerd 20.10 refuses to start when a runtime's path does not exist.
		opts.Runtimes[name] = testenv.DockerRuntime{Path: strings.Replace(rt.Path, wrapperPath, standIn, 1), Args: rt.RuntimeArgs}
	}
	d := testenv.StartDockerd(t, opts)
	if out, _, err := d.Docker("info", "--format", "{{.DefaultRuntime}}"); err != nil || strings.TrimSpace(out) != "lxmount" {
		t.Fatalf("docker info: default runtime %q (%v), want lxmount", out, err)
	}
	d.ImportRootfs(t, testenv.BusyboxRootfs(t), "lxmount-test/busybox:snippet")
	if _, stderr, err := d.Docker("run", "--rm", "--network", "none", "lxmount-test/busybox:snippet", "/bin/true"); err != nil {
		t.Fatalf("docker run: %v\n%s", err, stderr)
	}
	want := strings.Join(snippet.Runtimes["lxmount"].RuntimeArgs, " ") + " --root "
	if call := createCall(t, log); !strings.HasPrefix(call, want) {
		t.Errorf("create called as %q, want it to start with %q", call, want)
	}
}

// TestRuntimeSnippetPodman has Podman 4.3 read the snippet as its
// containers.conf (the runtime's path pointed at a stand-in that logs its
// arguments and runs runc; file locks and cgroupfs added, every directory
// private to the test) and run a container: `podman info` names the
// runtime lxmount, and create goes through it.
func TestRuntimeSnippetPodman(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommands(t, "podman", "conmon")
	rootfs := testenv.BusyboxRootfs(t)
	tmp := shortTempDir(t)
	standIn, log := filepath.Join(tmp, "lxmount-runc"), filepath.Join(tmp, "argv.log")
	writeStandIn(t, standIn, log)
	cgParent := "/lxmount-test-podconf-" + randomHex(t)
	t.Cleanup(func() {
		removeTestCgroup(t, cgParent)
		for _, m := range mountsUnder(t, tmp) {
			t.Errorf("cleanup: %s still mounted, detaching it", m)
			_ = syscall.Unmount(m, syscall.MNT_DETACH)
		}
	})
	conf := strings.ReplaceAll(readFile(t, "runtimes/podman-containers.conf"), wrapperPath, standIn)
	conf = strings.Replace(conf, "[engine]\n", "[engine]\nlock_type = \"file\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n", 1)
	confPath := filepath.Join(tmp, "containers.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	global := []string{
		"--root", filepath.Join(tmp, "root"), "--runroot", filepath.Join(tmp, "runroot"),
		"--tmpdir", filepath.Join(tmp, "tmp"), "--storage-driver", "vfs",
		"--hooks-dir", filepath.Join(tmp, "hooks.d"),
	}
	out, err := podman(confPath, global, "info", "--format", "{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Path}}")
	if err != nil {
		t.Fatalf("podman info: %v\n%s", err, out)
	}
	if got, want := strings.TrimSpace(out), "lxmount "+standIn; got != want {
		t.Errorf("podman info: runtime %q, want %q", got, want)
	}
	name := "lxmount-test-podconf-" + randomHex(t)
	t.Cleanup(func() {
		if out, err := podman(confPath, global, "rm", "--force", "--time", "0", name); err != nil && !strings.Contains(out, "no such container") {
			t.Errorf("podman cleanup: %v\n%s", err, out)
		}
	})
	if out, err := podman(confPath, global, "run", "--name", name, "--network", "none",
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
		"--cgroup-parent", cgParent, "--rootfs", rootfs, "/bin/true"); err != nil {
		t.Fatalf("podman run: %v\n%s", err, out)
	}
	if call := createCall(t, log); !strings.HasPrefix(call, "create --bundle ") {
		t.Errorf("create called as %q, want runc's own arguments (no global flags from Podman)", call)
	}
}
