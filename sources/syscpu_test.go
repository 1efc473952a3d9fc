package sources

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestResolveSysCPU(t *testing.T) {
	visible := []int{1, 3} // cpu0 stands for host CPU 1, cpu1 for 3
	tests := []struct {
		rel  string
		kind sysCPUKind
		host string
	}{
		{"", sysCPUPass, ""},
		{"online", sysCPUAll, "online"},
		{"possible", sysCPUAll, "possible"},
		{"present", sysCPUAll, "present"},
		{"enabled", sysCPUAll, "enabled"},
		{"offline", sysCPUNone, "offline"},
		{"isolated", sysCPUList, "isolated"},
		{"kernel_max", sysCPUPass, "kernel_max"},
		{"vulnerabilities/meltdown", sysCPUPass, "vulnerabilities/meltdown"},
		{"cpufreq", sysCPUPass, "cpufreq"},
		{"cpu0", sysCPUPass, "cpu1"},
		{"cpu1/online", sysCPUOnline, "cpu3/online"},
		{"cpu0/topology/core_id", sysCPUCoreID, "cpu1/topology/core_id"},
		{"cpu0/topology/physical_package_id", sysCPUPackageID, "cpu1/topology/physical_package_id"},
		{"cpu0/topology/die_id", sysCPUPass, "cpu1/topology/die_id"},
		{"cpu0/topology/thread_siblings_list", sysCPUList, "cpu1/topology/thread_siblings_list"},
		{"cpu0/topology/thread_siblings", sysCPUMask, "cpu1/topology/thread_siblings"},
		{"cpu1/cache/index3/shared_cpu_list", sysCPUList, "cpu3/cache/index3/shared_cpu_list"},
		{"cpu1/cache/index3/shared_cpu_map", sysCPUMask, "cpu3/cache/index3/shared_cpu_map"},
		{"cpu1/cache/index3/size", sysCPUPass, "cpu3/cache/index3/size"},
		{"cpu0/online/x", sysCPUPass, "cpu1/online/x"},
		{"cpu2", sysCPUMissing, ""},
		{"cpu2/online", sysCPUMissing, ""},
		{"cpu01", sysCPUPass, "cpu01"}, // not a CPU directory name
	}
	for _, tt := range tests {
		got := resolveSysCPU(visible, tt.rel)
		if got.kind != tt.kind || got.host != tt.host {
			t.Errorf("resolveSysCPU(%q) = kind %d host %q, want kind %d host %q", tt.rel, got.kind, got.host, tt.kind, tt.host)
		}
	}
}

func TestCPUMask(t *testing.T) {
	tests := []struct {
		mask  string
		cpus  []int
		nbits int
	}{
		{"3", []int{0, 1}, 2},
		{"1", []int{0}, 1},
		{"2", []int{1}, 2},
		{"00", []int{}, 8},
		{"f0", []int{4, 5, 6, 7}, 8},
		{"1,00000000", []int{32}, 33},
		{"00000001,00000003", []int{0, 1, 32}, 64},
	}
	for _, tt := range tests {
		got, err := ParseCPUMask([]byte(tt.mask + "\n"))
		if err != nil || !slices.Equal(got, tt.cpus) {
			t.Errorf("ParseCPUMask(%q) = %v, %v; want %v", tt.mask, got, err, tt.cpus)
		}
		if s := FormatCPUMask(tt.cpus, tt.nbits); s != tt.mask {
			t.Errorf("FormatCPUMask(%v, %d) = %q, want %q", tt.cpus, tt.nbits, s, tt.mask)
		}
	}
	for _, bad := range []string{"", "x", "123456789", "1,,2"} {
		if got, err := ParseCPUMask([]byte(bad)); err == nil {
			t.Errorf("ParseCPUMask(%q) = %v, want an error", bad, got)
		}
	}
}

