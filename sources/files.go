package sources

import (
	"bytes"
	"strings"
	"time"
)

// File describes one virtual file: the short name policies use, the path
// it covers inside the container, and its renderer.
type File struct {
	Name   string // short name used by policies, e.g. "meminfo"
	Target string // absolute path inside the container, e.g. "/proc/meminfo"
	// Follows names the file whose setting a policy that does not name
	// this one gives it (sys_cpu follows cpu_online, so a policy written
	// before sys_cpu existed that turned cpu_online off gets neither).
	Follows string
	render  func(c *Container, now time.Time, buf *bytes.Buffer) error
	// available reports whether the file can be served for c at all
	// (e.g. pressure files only where the kernel keeps them per cgroup);
	// nil means always.
	available func(c *Container) bool
	// tree serves a directory (IsDir) instead of render.
	tree *treeFuncs
}

// Available reports whether f can be served for container c. A file that is
// not available is not mounted.
func (f File) Available(c *Container) bool {
	return f.available == nil || f.available(c)
}

// files is the whole visible tree: one line per virtual file.
var files = []File{
	{Name: "meminfo", Target: "/proc/meminfo", render: renderMeminfo},
	{Name: "cpuinfo", Target: "/proc/cpuinfo", render: renderCpuinfo},
	{Name: "stat", Target: "/proc/stat", render: renderStat},
	{Name: "uptime", Target: "/proc/uptime", render: renderUptime},
	{Name: "loadavg", Target: "/proc/loadavg", render: renderLoadavg},
	{Name: "diskstats", Target: "/proc/diskstats", render: renderDiskstats},
	{Name: "swaps", Target: "/proc/swaps", render: renderSwaps},
	{Name: "slabinfo", Target: "/proc/slabinfo", Follows: "meminfo", render: renderSlabinfo, available: slabinfoAvailable},
	{Name: "cpu_online", Target: "/sys/devices/system/cpu/online", render: renderCPUOnline},
	{Name: "sys_cpu", Target: "/sys/devices/system/cpu", Follows: "cpu_online", tree: sysCPUTree},
	{Name: "pressure_cpu", Target: "/proc/pressure/cpu", render: renderPressureCPU, available: pressureAvailable("cpu")},
	{Name: "pressure_memory", Target: "/proc/pressure/memory", render: renderPressureMemory, available: pressureAvailable("memory")},
	{Name: "pressure_io", Target: "/proc/pressure/io", render: renderPressureIO, available: pressureAvailable("io")},
}

// Files returns every virtual file lxmount can serve, in mount order.
func Files() []File {
	out := make([]File, len(files))
	copy(out, files)
	return out
}

// Lookup returns the virtual file with the given short name.
func Lookup(name string) (File, bool) {
	for _, f := range files {
		if f.Name == name {
			return f, true
		}
	}
	return File{}, false
}

// Prune returns files without those whose target lies inside the target
// of a directory tree among them (cpu_online inside sys_cpu): the tree
// serves that path itself, and a mount of the file would be hidden by the
// tree's mount above it, or, made after it, refused (its target is no
// longer on sysfs). The order is kept.
func Prune(files []File) []File {
	var out []File
	for _, f := range files {
		covered := false
		for _, d := range files {
			if d.IsDir() && d.Name != f.Name && strings.HasPrefix(f.Target, d.Target+"/") {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, f)
		}
	}
	return out
}
