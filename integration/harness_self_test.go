package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestHarness uses each helper of harness_test.go once and checks that what the
// lxmount tests rely on holds: the process sits in the cgroup with the limits, it
// has its own PID namespace and /proc, the host's /proc is untouched, and nothing
// is left behind afterwards.
func TestHarness(t *testing.T) {
	requireRoot(t)
	const memLimit = 256 << 20 // 268435456
	var cgroupPaths []string   // every cgroup the subtests made, checked at the end

	t.Run("namespaced", func(t *testing.T) {
		hostProcBefore := procMounts(t)
		cg := newCgroupV1(t, "harness", memLimit, 150000, 100000)
		cgroupPaths = append(cgroupPaths, cg.Path)
		assertFile(t, filepath.Join(cg.Dirs["memory"], "memory.limit_in_bytes"), "268435456")
		assertFile(t, filepath.Join(cg.Dirs["cpu"], "cpu.cfs_quota_us"), "150000")
		assertFile(t, filepath.Join(cg.Dirs["cpu"], "cpu.cfs_period_us"), "100000")

		p := startNamespaced(t, cg)
		out, err := p.Exec(t, "/bin/sh", "-c", "cat /proc/1/comm; grep :memory: /proc/self/cgroup")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 || lines[0] != "sleep" {
			t.Errorf("inside: /proc/1/comm and memory cgroup = %q, want sleep (the init) first", out)
		}
		if want := ":memory:" + cg.Path; len(lines) < 2 || !strings.HasSuffix(lines[len(lines)-1], want) {
			t.Errorf("Exec'd process: /proc/self/cgroup memory line = %q, want suffix %q", lines[len(lines)-1], want)
		}
		hostCgroup, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/cgroup")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(hostCgroup), ":memory:"+cg.Path+"\n") {
			t.Errorf("init (host pid %d) /proc/<pid>/cgroup = %q, want memory:%s", p.PID, hostCgroup, cg.Path)
		}
		if after := procMounts(t); after != hostProcBefore {
			t.Errorf("host /proc mounts changed: before %d, after %d", hostProcBefore, after)
		}
	})

	t.Run("runc", func(t *testing.T) {
		rootfs := buildBusyboxRootfs(t)
		c := startRunc(t, rootfs, "harness", memLimit, 150000, 100000, true)
		cgroupPaths = append(cgroupPaths, c.CgroupPath)

		out, err := c.Exec(t, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(out) != "268435456" {
			t.Errorf("inside: memory.limit_in_bytes = %q, want 268435456", out)
		}
		assertFile(t, filepath.Join(cgroupV1Root, "memory", c.CgroupPath, "memory.limit_in_bytes"), "268435456")
		assertFile(t, filepath.Join(cgroupV1Root, "cpu", c.CgroupPath, "cpu.cfs_quota_us"), "150000")

		if out, err := c.Exec(t, "cat", "/proc/1/comm"); err != nil || strings.TrimSpace(out) != "sleep" {
			t.Errorf("inside: /proc/1/comm = %q, %v; want sleep", out, err)
		}
		hostCgroup, err := os.ReadFile("/proc/" + strconv.Itoa(c.PID) + "/cgroup")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(hostCgroup), ":memory:"+c.CgroupPath+"\n") {
			t.Errorf("init (host pid %d) /proc/<pid>/cgroup = %q, want memory:%s", c.PID, hostCgroup, c.CgroupPath)
		}

		// procps free from the host's /usr (bindHostUsr), not busybox's.
		out, err = c.Exec(t, "/usr/bin/free", "-k")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "Mem:") {
			t.Errorf("inside: free -k = %q, want a Mem: line", out)
		}
	})

	// The subtests' cleanups have run: none of their cgroups may be left.
	for _, p := range cgroupPaths {
		left, err := filepath.Glob(filepath.Join(cgroupV1Root, "*", p))
		if err != nil {
			t.Fatal(err)
		}
		if len(left) > 0 {
			t.Errorf("cgroup directories left behind: %v", left)
		}
	}
}

// assertFile checks that path holds want (ignoring surrounding whitespace).
func assertFile(t *testing.T, path, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
		return
	}
	if got := strings.TrimSpace(string(b)); got != want {
		t.Errorf("%s = %q, want %q", path, got, want)
	}
}

// procMounts counts the mounts at /proc in the test's (the host's) mount namespace.
func procMounts(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		// 36 35 98:0 / /proc rw,... : field 5 is the mount point.
		if f := strings.Fields(line); len(f) > 4 && f[4] == "/proc" {
			n++
		}
	}
	return n
}
