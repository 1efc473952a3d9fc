package sources

import (
	"bytes"
	"fmt"
	"strconv"
)

// maxCPUListSpan bounds one range of a CPU list, so that a corrupt file
// cannot make the parser allocate without limit. The kernel's NR_CPUS is at
// most 8192 (arch/x86/Kconfig).
const maxCPUListSpan = 1 << 16

// ParseCPUList parses a kernel CPU list such as "0,2-3\n", the format of
// cpuset.cpus, cpuset.effective_cpus, cpuset.cpus.effective and
// /sys/devices/system/cpu/online (lib/bitmap-str.c, bitmap_print_to_pagebuf
// with "%*pbl"). The result is sorted and free of duplicates. An empty list
// gives an empty, non-nil slice.
//
//	0,2-3
//	^ ^-^
//	| range a-b, a <= b
//	single CPU
func ParseCPUList(b []byte) ([]int, error) {
	b = bytes.TrimSpace(b)
	cpus := []int{}
	if len(b) == 0 {
		return cpus, nil
	}
	for part := range bytes.SplitSeq(b, []byte(",")) {
		lo, hi, isRange := bytes.Cut(part, []byte("-"))
		first, err := strconv.Atoi(string(lo))
		if err != nil || first < 0 {
			return nil, fmt.Errorf("cpu list %q: bad cpu %q", b, lo)
		}
		last := first
		if isRange {
			last, err = strconv.Atoi(string(hi))
			if err != nil || last < first || last-first > maxCPUListSpan {
				return nil, fmt.Errorf("cpu list %q: bad range %q", b, part)
			}
		}
		for cpu := first; cpu <= last; cpu++ {
			cpus = append(cpus, cpu)
		}
	}
	return sortedUnique(cpus), nil
}

// sortedUnique sorts cpus in place and drops duplicates. Kernel lists are
// already sorted, so the common case costs one pass.
func sortedUnique(cpus []int) []int {
	sorted := true
	for i := 1; i < len(cpus); i++ {
		if cpus[i] <= cpus[i-1] {
			sorted = false
			break
		}
	}
	if sorted {
		return cpus
	}
	seen := make(map[int]bool, len(cpus))
	out := cpus[:0]
	for _, c := range cpus {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	// Insertion sort: lists are short and nearly sorted.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// FormatCPUList writes cpus (sorted, unique) as a kernel CPU list without
// a newline: []int{0, 2, 3} gives "0,2-3", the empty list "".
func FormatCPUList(cpus []int) string {
	var b []byte
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(cpus[i]), 10)
		if j > i {
			b = append(b, '-')
			b = strconv.AppendInt(b, int64(cpus[j]), 10)
		}
		i = j + 1
	}
	return string(b)
}

// VisibleCPUs returns the host CPUs a container sees, in order: the
// cgroup's effective cpuset (the caller passes the host's online CPUs when
// the cpuset is unknown), cut to its first ceil(quota/period) CPUs when a
// CFS quota is set and view is CPUViewQuota (or empty, the default). Like
// lxcfs's max_cpu_count (src/proc_cpuview.c) it rounds a fractional quota
// up, so 1.5 CPUs show as 2 and 0.5 as 1. It never returns fewer than one
// CPU: an empty cpuset gives []int{0}, which the caller avoids by falling
// back to the host's online CPUs first.
func VisibleCPUs(cpuset []int, quota CFSQuota, view CPUView) []int {
	if len(cpuset) == 0 {
		return []int{0}
	}
	n := len(cpuset)
	if view != CPUViewCpuset && quota.Limited() {
		n = min(n, quota.CPUs())
	}
	return cpuset[:max(n, 1)]
}

// visibleCPUs computes the container's CPU view for one read. The cpuset
// comes from the v1 cpuset controller, else the v2 directory, else the
// host's online CPUs (a missing or unreadable cgroup file, including a
// cgroup removed under us, means "unknown", not "no CPUs"). A missing quota
// means no cut. It fails only when the host's online list is unreadable too.
func (c *Container) visibleCPUs() ([]int, error) {
	r := c.fileReader()
	defer c.putReader(r)
	return c.cpuView(r)
}

// cpuView is visibleCPUs reading through r.
func (c *Container) cpuView(r *fileReader) ([]int, error) {
	cpuset, err := r.cgroupCpuset(c.Cgroup)
	if err != nil || len(cpuset) == 0 {
		cpuset, err = r.cpuList(c.Host.SysRoot, hostCPUOnline)
		if err != nil {
			return nil, fmt.Errorf("cpu view: %w", err)
		}
	}
	quota, err := r.cfsQuota(c.Cgroup)
	if err != nil {
		quota = CFSQuota{Quota: -1}
	}
	return VisibleCPUs(cpuset, quota, c.Options.CPUView), nil
}
