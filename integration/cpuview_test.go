package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// newChildCgroup creates the cgroup <parent>/<name> in each of the parent's
// directories (v1: every test controller, the cpuset's cpus and mems
// copied from the parent; v2: the one directory, with no controller
// enabled for it: a parent's limits bind it all the same). Its cleanup
// runs before the parent's, which made it first (t.Cleanup is LIFO).
func newChildCgroup(t testing.TB, parent *TestCgroup, name string) *TestCgroup {
	t.Helper()
	cg := &TestCgroup{Path: parent.Path + "/" + name, Dirs: map[string]string{}}
	t.Cleanup(func() { removeCgroup(t, cg) })
	for ctrl, dir := range parent.Dirs {
		child := filepath.Join(dir, name)
		if err := os.Mkdir(child, 0o755); err != nil && !(os.IsExist(err) && isDirOf(cg, child)) {
			t.Fatalf("create cgroup: %v", err)
		}
		cg.Dirs[ctrl] = child
	}
	if !parent.isV2() {
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			b, err := os.ReadFile(filepath.Join(parent.Dirs["cpuset"], f))
			if err != nil {
				t.Fatalf("cgroup cpuset: %v", err)
			}
			writeCgroupFile(t, cg.Dirs["cpuset"], f, strings.TrimSpace(string(b)))
		}
	}
	return cg
}

// countPrefixLines counts the lines of s that start with prefix.
func countPrefixLines(s, prefix string) int {
	n := 0
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, prefix) {
			n++
		}
	}
	return n
}

// statCPULines counts the cpuN lines of /proc/stat text.
func statCPULines(stat string) int {
	n := 0
	for _, line := range strings.Split(stat, "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "cpu") && f[0] != "cpu" {
			if _, err := strconv.Atoi(f[0][3:]); err == nil {
				n++
			}
		}
	}
	return n
}

// TestCPUQuotaUpTheTree is lxcfs's test_cpu_cfs_hierarchy as an end-to-end
// check: a container whose own cgroup has no CPU quota, under a parent
// limited to 1 CPU, sees 1 CPU in every CPU file.
func TestCPUQuotaUpTheTree(t *testing.T) {
	requireRoot(t)
	requireCgroup(t)
	if hostCPUs(t) < 2 {
		skipOrFail(t, "needs at least 2 CPUs")
	}
	parent := newCgroup(t, "cpuparent", 0, 100000, 100000)
	child := newChildCgroup(t, parent, "child")
	p := startNamespaced(t, child)
	in := newInstance(t, "", child.Path)
	in.writeConfig(reconcileOnly)
	in.startDaemon()
	in.mustRun("attach", strconv.Itoa(p.PID))

	online, err := p.Exec(t, "cat", "/sys/devices/system/cpu/online")
	if err != nil || strings.TrimSpace(online) != "0" {
		t.Errorf("online = %q (%v), want 0", online, err)
	}
	cpuinfo, err := p.Exec(t, "cat", "/proc/cpuinfo")
	if err != nil {
		t.Fatalf("cat /proc/cpuinfo: %v", err)
	}
	if n := countPrefixLines(cpuinfo, "processor"); n != 1 {
		t.Errorf("/proc/cpuinfo has %d processors, want 1", n)
	}
	stat, err := p.Exec(t, "cat", "/proc/stat")
	if err != nil {
		t.Fatalf("cat /proc/stat: %v", err)
	}
	if n := statCPULines(stat); n != 1 {
		t.Errorf("/proc/stat has %d cpuN lines, want 1:\n%s", n, stat)
	}
}
