package integration

// cgroup v2 side of the test helpers: newCgroup makes a TestCgroup on whatever
// hierarchy the machine has, v1 controllers (newCgroupV1) or the unified cgroup2
// tree, so the same test runs on the v1 dev host and inside the pure-v2 VM of
// `make test-v2` (integration/v2vm/README.md). The rules of harness_test.go
// hold: groups are named lxmount-test-*, cleanups touch only what the helper
// made, and a missing precondition skips (fails under CI=true).

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

const (
	// cgroup2Root is where a cgroup v2 host mounts the unified hierarchy (the
	// same directory as cgroupV1Root, holding cgroup2 instead of one directory
	// per v1 controller).
	cgroup2Root = "/sys/fs/cgroup"
	// cgroup2SuperMagic is linux/magic.h CGROUP2_SUPER_MAGIC.
	cgroup2SuperMagic = 0x63677270
	// unifiedKey is the TestCgroup.Dirs key of a v2 group's single directory.
	unifiedKey = "unified"
	// cgroupModeEnv names the hierarchy the tests must find, "v1" or "v2", when
	// set: the v2 VM sets LXMOUNT_CGROUP=v2, so a VM that came up with v1 by
	// mistake fails instead of testing v1 again.
	cgroupModeEnv = "LXMOUNT_CGROUP"
)

// v2Controllers are the controllers a v2 TestCgroup must have: the root's
// cgroup.subtree_control has to enable them, or the group gets no memory.max
// and cpu.max.
var v2Controllers = []string{"memory", "cpu"}

// cgroupMode reports the machine's cgroup hierarchy: "v2" when cgroup2Root is
// a cgroup2 mount (a pure v2 host), "v1" when every controller in
// testControllers is a v1 hierarchy under cgroupV1Root (also on a hybrid host,
// whose cgroup2 tree at /sys/fs/cgroup/unified has no controllers), else "".
func cgroupMode() string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(cgroup2Root, &st); err == nil && st.Type == cgroup2SuperMagic {
		return "v2"
	}
	for _, ctrl := range testControllers {
		const cgroupSuperMagic = 0x27e0eb // linux/magic.h CGROUP_SUPER_MAGIC (v1)
		if err := syscall.Statfs(filepath.Join(cgroupV1Root, ctrl), &st); err != nil || st.Type != cgroupSuperMagic {
			return ""
		}
	}
	return "v1"
}

// requireCgroup skips (or fails under CI=true) unless the machine has cgroup
// v1 controllers (see requireCgroupV1) or a cgroup v2 hierarchy whose root
// enables v2Controllers for its children, and returns "v1" or "v2". When
// LXMOUNT_CGROUP is set, a different hierarchy fails the test outright.
func requireCgroup(t testing.TB) string {
	t.Helper()
	mode := cgroupMode()
	if want := os.Getenv(cgroupModeEnv); want != "" && want != mode {
		t.Fatalf("%s=%s but this machine's cgroup hierarchy is %q", cgroupModeEnv, want, mode)
	}
	switch mode {
	case "v1":
		requireCgroupV1(t)
	case "v2":
		f := filepath.Join(cgroup2Root, "cgroup.subtree_control")
		b, err := os.ReadFile(f)
		if err != nil {
			skipOrFail(t, "cgroup v2: %v", err)
		}
		enabled := strings.Fields(string(b))
		for _, ctrl := range v2Controllers {
			if !slices.Contains(enabled, ctrl) {
				skipOrFail(t, "cgroup v2: controller %s not enabled in %s (%q)", ctrl, f, b)
			}
		}
	default:
		skipOrFail(t, "needs cgroup v1 controllers under %s or cgroup2 mounted there", cgroupV1Root)
	}
	return mode
}

