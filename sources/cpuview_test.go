package sources

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestParseCPUList(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []int
	}{
		{"single cpu", "0\n", []int{0}},
		{"range", "0-3\n", []int{0, 1, 2, 3}},
		{"holes as in the v2 fixture", "0,2-3\n", []int{0, 2, 3}},
		{"empty file (v2 cpuset.cpus unset)", "\n", []int{}},
		{"degenerate range", "5-5", []int{5}},
		{"unsorted and duplicate input is normalised", "3,0-1,1", []int{0, 1, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCPUList([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) || got == nil {
				t.Errorf("ParseCPUList(%q) = %#v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseCPUListErrors(t *testing.T) {
	for _, in := range []string{"a", "0-", "-1", "3-1", "0,,1", "0-1000000", "0:2"} {
		if got, err := ParseCPUList([]byte(in)); err == nil {
			t.Errorf("ParseCPUList(%q) = %v, want an error", in, got)
		}
	}
}

func TestFormatCPUList(t *testing.T) {
	tests := []struct {
		name string
		in   []int
		want string
	}{
		{"empty", nil, ""},
		{"single", []int{0}, "0"},
		{"holes", []int{0, 2, 3}, "0,2-3"},
		{"ranges", []int{0, 1, 2, 5, 7, 8}, "0-2,5,7-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatCPUList(tt.in); got != tt.want {
				t.Errorf("FormatCPUList(%v) = %q, want %q", tt.in, got, tt.want)
			}
			back, err := ParseCPUList([]byte(tt.want))
			if err != nil || len(back) != len(tt.in) {
				t.Errorf("round trip of %q = %v, %v", tt.want, back, err)
			}
		})
	}
}

func TestVisibleCPUs(t *testing.T) {
	q := func(quota, period int64) CFSQuota { return CFSQuota{Quota: quota, Period: period} }
	tests := []struct {
		name   string
		cpuset []int
		quota  CFSQuota
		view   CPUView
		want   []int
	}{
		{"no quota keeps the cpuset", []int{0, 2, 3}, q(-1, 100000), CPUViewQuota, []int{0, 2, 3}},
		{"fractional quota 1.5 rounds up to 2, first of the cpuset", []int{0, 2, 3}, q(150000, 100000), CPUViewQuota, []int{0, 2}},
		{"quota 0.5 gives 1 CPU", []int{0, 1}, q(50000, 100000), CPUViewQuota, []int{0}},
		{"tiny quota still gives 1 CPU", []int{4, 5}, q(1000, 100000), CPUViewQuota, []int{4}},
		{"quota above the cpuset does not add CPUs", []int{0, 1}, q(800000, 100000), CPUViewQuota, []int{0, 1}},
		{"exact quota", []int{0, 1, 2, 3}, q(200000, 100000), CPUViewQuota, []int{0, 1}},
		{"cpuset view ignores the quota", []int{0, 2, 3}, q(150000, 100000), CPUViewCpuset, []int{0, 2, 3}},
		{"empty view option means quota", []int{0, 2, 3}, q(150000, 100000), "", []int{0, 2}},
		{"empty cpuset still gives 1 CPU", nil, q(-1, 100000), CPUViewQuota, []int{0}},
		{"zero period is no limit", []int{0, 1}, q(50000, 0), CPUViewQuota, []int{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VisibleCPUs(tt.cpuset, tt.quota, tt.view); !slices.Equal(got, tt.want) {
				t.Errorf("VisibleCPUs = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestCPUViewFallbacks covers the container glue: what a missing,
// unreadable or garbled cgroup file turns into.
func TestCPUViewFallbacks(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, dir string) // edits a copy of testdata/v2/limited
		want   []int
	}{
		{"fixture as is", func(*testing.T, string) {}, []int{0, 2}},
		{"missing cpu.max: no cut", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "cpu.max"))
		}, []int{0, 2, 3}},
		{"garbled cpu.max: no cut", func(t *testing.T, dir string) {
			cpuWrite(t, dir, "cpu.max", "lots\n")
		}, []int{0, 2, 3}},
		{"missing cpuset: host online CPUs cut by the quota", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "cpuset.cpus.effective"))
		}, []int{0, 1}},
		{"unreadable cpuset (a directory): host online CPUs", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "cpuset.cpus.effective")
			os.Remove(p)
			os.Mkdir(p, 0o755)
		}, []int{0, 1}},
		{"empty cpuset: host online CPUs", func(t *testing.T, dir string) {
			cpuWrite(t, dir, "cpuset.cpus.effective", "\n")
		}, []int{0, 1}},
		{"cgroup removed: host online CPUs, no cut", func(t *testing.T, dir string) {
			os.RemoveAll(dir)
		}, []int{0, 1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := cpuCopyDir(t, "testdata/v2/limited")
			tt.change(t, dir)
			c := NewContainer(cpuHost("v2"), Cgroup{V2: dir}, cpuNowV2, DefaultOptions())
			got, err := c.visibleCPUs()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("visibleCPUs = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCPUViewV1CpusetFallsBackToCpusetCpus(t *testing.T) {
	dir := cpuCopyDir(t, "testdata/v1/limited")
	os.Remove(filepath.Join(dir, "cpuset", "cpuset.effective_cpus"))
	cpuWrite(t, filepath.Join(dir, "cpuset"), "cpuset.cpus", "1\n")
	c := NewContainer(cpuHost("v1"), cpuV1Cgroup(dir), cpuNowV1, DefaultOptions())
	got, err := c.visibleCPUs()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int{1}) {
		t.Errorf("visibleCPUs = %v, want [1] from cpuset.cpus", got)
	}
}

func TestCPUViewNoHostOnlineIsAnError(t *testing.T) {
	host := Host{ProcRoot: "testdata/v1/proc", SysRoot: t.TempDir()}
	c := NewContainer(host, Cgroup{}, cpuNowV1, DefaultOptions())
	if got, err := c.visibleCPUs(); err == nil {
		t.Errorf("visibleCPUs = %v without cpuset or host online list, want an error", got)
	}
	for _, r := range cpuRenderers {
		if r.name == "uptime" {
			continue // falls back to the host's file
		}
		if err := r.render(c, cpuNowV1, new(bytes.Buffer)); err == nil {
			t.Errorf("%s: want an error without any CPU list", r.name)
		}
	}
}

func TestTightestQuota(t *testing.T) {
	q := func(quota, period int64) CFSQuota { return CFSQuota{Quota: quota, Period: period} }
	tests := []struct {
		name string
		in   []CFSQuota
		want CFSQuota
	}{
		{"none", nil, q(-1, 100000)},
		{"all unlimited", []CFSQuota{q(-1, 100000), q(-1, 50000)}, q(-1, 100000)},
		{"child unlimited, parent 1 CPU", []CFSQuota{q(-1, 100000), q(100000, 100000)}, q(100000, 100000)},
		{"child 1.5, parent 1", []CFSQuota{q(150000, 100000), q(100000, 100000)}, q(100000, 100000)},
		{"child 0.5, parent 1", []CFSQuota{q(50000, 100000), q(100000, 100000)}, q(50000, 100000)},
		{"different periods compare by ratio", []CFSQuota{q(300000, 200000), q(140000, 100000)}, q(140000, 100000)},
		{"grandparent tightest", []CFSQuota{q(400000, 100000), q(-1, 100000), q(200000, 100000)}, q(200000, 100000)},
		{"tie keeps the first", []CFSQuota{q(100000, 100000), q(200000, 200000)}, q(100000, 100000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TightestQuota(tt.in...); got != tt.want {
				t.Errorf("TightestQuota(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// TestCPUViewQuotaUpTheTree is lxcfs's test_cpu_cfs_hierarchy (a quota on a
// parent binds its children) on the fixture cgroups, nested: the
// container's group is a child of a copy of the limited group, whose
// quota the test sets.
func TestCPUViewQuotaUpTheTree(t *testing.T) {
	tests := []struct {
		name               string
		parent, child, top string // quotas: v2 cpu.max lines; "" leaves the file out
		want               []int
	}{
		{"parent 1 CPU, child unlimited", "100000 100000", "max 100000", "", []int{0}},
		{"parent 1 CPU, child 1.5", "100000 100000", "150000 100000", "", []int{0}},
		{"parent 2 CPUs, child 1 CPU", "200000 100000", "100000 100000", "", []int{0}},
		{"grandparent 1 CPU", "max 100000", "max 100000", "50000 100000", []int{0}},
		{"all unlimited: the cpuset", "max 100000", "max 100000", "max 100000", []int{0, 2, 3}},
		{"parent without cpu.max (cpu not enabled for the child): the grandparent still binds", "", "max 100000", "100000 100000", []int{0}},
		{"child without cpu.max: the parent binds", "100000 100000", "", "", []int{0}},
	}
	for _, tt := range tests {
		t.Run("v2/"+tt.name, func(t *testing.T) {
			top := t.TempDir()
			parent := filepath.Join(top, "parent")
			child := filepath.Join(parent, "child")
			if err := os.MkdirAll(parent, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(cpuCopyDir(t, "testdata/v2/limited"), child); err != nil {
				t.Fatal(err)
			}
			if tt.child != "" {
				cpuWrite(t, child, "cpu.max", tt.child+"\n")
			} else {
				os.Remove(filepath.Join(child, "cpu.max"))
			}
			if tt.parent != "" {
				cpuWrite(t, parent, "cpu.max", tt.parent+"\n")
			}
			if tt.top != "" {
				cpuWrite(t, top, "cpu.max", tt.top+"\n")
			}
			c := NewContainer(cpuHost("v2"), Cgroup{V2: child}, cpuNowV2, DefaultOptions())
			got, err := c.visibleCPUs()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("visibleCPUs = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCPUViewQuotaUpTheTreeV1(t *testing.T) {
	top := t.TempDir()
	limited := cpuCopyDir(t, "testdata/v1/limited")
	// The parent's cpu directory is the hierarchy's root here: its own
	// parent (top) has no cpu.cfs_quota_us.
	parentCPU := filepath.Join(top, "cpu")
	if err := os.Rename(filepath.Join(limited, "cpu"), parentCPU); err != nil {
		t.Fatal(err)
	}
	childCPU := filepath.Join(parentCPU, "child")
	if err := os.Mkdir(childCPU, 0o755); err != nil {
		t.Fatal(err)
	}
	cpuWrite(t, parentCPU, "cpu.cfs_period_us", "100000\n")
	cpuWrite(t, parentCPU, "cpu.cfs_quota_us", "100000\n")
	cpuWrite(t, childCPU, "cpu.cfs_period_us", "100000\n")
	cpuWrite(t, childCPU, "cpu.cfs_quota_us", "-1\n")
	cg := cpuV1Cgroup(limited)
	cg.V1["cpu"] = childCPU
	c := NewContainer(cpuHost("v1"), cg, cpuNowV1, DefaultOptions())
	got, err := c.visibleCPUs()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Errorf("visibleCPUs = %v under a parent limited to 1 CPU, want 1 CPU", got)
	}
	// The cpuset view ignores quotas, the parent's too.
	c = NewContainer(cpuHost("v1"), cg, cpuNowV1, Options{CPUView: CPUViewCpuset})
	if got, _ := c.visibleCPUs(); len(got) < 2 {
		t.Errorf("cpuset view = %v, want the whole cpuset", got)
	}
}
