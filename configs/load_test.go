package configs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeFiles creates files (path relative to dir → content) below dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func names(ps []*Policy) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func TestLoadMissingConfigAndPolicyDir(t *testing.T) {
	dir := t.TempDir()
	s, err := Load(filepath.Join(dir, "lxmount.toml"))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultDaemon()
	want.PolicyDir = filepath.Join(dir, "policy.d")
	if s.Daemon != want {
		t.Errorf("Daemon = %+v, want %+v", s.Daemon, want)
	}
	if s.ConfigFile != "" || len(s.Files) != 0 {
		t.Errorf("ConfigFile = %q, Files = %v; want none", s.ConfigFile, s.Files)
	}
	if len(s.Policies) != 1 || s.Policies[0].Source != "embedded" {
		t.Errorf("Policies = %v, want the embedded default", names(s.Policies))
	}
}

func TestLoadEmbeddedDefaultWhenNoPolicyFile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"lxmount.toml":             `log_level = "warn"`,
		"policy.d/README":          "not a policy",
		"policy.d/.10-x.toml":      "not toml at all [",
		"policy.d/old.toml.bak":    "[[policy]]\nname = \"old\"\n",
		"policy.d/sub.toml/x.toml": "[[policy]]\nname = \"nested\"\n",
	})
	s, err := Load(filepath.Join(dir, "lxmount.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if s.ConfigFile != filepath.Join(dir, "lxmount.toml") || s.Daemon.LogLevel != "warn" {
		t.Errorf("ConfigFile = %q, LogLevel = %q", s.ConfigFile, s.Daemon.LogLevel)
	}
	if !slices.Equal(names(s.Policies), []string{"default"}) || len(s.Files) != 0 {
		t.Errorf("Policies = %v, Files = %v; want only the embedded default", names(s.Policies), s.Files)
	}
}

func TestLoadPolicyFilesInNameOrder(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"policy.d/20-b.toml": "[[policy]]\nname = \"b1\"\n[[policy]]\nname = \"b2\"\n",
		"policy.d/10-a.toml": "[[policy]]\nname = \"a\"\n",
		"policy.d/9-c.toml":  "[[policy]]\nname = \"c\"\n",
	})
	s, err := Load(filepath.Join(dir, "lxmount.toml"))
	if err != nil {
		t.Fatal(err)
	}
	pd := filepath.Join(dir, "policy.d")
	wantFiles := []string{filepath.Join(pd, "10-a.toml"), filepath.Join(pd, "20-b.toml"), filepath.Join(pd, "9-c.toml")}
	if !slices.Equal(s.Files, wantFiles) {
		t.Errorf("Files = %v, want %v", s.Files, wantFiles)
	}
	if got := names(s.Policies); !slices.Equal(got, []string{"a", "b1", "b2", "c"}) {
		t.Errorf("Policies = %v; the embedded default must not be added", got)
	}
	if s.Policies[2].Source != filepath.Join(pd, "20-b.toml")+":3" {
		t.Errorf("Source = %q", s.Policies[2].Source)
	}
}

func TestLoadPolicyDirFromConfig(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"etc/lxmount.toml":    `policy_dir = "../policies"`,
		"policies/mine.toml":  "[[policy]]\nname = \"mine\"\n",
		"etc/policy.d/x.toml": "[[policy]]\nname = \"ignored\"\n",
	})
	s, err := Load(filepath.Join(dir, "etc", "lxmount.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Daemon.PolicyDir != filepath.Join(dir, "policies") || !slices.Equal(names(s.Policies), []string{"mine"}) {
		t.Errorf("PolicyDir = %q, Policies = %v", s.Daemon.PolicyDir, names(s.Policies))
	}
}

func TestLoadBadFileAmongGoodOnes(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"policy.d/10-good.toml": "[[policy]]\nname = \"good\"\n",
		"policy.d/20-web.toml":  "[[policy]]\nname = \"web\"\n[policy.files]\nmemifo = true\n",
		"policy.d/30-good.toml": "[[policy]]\nname = \"also-good\"\n",
	})
	s, err := Load(filepath.Join(dir, "lxmount.toml"))
	if err == nil {
		t.Fatalf("no error; policies %v", names(s.Policies))
	}
	if s != nil {
		t.Error("a Set was returned with the error")
	}
	bad := filepath.Join(dir, "policy.d", "20-web.toml")
	if !strings.HasPrefix(err.Error(), bad+":4:1: unknown file \"memifo\" in [policy.files] (valid: meminfo, ") ||
		strings.Contains(err.Error(), "good.toml") {
		t.Errorf("error does not name exactly the bad file:\n%v", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.File != bad || e.Line != 4 || e.Col != 1 {
		t.Errorf("errors.As gives %+v", e)
	}
}

func TestLoadReportsEveryBadFile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"policy.d/a.toml": "[[policy]]\nname = \"\"\n",
		"policy.d/b.toml": "[[policy]\nname = \"x\"\n",
	})
	_, err := Load(filepath.Join(dir, "lxmount.toml"))
	want := filepath.Join(dir, "policy.d", "a.toml") + ":2:1: policy name is empty\n" +
		filepath.Join(dir, "policy.d", "b.toml") + ":1:9: expected end of table array name delimiter ']', but got '\\n' instead"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
}

func TestLoadDuplicateNameAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"policy.d/10-a.toml": "# web\n[[policy]]\nname = \"web\"\n",
		"policy.d/20-b.toml": "[[policy]]\nname = \"other\"\n\n[[policy]]\nname = \"web\"\n",
	})
	_, err := Load(filepath.Join(dir, "lxmount.toml"))
	pd := filepath.Join(dir, "policy.d")
	want := filepath.Join(pd, "20-b.toml") + `:5:1: duplicate policy name "web" (first defined at ` + filepath.Join(pd, "10-a.toml") + `:2)`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"bad.toml": "log_level = \"loud\"\n"})
	_, err := Load(filepath.Join(dir, "bad.toml"))
	want := filepath.Join(dir, "bad.toml") + `:1:1: unknown log_level "loud" (valid: debug, info, warn, error)`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
	if _, err := Load(dir); err == nil || !strings.HasPrefix(err.Error(), "load config: read "+dir) {
		t.Errorf("config path is a directory: got %v", err)
	}
}

func TestLoadPolicies(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.toml": "[[policy]]\nname = \"a\"\n",
		"b.toml": "[[policy]]\nname = \"b\"\n",
	})
	ps, err := LoadPolicies(filepath.Join(dir, "b.toml"), filepath.Join(dir, "a.toml"))
	if err != nil || !slices.Equal(names(ps), []string{"b", "a"}) {
		t.Errorf("got %v, %v; want [b a] in the order given", names(ps), err)
	}
	_, err = LoadPolicies(filepath.Join(dir, "a.toml"), filepath.Join(dir, "missing.toml"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.toml") {
		t.Errorf("missing file: got %v", err)
	}
}

// TestShippedExamples loads every .toml file shipped under configs/ and
// checks it parses and validates. deploy/runtimes holds container engines'
// configuration (containerd's config.toml), not lxmount's: its tests are in
// configs/deploy.
func TestShippedExamples(t *testing.T) {
	var n int
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && path == filepath.Join("deploy", "runtimes") {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".toml") {
			return err
		}
		n++
		t.Run(path, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Base(path) == "lxmount.toml" {
				if _, err := parseDaemon(path, data); err != nil {
					t.Error(err)
				}
				return
			}
			ps, err := ParsePolicies(path, data)
			if err != nil {
				t.Error(err)
			}
			if len(ps) == 0 {
				t.Error("defines no policy")
			}
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Errorf("found %d shipped .toml files, want at least 5", n)
	}
}

// TestShippedDefaultIsTheEmbeddedOne checks that the example 00-default.toml
// says what DefaultPolicy does, and that the example lxmount.toml states
// the defaults.
func TestShippedDefaultIsTheEmbeddedOne(t *testing.T) {
	s, err := Load(filepath.Join("examples", "lxmount.toml"))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultDaemon()
	want.PolicyDir = filepath.Join("examples", "policy.d")
	if s.Daemon != want {
		t.Errorf("examples/lxmount.toml: %+v, want the defaults %+v", s.Daemon, want)
	}
	if len(s.Policies) != 1 || s.Policies[0].Source == "embedded" {
		t.Fatalf("Policies = %v, want the one from examples/policy.d", names(s.Policies))
	}
	p, def := s.Policies[0], DefaultPolicy()
	if p.Name != def.Name || p.Fingerprint() != def.Fingerprint() || p.Loadavg != def.Loadavg {
		t.Errorf("00-default.toml: %s %s, embedded: %s %s", p.Name, p.Fingerprint(), def.Name, def.Fingerprint())
	}
	if !p.matches(&Container{}) || !p.matches(&Container{CgroupPath: "/a/b", Runtime: "runc"}) {
		t.Error("00-default.toml does not match everything")
	}
}
