package integration

// sysinfo(2) through Podman (issue 14's tests): Podman runs a runtime, so
// lxmount-runc is its --runtime (a one-line script carries the wrapper's
// options, as --runtime takes a path); the wrapper adds the hook and
// merges the notify rule into Podman's default seccomp profile
// (containers-common's seccomp.json).

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lxmount/lxmount/internal/testenv"
)

func TestSysinfoPodman(t *testing.T) {
	requireEngineHost(t)
	in := newHookInstance(t, "")
	script := filepath.Join(t.TempDir(), "lxmount-runc")
	if err := os.WriteFile(script, []byte(fmt.Sprintf("#!/bin/sh\nexec %s --lxmount-config %s --lxmount-runtime %s \"$@\"\n", wrapperBin, in.config, testenv.RuncPath)), 0o755); err != nil {
		t.Fatal(err)
	}
	p := testenv.Podman(t, testenv.PodmanOptions{Runtime: script})
	in.writePolicy("10-test.toml", fmt.Sprintf("[[policy]]\nname = \"test\"\n[policy.match]\ncgroup = [%q]\n", p.CgroupParent+"/*"))
	rootfs := buildBusyboxRootfs(t)
	installProbe(t, rootfs)
	p.ImportRootfs(t, rootfs, engineImage)
	in.startDaemon() // as a service would (see TestPodmanHooksFile)

	run := func(args ...string) string {
		t.Helper()
		argv := append([]string{"run", "--rm", "--network", "none", "--cgroup-parent", p.CgroupParent, "-m", "128m", "--cpus", "1", engineImage}, args...)
		out, stderr, err := p.Run(argv...)
		if err != nil {
			t.Fatalf("podman %v: %v\nstderr: %s\nlxmount log:\n%s\nholder log:\n%s", argv, err, stderr, in.log(), holderLog(in))
		}
		return out
	}
	out := run("free")
	t.Logf("free:\n%s", out)
	var total, used, free uint64
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 4 && f[0] == "Mem:" {
			total, _ = strconv.ParseUint(f[1], 10, 64)
			used, _ = strconv.ParseUint(f[2], 10, 64)
			free, _ = strconv.ParseUint(f[3], 10, 64)
		}
	}
	if total != 131072 || used == 0 || free == 0 || used+free > total {
		t.Errorf("free: total %d used %d free %d, want total 131072 and used+free within it", total, used, free)
	}
	out = run(probePath, "once")
	t.Logf("probe:\n%s", firstLines(out, 4))
	parseProbe(t, out).wantAgrees(t, 128<<20)
	if a := in.status().Daemon.Hooks.Attached; a != 2 {
		t.Errorf("hook attached %d containers, want 2", a)
	}
}
