package configs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lxmount/lxmount/sources"
)

// seedTOML adds the shipped examples and the scanner's tricky documents
// to f's corpus; testdata/fuzz/<name>/ holds what fuzzing found.
func seedTOML(f *testing.F) {
	files, _ := filepath.Glob("examples/*.toml")
	more, _ := filepath.Glob("examples/policy.d/*.toml")
	for _, p := range append(files, more...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"\x04", "", "[[policy]]\nname = \"a\"\n[policy.match]\ncgroup = [\"/x\"]\n",
		"a = { b = 1, c.d = { e = 2 } }\n", "a = \"\"\"x\"\"\"\"\"\nb = '''y'''''\n",
		"[[policy]]\r\nname = \"a\"\r\n[policy.files]\r\npressure = false\r\n",
		"socket = \"/run/x.sock\"\nreconcile_interval = \"0s\"\nevents = false\n",
	} {
		f.Add([]byte(s))
	}
}

// checkErrors asserts that every problem in err is positioned inside data
// and that none is a recovered panic.
func checkErrors(t *testing.T, file string, data []byte, err error) {
	t.Helper()
	if errors.Is(err, errParserPanic) {
		t.Fatalf("parser panicked on %q: %v", data, err)
	}
	lines := strings.Count(string(data), "\n") + 1
	for _, e := range flatten(err) {
		var pe *Error
		if !errors.As(e, &pe) {
			continue // an I/O or decoder error without a position
		}
		if pe.File != file || pe.Line < 0 || pe.Line > lines || pe.Col < 0 || pe.Msg == "" {
			t.Fatalf("bad error position %+v for a %d-line document %q", pe, lines, data)
		}
	}
}

// flatten lists the errors errors.Join put together.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// FuzzParsePolicies: no policy file panics the loader; an accepted one
// yields valid, unique names, files in sources.Files() order with
// Loadavg consistent, and parses the same way twice.
func FuzzParsePolicies(f *testing.F) {
	seedTOML(f)
	var known []string
	for _, file := range sources.Files() {
		known = append(known, file.Name)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := ParsePolicies("p.toml", data)
		if err != nil {
			checkErrors(t, "p.toml", data, err)
			return
		}
		seen := map[string]bool{}
		for _, p := range ps {
			if !validName(p.Name) || seen[p.Name] {
				t.Fatalf("bad or duplicate name %q", p.Name)
			}
			seen[p.Name] = true
			last := -1
			for _, name := range p.Files {
				i := slices.Index(known, name)
				if i <= last {
					t.Fatalf("policy %s: files %v not a subsequence of %v", p.Name, p.Files, known)
				}
				last = i
			}
			if p.Loadavg != slices.Contains(p.Files, "loadavg") {
				t.Fatalf("policy %s: Loadavg %t with files %v", p.Name, p.Loadavg, p.Files)
			}
		}
		again, err := ParsePolicies("p.toml", data)
		if err != nil || len(again) != len(ps) {
			t.Fatalf("second parse differs: %v", err)
		}
		for i := range ps {
			if again[i].Name != ps[i].Name || again[i].Fingerprint() != ps[i].Fingerprint() || again[i].Source != ps[i].Source {
				t.Fatalf("second parse differs at %d", i)
			}
		}
	})
}

// FuzzParseDaemon: no lxmount.toml panics the loader; accepted settings
// are within their documented bounds.
func FuzzParseDaemon(f *testing.F) {
	seedTOML(f)
	const file = "/etc/lxmount/lxmount.toml"
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := parseDaemon(file, data)
		if err != nil {
			checkErrors(t, file, data, err)
			return
		}
		switch {
		case !filepath.IsAbs(d.Socket) || !filepath.IsAbs(d.StateDir) || !filepath.IsAbs(d.PolicyDir):
			t.Fatalf("relative path in %+v", d)
		case d.ReconcileInterval < 0 || d.ReconcileInterval > 0 && d.ReconcileInterval < minReconcileInterval:
			t.Fatalf("reconcile_interval %s", d.ReconcileInterval)
		case d.HookTimeout <= 0 || d.HookTimeout > maxHookTimeout:
			t.Fatalf("hook_timeout %s", d.HookTimeout)
		case !slices.Contains(logLevels, d.LogLevel):
			t.Fatalf("log_level %q", d.LogLevel)
		case d.HookFailure != HookFailureStart && d.HookFailure != HookFailureRefuse:
			t.Fatalf("hook_failure %q", d.HookFailure)
		}
	})
}
