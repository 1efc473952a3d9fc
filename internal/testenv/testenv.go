// Package testenv holds what the project's tests share: the preconditions
// (a test that needs root or a program skips without it, except under
// CI=true, where every test must really run and a skip is a failure), the
// busybox root filesystem of test containers, and cgroup clean-up, which
// the benchmark harness (bench) uses too.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// SkipOrFail skips t because a precondition is missing; with CI=true in
// the environment it fails t instead, so a CI machine that lost a
// dependency goes red rather than silently skipping.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true, not skipping: "+format, args...)
	}
	t.Skipf(format, args...)
}

// RequireRoot skips (fails under CI=true) unless the test runs as root,
// which cgroups, namespaces, mounts and FUSE need.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "needs root (euid %d)", os.Geteuid())
	}
}

// RequireCommands skips (fails under CI=true) unless every named program
// is on PATH; `make deps` installs them.
func RequireCommands(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			SkipOrFail(t, "needs %s on PATH (run `make deps`): %v", name, err)
		}
	}
}