func TestRenumberTopology(t *testing.T) {
	tests := []struct {
		name      string
		ids       CPUTopologyIDs
		pkg, core []int
	}{
		{"one core of two", CPUTopologyIDs{Package: []int{0}, Core: []int{1}}, []int{0}, []int{0}},
		{"two hyperthreads of one core stay siblings", CPUTopologyIDs{Package: []int{0, 0}, Core: []int{3, 3}}, []int{0, 0}, []int{0, 0}},
		{"second package", CPUTopologyIDs{Package: []int{1, 1, 0}, Core: []int{4, 5, 4}}, []int{0, 0, 1}, []int{0, 1, 0}},
		{"no core id: each CPU its own core", CPUTopologyIDs{Package: []int{0, 0}, Core: []int{-1, -1}}, []int{0, 0}, []int{0, 1}},
	}
	for _, tt := range tests {
		pkg, core := RenumberTopology(tt.ids)
		if !slices.Equal(pkg, tt.pkg) || !slices.Equal(core, tt.core) {
			t.Errorf("%s: RenumberTopology = %v %v, want %v %v", tt.name, pkg, core, tt.pkg, tt.core)
		}
	}
}

// sysCPUContainer binds a container whose v2 cgroup has the given cpuset
// and cpu.max to the captured /sys/devices/system/cpu of a 2-CPU host.
func sysCPUContainer(t *testing.T, cpuset, cpuMax string, view CPUView) *Container {
	t.Helper()
	dir := cpuCopyDir(t, "testdata/v2/limited")
	cpuWrite(t, dir, "cpuset.cpus.effective", cpuset+"\n")
	cpuWrite(t, dir, "cpu.max", cpuMax+"\n")
	// The capture's cpufreq directory is empty, as on the host it was
	// taken from, and git keeps no empty directory: a fresh clone lacks it.
	if err := os.MkdirAll("testdata/syscpu/sys/devices/system/cpu/cpufreq", 0o755); err != nil {
		t.Fatal(err)
	}
	host := Host{ProcRoot: "testdata/v2/proc", SysRoot: "testdata/syscpu/sys"}
	return NewContainer(host, Cgroup{V2: dir}, cpuNowV2, Options{CPUView: view})
}

func sysCPUFile(t *testing.T) File {
	f, ok := Lookup("sys_cpu")
	if !ok || !f.IsDir() {
		t.Fatal("no sys_cpu tree in the file table")
	}
	return f
}

// treeRead renders rel or fails the test.
func treeRead(t *testing.T, c *Container, rel string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := c.TreeRender(sysCPUFile(t), rel, &buf); err != nil {
		t.Fatalf("render %s: %v", rel, err)
	}
	return buf.String()
}

func treeNames(t *testing.T, c *Container, rel string) []string {
	t.Helper()
	l, err := c.TreeList(sysCPUFile(t), rel)
	if err != nil {
		t.Fatalf("list %q: %v", rel, err)
	}
	var names []string
	for _, n := range l {
		names = append(names, n.Name)
	}
	slices.Sort(names)
	return names
}

// TestSysCPUCpusetOne is a container pinned to host CPU 1: it sees one CPU,
// cpu0, whose topology is host CPU 1's renumbered.
func TestSysCPUCpusetOne(t *testing.T) {
	c := sysCPUContainer(t, "1", "max 100000", CPUViewQuota)
	f := sysCPUFile(t)
	want := map[string]string{
		"online":                            "0\n",
		"possible":                          "0\n",
		"present":                           "0\n",
		"enabled":                           "0\n",
		"offline":                           "\n",
		"isolated":                          "\n",
		"kernel_max":                        "255\n", // the host's NR_CPUS - 1
		"cpu0/online":                       "1\n",
		"cpu0/topology/core_cpus_list":      "0\n", // host: 1
		"cpu0/topology/core_cpus":           "1\n", // host: 2
		"cpu0/topology/core_siblings_list":  "0\n", // host: 0-1
		"cpu0/topology/package_cpus":        "1\n", // host: 3
		"cpu0/topology/core_id":             "0\n", // host: 1
		"cpu0/topology/physical_package_id": "0\n",
		"cpu0/topology/die_id":              "0\n",
		"cpu0/cache/index3/shared_cpu_list": "0\n", // host: 0-1
		"cpu0/cache/index3/shared_cpu_map":  "1\n", // host: 3
		"cpu0/cache/index0/size":            mustRead(t, "testdata/syscpu/sys/devices/system/cpu/cpu1/cache/index0/size"),
		"cpu0/cpu_capacity":                 mustRead(t, "testdata/syscpu/sys/devices/system/cpu/cpu1/cpu_capacity"),
		"vulnerabilities/spectre_v2":        mustRead(t, "testdata/syscpu/sys/devices/system/cpu/vulnerabilities/spectre_v2"),
	}
	for rel, w := range want {
		if got := treeRead(t, c, rel); got != w {
			t.Errorf("%s = %q, want %q", rel, got, w)
		}
	}
	names := treeNames(t, c, "")
	if slices.Contains(names, "cpu1") || !slices.Contains(names, "cpu0") {
		t.Errorf("top listing %v: want cpu0 and no cpu1", names)
	}
	for _, n := range []string{"cpufreq", "cpuidle", "vulnerabilities", "kernel_max", "online", "possible", "present", "offline", "smt"} {
		if !slices.Contains(names, n) {
			t.Errorf("top listing %v lacks %s", names, n)
		}
	}
	if got, want := treeNames(t, c, "cpu0"), hostNames(t, "cpu1"); !slices.Equal(got, want) {
		t.Errorf("cpu0 lists %v, want host cpu1's %v", got, want)
	}
	if _, err := c.TreeStat(f, "cpu1"); !errors.Is(err, unix.ENOENT) {
		t.Errorf("stat cpu1 = %v, want ENOENT", err)
	}
	n, err := c.TreeStat(f, "cpu0/subsystem")
	if err != nil || n.Mode&fs.ModeSymlink == 0 || n.Link != "../../../../bus/cpu" {
		t.Errorf("stat cpu0/subsystem = %+v, %v; want the host's symlink", n, err)
	}
	if n, err := c.TreeStat(f, "cpu0"); err != nil || !n.Mode.IsDir() {
		t.Errorf("stat cpu0 = %+v, %v; want a directory", n, err)
	}
	if n, err := c.TreeStat(f, "online"); err != nil || !n.Mode.IsRegular() {
		t.Errorf("stat online = %+v, %v; want a file", n, err)
	}
	for _, bad := range []string{"../cpu", "cpu0/../cpu1", "/online", "./online"} {
		if _, err := c.TreeStat(f, bad); err == nil {
			t.Errorf("stat %q succeeded, want an error", bad)
		}
	}
}

