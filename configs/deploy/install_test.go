package deploy_test

// `make install` and `make uninstall` into a DESTDIR: the tree, the paths
// substituted for PREFIX, an operator's lxmount.toml kept.

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/lxmount/lxmount/configs"
	"github.com/lxmount/lxmount/internal/testenv"
)

// installPrefix is the PREFIX the test installs with: not the default, so
// that a path left unsubstituted shows.
const installPrefix = "/opt/lxmount-test"

// makeTarget runs make with args in the repository root, with the go tool
// running this test, and returns its output.
func makeTarget(t *testing.T, args ...string) string {
	t.Helper()
	makeTool, err := exec.LookPath("make")
	if err != nil {
		testenv.SkipOrFail(t, "needs make: %v", err)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(makeTool, append([]string{"--no-print-directory", "GO=" + goTool}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// installedFiles returns the files (not directories) under root, relative
// to it, with their permission bits.
func installedFiles(t *testing.T, root string) map[string]fs.FileMode {
	t.Helper()
	files := map[string]fs.FileMode{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		files["/"+rel] = fi.Mode()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// ociHook is an oci-hooks(5) file, version 1.0.0.
type ociHook struct {
	Version string `json:"version"`
	Hook    struct {
		Path    string   `json:"path"`
		Args    []string `json:"args"`
		Env     []string `json:"env"`
		Timeout *int     `json:"timeout"`
	} `json:"hook"`
	When struct {
		Always        *bool             `json:"always"`
		Annotations   map[string]string `json:"annotations"`
		Commands      []string          `json:"commands"`
		HasBindMounts *bool             `json:"hasBindMounts"`
	} `json:"when"`
	Stages []string `json:"stages"`
}

// parseOCIHook parses an oci-hooks file strictly: an unknown key is an
// error, as it would be ignored by podman and CRI-O.
func parseOCIHook(t *testing.T, path string) ociHook {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var h ociHook
	if err := dec.Decode(&h); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return h
}

// checkOCIHook checks the hook file's fields for the lxmount binary bin.
func checkOCIHook(t *testing.T, where string, h ociHook, bin string) {
	t.Helper()
	if h.Version != "1.0.0" {
		t.Errorf("%s: version %q, want 1.0.0", where, h.Version)
	}
	if h.Hook.Path != bin {
		t.Errorf("%s: hook.path %q, want %q", where, h.Hook.Path, bin)
	}
	if want := []string{"lxmount", "oci-hook"}; !slices.Equal(h.Hook.Args, want) {
		t.Errorf("%s: hook.args %q, want %q", where, h.Hook.Args, want)
	}
	// As lxmount-runc's hook entry: the runtime runs a hook with only the
	// entry's environment, and a daemon the hook starts runs fusermount3
	// from PATH; the runtime's timeout stays above the longest hook_timeout
	// lxmount.toml accepts (30 s, configs/daemon.go), so it never kills a
	// hook within its own bound (hook_failure decides then).
	if want := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}; !slices.Equal(h.Hook.Env, want) {
		t.Errorf("%s: hook.env %q, want %q", where, h.Hook.Env, want)
	}
	if h.Hook.Timeout == nil || *h.Hook.Timeout <= 30 {
		t.Errorf("%s: hook.timeout %v, want more than 30 (s)", where, h.Hook.Timeout)
	}
	if h.When.Always == nil || !*h.When.Always {
		t.Errorf("%s: when.always is not true", where)
	}
	if want := []string{"createRuntime"}; !slices.Equal(h.Stages, want) {
		t.Errorf("%s: stages %q, want %q", where, h.Stages, want)
	}
}

func TestOCIHookFile(t *testing.T) {
	checkOCIHook(t, "oci-hooks.d/lxmount.json", parseOCIHook(t, "oci-hooks.d/lxmount.json"), binPath)
}

func TestMakeInstall(t *testing.T) {
	dest := t.TempDir()
	vars := []string{"DESTDIR=" + dest, "PREFIX=" + installPrefix}
	makeTarget(t, append([]string{"install"}, vars...)...)

	bin := installPrefix + "/bin"
	units := installPrefix + "/lib/systemd/system"
	hooks := "/usr/share/containers/oci/hooks.d"
	want := map[string]fs.FileMode{
		bin + "/lxmount":                                0o755,
		bin + "/lxmount-runc":                           0o755,
		units + "/lxmount.service":                      0o644,
		units + "/lxmount-reconcile.service":            0o644,
		units + "/lxmount-reconcile.timer":              0o644,
		hooks + "/lxmount.json":                         0o644,
		"/etc/lxmount/lxmount.toml":                     0o644,
		"/etc/lxmount/policy.d/99-default.toml.example": 0o644,
	}
	got := installedFiles(t, dest)
	for path, mode := range want {
		if m, ok := got[path]; !ok {
			t.Errorf("make install: no %s", path)
		} else if m.Perm() != mode {
			t.Errorf("make install: %s mode %v, want %v", path, m.Perm(), mode)
		}
	}
	for path := range got {
		if _, ok := want[path]; !ok {
			t.Errorf("make install: unexpected %s", path)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// The binaries run.
	for _, b := range []string{"lxmount", "lxmount-runc"} {
		if _, err := os.Stat(filepath.Join(dest, bin, b)); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(filepath.Join(dest, bin, "lxmount"), "version").CombinedOutput(); err != nil {
		t.Errorf("installed lxmount version: %v\n%s", err, out)
	}

	// Every path names the installed binary; none names DESTDIR.
	for path := range want {
		if strings.HasPrefix(path, bin+"/") {
			continue
		}
		text := readFile(t, filepath.Join(dest, path))
		if strings.Contains(text, dest) {
			t.Errorf("%s names DESTDIR %s", path, dest)
		}
		if strings.Contains(text, binPath) {
			t.Errorf("%s still names %s, not PREFIX's %s/lxmount", path, binPath, bin)
		}
	}
	unitWant := map[string]map[string]string{
		"lxmount.service":           {"ExecStart": bin + "/lxmount daemon"},
		"lxmount-reconcile.service": {"ExecStart": bin + "/lxmount reconcile", "ExecCondition": "/bin/sh -c '" + bin + "/lxmount status >/dev/null'"},
		"lxmount-reconcile.timer":   {},
	}
	for name, keys := range unitWant {
		installed := readFile(t, filepath.Join(dest, units, name))
		u, err := parseUnit(name, installed)
		if err != nil {
			t.Fatal(err)
		}
		for key, v := range keys {
			if got, _ := u.get("Service", key); got != v {
				t.Errorf("installed %s: %s=%q, want %q", name, key, got, v)
			}
		}
		// Nothing else changed.
		if src := strings.ReplaceAll(readFile(t, name), binPath, bin+"/lxmount"); installed != src {
			t.Errorf("installed %s differs from configs/deploy/%s beyond the binary's path", name, name)
		}
	}
	checkOCIHook(t, "installed lxmount.json", parseOCIHook(t, filepath.Join(dest, hooks, "lxmount.json")), bin+"/lxmount")

	// The configuration loads; the policy example is not loaded, so the
	// built-in default applies.
	conf := filepath.Join(dest, "etc/lxmount/lxmount.toml")
	if readFile(t, conf) != readFile(t, "../examples/lxmount.toml") {
		t.Errorf("installed lxmount.toml differs from configs/examples/lxmount.toml")
	}
	if readFile(t, filepath.Join(dest, "etc/lxmount/policy.d/99-default.toml.example")) != readFile(t, "../examples/policy.d/00-default.toml") {
		t.Errorf("installed 99-default.toml.example differs from configs/examples/policy.d/00-default.toml")
	}
	set, err := configs.Load(conf)
	if err != nil {
		t.Fatalf("installed lxmount.toml: %v", err)
	}
	if len(set.Files) != 0 || len(set.Policies) != 1 || set.Policies[0].Name != "default" {
		t.Errorf("installed configuration: policy files %q, policies %d; want none and the built-in default", set.Files, len(set.Policies))
	}

	// A second install keeps the operator's lxmount.toml.
	edited := readFile(t, conf) + "log_level = \"debug\"\n"
	if err := os.WriteFile(conf, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	out := makeTarget(t, append([]string{"install"}, vars...)...)
	if readFile(t, conf) != edited {
		t.Errorf("second make install replaced the edited lxmount.toml; output:\n%s", out)
	}
	if !strings.Contains(out, "keeping "+conf) {
		t.Errorf("second make install does not say it keeps %s:\n%s", conf, out)
	}

	// Uninstall removes everything else; the edited lxmount.toml stays.
	out = makeTarget(t, append([]string{"uninstall"}, vars...)...)
	got = installedFiles(t, dest)
	if _, ok := got["/etc/lxmount/lxmount.toml"]; !ok || len(got) != 1 {
		t.Errorf("after make uninstall: files %v, want only the edited /etc/lxmount/lxmount.toml; output:\n%s", got, out)
	}
	if readFile(t, conf) != edited {
		t.Errorf("make uninstall changed the edited lxmount.toml")
	}

	// An install without edits is undone completely, /etc/lxmount included.
	if err := os.Remove(conf); err != nil {
		t.Fatal(err)
	}
	makeTarget(t, append([]string{"install"}, vars...)...)
	out = makeTarget(t, append([]string{"uninstall"}, vars...)...)
	if got := installedFiles(t, dest); len(got) != 0 {
		t.Errorf("install then uninstall left %v; output:\n%s", got, out)
	}
	if _, err := os.Stat(filepath.Join(dest, "etc/lxmount")); !os.IsNotExist(err) {
		t.Errorf("install then uninstall left /etc/lxmount: %v", err)
	}
}
