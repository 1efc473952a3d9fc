package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// CrunPath is Debian's crun.
const CrunPath = "/usr/bin/crun"

// RuncPath is Debian's runc.
const RuncPath = "/usr/bin/runc"

// unifiedMount is the cgroup2 mount of a hybrid host.
const unifiedMount = "/sys/fs/cgroup/unified"

// noUnifiedScript runs "$@" in the private mount namespace `unshare -m`
// made, after unmounting the cgroup2 mount there. crun 1.8 refuses a hybrid
// host whose cgroup2 mount has controllers ("cgroups in hybrid mode not
// supported, drop all controllers from cgroupv2"; here hugetlb is on v2);
// without the mount it sees a pure v1 host and uses the v1 hierarchies,
// which are the host's own, so its limits are real. The host's mounts are
// untouched: / is made recursively private first, so the unmount does not
// propagate. Where the mount is absent (a pure v1 or pure v2 host) it runs
// "$@" unchanged.
const noUnifiedScript = `mount --make-rprivate / || exit 125
if mountpoint -q ` + unifiedMount + `; then umount ` + unifiedMount + ` || exit 125; fi
exec "$@"`

// NoUnifiedCommand returns a command that runs name args in a new private
// mount namespace without the host's cgroup2 mount (noUnifiedScript), the
// way crun 1.8 runs on this project's hybrid hosts:
//
//	cmd := testenv.NoUnifiedCommand(testenv.CrunPath, "run", "--bundle", b, id)
//
// Everything the command starts (a container's init, its mount namespace)
// inherits that namespace, not the host's.
func NoUnifiedCommand(name string, args ...string) *exec.Cmd {
	return exec.Command("unshare", append([]string{"-m", "--propagation", "private", "sh", "-c", noUnifiedScript, "nounified", name}, args...)...)
}

// WriteNoUnifiedWrapper writes an executable script at path that runs
// target with its arguments through NoUnifiedCommand's namespace: an OCI
// runtime to give docker (daemon.json "runtimes"), `ctr run --runc-binary`
// or `podman --runtime` when target is crun. Each invocation of the runtime
// (create, start, state, kill, delete) gets a namespace of its own; they
// share only the runtime's state directory, which is on a real filesystem.
func WriteNoUnifiedWrapper(path, target string) error {
	script := "#!/bin/sh\n" +
		"# crun on a hybrid cgroup host: see lxmount internal/testenv/crun.go\n" +
		"exec unshare -m --propagation private sh -c " + shellQuote(noUnifiedScript) + " nounified " + shellQuote(target) + ` "$@"` + "\n"
	return os.WriteFile(path, []byte(script), 0o755)
}

// CrunWrapper writes a WriteNoUnifiedWrapper script for CrunPath under
// t.TempDir() and returns its path. Skips (fails under CI=true) without
// crun, unshare or mountpoint.
func CrunWrapper(t testing.TB) string {
	t.Helper()
	RequireCommands(t, CrunPath, "unshare", "mountpoint")
	path := filepath.Join(t.TempDir(), "crun-nounified")
	if err := WriteNoUnifiedWrapper(path, CrunPath); err != nil {
		t.Fatalf("crun wrapper: %v", err)
	}
	return path
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