// newCgroup creates the cgroup /lxmount-test-<name>-<random> with the given
// limits on the machine's hierarchy. On a v1 host it is newCgroupV1. On a v2
// host it is one directory below cgroup2Root, recorded as Dirs["unified"],
// with memory.max = memLimit and cpu.max = "<cpuQuotaUs> <cpuPeriodUs>"; a
// value <= 0 leaves that part at the kernel default ("max", period 100000).
// Swap stays unlimited as on v1 (where memsw is left alone): see limitSwap.
//
// t.Cleanup is the same as newCgroupV1's: SIGKILL what is left in the group's
// cgroup.procs, wait for it to empty, rmdir. Skips (fails under CI=true)
// without root or a usable hierarchy (requireCgroup).
func newCgroup(t testing.TB, name string, memLimit int64, cpuQuotaUs, cpuPeriodUs int64) *TestCgroup {
	t.Helper()
	requireRoot(t)
	if requireCgroup(t) == "v1" {
		return newCgroupV1(t, name, memLimit, cpuQuotaUs, cpuPeriodUs)
	}

	cg := &TestCgroup{
		Path: "/lxmount-test-" + name + "-" + randomSuffix(t),
		Dirs: map[string]string{},
	}
	dir := filepath.Join(cgroup2Root, cg.Path)
	t.Cleanup(func() { removeCgroup(t, cg) })
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("create cgroup: %v", err)
	}
	cg.Dirs[unifiedKey] = dir

	if memLimit > 0 {
		writeCgroupFile(t, dir, "memory.max", strconv.FormatInt(memLimit, 10))
	}
	// cpu.max is "$MAX $PERIOD" (Documentation/admin-guide/cgroup-v2.rst);
	// writing only the period keeps the quota at "max".
	if cpuQuotaUs > 0 || cpuPeriodUs > 0 {
		quota, period := "max", "100000"
		if cpuQuotaUs > 0 {
			quota = strconv.FormatInt(cpuQuotaUs, 10)
		}
		if cpuPeriodUs > 0 {
			period = strconv.FormatInt(cpuPeriodUs, 10)
		}
		writeCgroupFile(t, dir, "cpu.max", quota+" "+period)
	}
	return cg
}

// isV2 reports whether cg is a cgroup v2 group (made by newCgroup on a v2 host).
func (cg *TestCgroup) isV2() bool {
	_, ok := cg.Dirs[unifiedKey]
	return ok
}

// limitSwap lets cg use at most swapBytes of swap on top of its memory limit:
// v2 memory.swap.max = swapBytes; v1 memory.memsw.limit_in_bytes =
// memory.limit_in_bytes + swapBytes (v1 limits RAM and swap together, so the
// group needs a memory limit first). Skips (fails under CI=true) when the
// kernel does not account swap per cgroup (no such file).
func limitSwap(t testing.TB, cg *TestCgroup, swapBytes int64) {
	t.Helper()
	if cg.isV2() {
		dir := cg.Dirs[unifiedKey]
		if _, err := os.Stat(filepath.Join(dir, "memory.swap.max")); err != nil {
			skipOrFail(t, "no swap accounting: %v", err)
		}
		writeCgroupFile(t, dir, "memory.swap.max", strconv.FormatInt(swapBytes, 10))
		return
	}
	dir := cg.Dirs["memory"]
	if _, err := os.Stat(filepath.Join(dir, "memory.memsw.limit_in_bytes")); err != nil {
		skipOrFail(t, "no swap accounting (swapaccount=1 missing?): %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "memory.limit_in_bytes"))
	if err != nil {
		t.Fatalf("limit swap: %v", err)
	}
	limit, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("limit swap: %s/memory.limit_in_bytes: %v", dir, err)
	}
	writeCgroupFile(t, dir, "memory.memsw.limit_in_bytes", strconv.FormatInt(limit+swapBytes, 10))
}

// cgroupLine returns the line that /proc/<pid>/cgroup shows for a member of
// the group at path: the unified "0::<path>" on v2, the memory controller's
// ":memory:<path>" (without its hierarchy number) on v1.
func cgroupLine(mode, path string) string {
	if mode == "v2" {
		return "0::" + path
	}
	return ":memory:" + path
}

// runcCgroupDirs returns the directories of runc container c's cgroup that
// exist: one on v2, one per hierarchy on v1.
func runcCgroupDirs(t testing.TB, c *RuncContainer) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(cgroupV1Root, "*", c.CgroupPath))
	if err != nil {
		t.Fatal(err)
	}
	if d := filepath.Join(cgroup2Root, c.CgroupPath); isDir(d) {
		dirs = append(dirs, d)
	}
	return dirs
}