// TestSysCPUHostCPU0 is host CPU 0, which has no online file on x86: the
// tree serves one.
func TestSysCPUHostCPU0(t *testing.T) {
	c := sysCPUContainer(t, "0-1", "100000 100000", CPUViewQuota) // 1 CPU: host CPU 0
	if got := treeRead(t, c, "cpu0/online"); got != "1\n" {
		t.Errorf("cpu0/online = %q", got)
	}
	if names := treeNames(t, c, "cpu0"); !slices.Contains(names, "online") {
		t.Errorf("cpu0 lists %v, want online", names)
	}
	if got := treeRead(t, c, "cpu0/topology/thread_siblings_list"); got != "0\n" {
		t.Errorf("thread_siblings_list = %q", got)
	}
}

// TestSysCPUWholeHost: with no limit the tree equals the host's, but for
// the files it always makes.
func TestSysCPUWholeHost(t *testing.T) {
	c := sysCPUContainer(t, "0-1", "max 100000", CPUViewQuota)
	if got, want := treeNames(t, c, ""), hostNames(t, ""); !slices.Equal(got, want) {
		t.Errorf("top lists %v, want the host's %v", got, want)
	}
	for _, rel := range []string{"online", "possible", "present", "cpu1/topology/core_cpus_list", "cpu1/topology/package_cpus", "cpu1/cache/index3/shared_cpu_map", "cpu1/topology/core_id"} {
		if got, want := treeRead(t, c, rel), mustRead(t, filepath.Join("testdata/syscpu/sys/devices/system/cpu", rel)); got != want {
			t.Errorf("%s = %q, want the host's %q", rel, got, want)
		}
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func hostNames(t *testing.T, rel string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join("testdata/syscpu/sys/devices/system/cpu", rel))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if rel == "cpu0" || (strings.HasPrefix(rel, "cpu") && !strings.Contains(rel, "/") && !slices.Contains(names, "online")) {
		names = append(names, "online")
	}
	slices.Sort(names)
	return names
}

func TestPrune(t *testing.T) {
	var names []string
	for _, f := range Prune(Files()) {
		names = append(names, f.Name)
	}
	if slices.Contains(names, "cpu_online") || !slices.Contains(names, "sys_cpu") {
		t.Errorf("Prune(Files()) = %v: want sys_cpu without cpu_online", names)
	}
	only, _ := Lookup("cpu_online")
	if got := Prune([]File{only}); len(got) != 1 {
		t.Errorf("Prune keeps cpu_online alone: got %v", got)
	}
}