// isDir reports whether path is an existing directory.
func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// TestHarnessNewCgroup is TestHarness through newCgroup, so it runs on both
// hierarchies: on the v1 host and, with `make test-v2`, on a pure cgroup v2
// kernel, where it checks the v2 files (memory.max, cpu.max, 0::<path>).
func TestHarnessNewCgroup(t *testing.T) {
	requireRoot(t)
	mode := requireCgroup(t)
	const memLimit = 256 << 20 // 268435456
	var made []string          // every cgroup directory the subtests made

	t.Run("namespaced", func(t *testing.T) {
		hostProcBefore := procMounts(t)
		cg := newCgroup(t, "harness", memLimit, 150000, 100000)
		made = append(made, cg.uniqueDirs()...)
		if mode == "v2" {
			if len(cg.Dirs) != 1 || cg.Dirs[unifiedKey] != filepath.Join(cgroup2Root, cg.Path) {
				t.Errorf("v2 group dirs = %v, want only %s: %s", cg.Dirs, unifiedKey, filepath.Join(cgroup2Root, cg.Path))
			}
			assertFile(t, filepath.Join(cg.Dirs[unifiedKey], "memory.max"), "268435456")
			assertFile(t, filepath.Join(cg.Dirs[unifiedKey], "cpu.max"), "150000 100000")
		} else {
			assertFile(t, filepath.Join(cg.Dirs["memory"], "memory.limit_in_bytes"), "268435456")
			assertFile(t, filepath.Join(cg.Dirs["cpu"], "cpu.cfs_quota_us"), "150000")
		}

		p := startNamespaced(t, cg)
		out, err := p.Exec(t, "/bin/sh", "-c", "cat /proc/1/comm /proc/self/cgroup")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) < 2 || lines[0] != "sleep" {
			t.Errorf("inside: /proc/1/comm = %q, want sleep (the init) first", out)
		}
		if want := cgroupLine(mode, cg.Path); !strings.Contains(out, want+"\n") {
			t.Errorf("Exec'd process: /proc/self/cgroup = %q, want a line ending %q", out, want)
		}
		hostCgroup, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/cgroup")
		if err != nil {
			t.Fatal(err)
		}
		if want := cgroupLine(mode, cg.Path); !strings.Contains(string(hostCgroup), want+"\n") {
			t.Errorf("init (host pid %d) /proc/<pid>/cgroup = %q, want %q", p.PID, hostCgroup, want)
		}
		if pids, err := cg.PIDs(); err != nil || !slices.Contains(pids, p.PID) {
			t.Errorf("cg.PIDs() = %v, %v; want the init %d among them", pids, err, p.PID)
		}
		if after := procMounts(t); after != hostProcBefore {
			t.Errorf("host /proc mounts changed: before %d, after %d", hostProcBefore, after)
		}
	})

	t.Run("swap", func(t *testing.T) {
		cg := newCgroup(t, "harness-swap", memLimit, 0, 0)
		made = append(made, cg.uniqueDirs()...)
		file, want := "memory.memsw.limit_in_bytes", strconv.Itoa(memLimit+64<<20)
		dir := cg.Dirs["memory"]
		if mode == "v2" {
			file, want, dir = "memory.swap.max", strconv.Itoa(64<<20), cg.Dirs[unifiedKey]
		}
		if _, err := os.Stat(filepath.Join(dir, file)); errors.Is(err, os.ErrNotExist) {
			t.Skipf("this kernel does not account swap per cgroup (no %s)", file)
		}
		limitSwap(t, cg, 64<<20)
		assertFile(t, filepath.Join(dir, file), want)
	})

	t.Run("runc", func(t *testing.T) {
		rootfs := buildBusyboxRootfs(t)
		c := startRunc(t, rootfs, "harness", memLimit, 150000, 100000, true)
		dirs := runcCgroupDirs(t, c)
		made = append(made, dirs...)
		if len(dirs) == 0 {
			t.Fatalf("no cgroup directory %s", c.CgroupPath)
		}
		if mode == "v2" {
			dir := filepath.Join(cgroup2Root, c.CgroupPath)
			assertFile(t, filepath.Join(dir, "memory.max"), "268435456")
			assertFile(t, filepath.Join(dir, "cpu.max"), "150000 100000")
		} else {
			assertFile(t, filepath.Join(cgroupV1Root, "memory", c.CgroupPath, "memory.limit_in_bytes"), "268435456")
		}
		if out, err := c.Exec(t, "cat", "/proc/1/comm"); err != nil || strings.TrimSpace(out) != "sleep" {
			t.Errorf("inside: /proc/1/comm = %q, %v; want sleep", out, err)
		}
		hostCgroup, err := os.ReadFile("/proc/" + strconv.Itoa(c.PID) + "/cgroup")
		if err != nil {
			t.Fatal(err)
		}
		if want := cgroupLine(mode, c.CgroupPath); !strings.Contains(string(hostCgroup), want+"\n") {
			t.Errorf("init (host pid %d) /proc/<pid>/cgroup = %q, want %q", c.PID, hostCgroup, want)
		}
		// procps free from the machine's /usr (bindHostUsr), not busybox's.
		out, err := c.Exec(t, "/usr/bin/free", "-k")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "Mem:") {
			t.Errorf("inside: free -k = %q, want a Mem: line", out)
		}
	})

	// The subtests' cleanups have run: none of their cgroups may be left.
	for _, d := range made {
		if isDir(d) {
			t.Errorf("cgroup directory left behind: %s", d)
		}
	}
}
