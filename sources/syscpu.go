package sources

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// The container's /sys/devices/system/cpu is a directory tree, served
// whole over the kernel's directory (a mount over it hides everything in
// it, so what lxmount does not virtualize is passed through from the
// host's directory, read-only). Virtual CPU K stands for host CPU
// visible[K], the numbering of the virtual /proc/cpuinfo and /proc/stat
// (Container.visibleCPUs):
//
//	online possible present enabled   "0-(n-1)": the n visible CPUs
//	offline                           "" (kernel: "\n" when none is offline)
//	isolated nohz_full                the host's list, renumbered (visible CPUs only)
//	cpuK/                             host cpu<visible[K]>/, passed through, except:
//	cpuK/online                       "1" (also for a host CPU 0 without the file)
//	cpuK/topology/*_list, masks       renumbered; core_id, physical_package_id
//	                                  renumbered as /proc/cpuinfo's core id and physical id
//	cpuK/cache/indexI/shared_cpu_*    renumbered
//	everything else                   the host's (cpufreq/, cpuidle/, vulnerabilities/,
//	                                  kernel_max, smt/, hotplug/, per-CPU cpuidle/ ...)
//
// Host CPUs that are not visible have no directory. Symlinks are passed
// through as they are: their relative targets (cpuK/subsystem ->
// ../../../../bus/cpu, cpuK/node0) resolve in the container's own /sys,
// and cpuK/cpufreq -> ../cpufreq/policyM keeps the host's policy name.

// sysCPUKind says how one path of the tree is made.
type sysCPUKind int

const (
	sysCPUMissing   sysCPUKind = iota // no such path (a CPU that is not visible)
	sysCPUPass                        // the host's file, directory or symlink as it is
	sysCPUAll                         // "0-(n-1)\n"
	sysCPUNone                        // "\n": an empty CPU list
	sysCPUOnline                      // "1\n"
	sysCPUList                        // the host's CPU list, renumbered
	sysCPUMask                        // the host's CPU mask, renumbered
	sysCPUPackageID                   // topology/physical_package_id, renumbered
	sysCPUCoreID                      // topology/core_id, renumbered
)

// sysCPUPath is what a virtual path stands for: how it is made, and the
// host path it comes from, relative to the host's /sys/devices/system/cpu
// ("" for the directory itself). cpu is the host CPU a cpuK/ path belongs
// to, -1 elsewhere.
type sysCPUPath struct {
	kind sysCPUKind
	host string
	cpu  int
}

// sysCPUMaskNames are the topology files that hold a CPU mask; each has a
// _list twin (drivers/base/topology.c).
var sysCPUMaskNames = map[string]bool{
	"core_cpus": true, "core_siblings": true, "thread_siblings": true,
	"die_cpus": true, "package_cpus": true, "cluster_cpus": true,
	"book_siblings": true, "drawer_siblings": true,
}

// resolveSysCPU maps a clean relative path of the virtual directory to
// what it stands for, for a view of the host CPUs visible (in virtual
// order). It reads nothing.
func resolveSysCPU(visible []int, rel string) sysCPUPath {
	if rel == "" {
		return sysCPUPath{kind: sysCPUPass, cpu: -1}
	}
	first, rest, _ := strings.Cut(rel, "/")
	k, isCPU := cpuDirIndex(first)
	if !isCPU {
		if rest == "" {
			switch first {
			case "online", "possible", "present", "enabled":
				return sysCPUPath{kind: sysCPUAll, host: first, cpu: -1}
			case "offline":
				return sysCPUPath{kind: sysCPUNone, host: first, cpu: -1}
			case "isolated", "nohz_full":
				return sysCPUPath{kind: sysCPUList, host: first, cpu: -1}
			}
		}
		return sysCPUPath{kind: sysCPUPass, host: rel, cpu: -1}
	}
	if k >= len(visible) {
		return sysCPUPath{kind: sysCPUMissing, cpu: -1}
	}
	cpu := visible[k]
	host := "cpu" + strconv.Itoa(cpu)
	if rest != "" {
		host += "/" + rest
	}
	p := sysCPUPath{kind: sysCPUPass, host: host, cpu: cpu}
	dir, name := "", rest
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		dir, name = rest[:i], rest[i+1:]
	}
	switch {
	case rest == "online":
		p.kind = sysCPUOnline
	case dir == "topology" && name == "physical_package_id":
		p.kind = sysCPUPackageID
	case dir == "topology" && name == "core_id":
		p.kind = sysCPUCoreID
	case dir == "topology" && strings.HasSuffix(name, "_list"):
		p.kind = sysCPUList
	case dir == "topology" && sysCPUMaskNames[name]:
		p.kind = sysCPUMask
	case strings.HasPrefix(dir, "cache/index") && name == "shared_cpu_list":
		p.kind = sysCPUList
	case strings.HasPrefix(dir, "cache/index") && name == "shared_cpu_map":
		p.kind = sysCPUMask
	}
	return p
}

// cpuDirIndex parses a "cpuN" directory name.
func cpuDirIndex(name string) (int, bool) {
	digits, ok := strings.CutPrefix(name, "cpu")
	if !ok || digits == "" || (len(digits) > 1 && digits[0] == '0') {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// virtualCPUs maps host CPU numbers to virtual ones.
func virtualCPUs(visible []int) map[int]int {
	m := make(map[int]int, len(visible))
	for k, cpu := range visible {
		m[cpu] = k
	}
	return m
}

// RenumberCPUList rewrites a host CPU list ("0-1,4") for a view of the
// host CPUs visible: CPUs not visible are dropped, the others take their
// virtual numbers. It writes the list and a newline, as sysfs prints
// "%*pbl\n".
func RenumberCPUList(buf *bytes.Buffer, host []byte, visible []int) error {
	cpus, err := ParseCPUList(host)
	if err != nil {
		return err
	}
	buf.WriteString(FormatCPUList(renumber(cpus, visible)))
	buf.WriteByte('\n')
	return nil
}

// renumber maps host CPUs to the virtual numbers of the visible ones,
// sorted.
func renumber(cpus, visible []int) []int {
	virt := virtualCPUs(visible)
	out := []int{}
	for _, cpu := range cpus {
		if k, ok := virt[cpu]; ok {
			out = append(out, k)
		}
	}
	return sortedUnique(out)
}

// ParseCPUMask parses a sysfs CPU mask ("%*pb", lib/vsprintf.c
// bitmap_string): comma-separated groups of up to 8 hex digits, the most
// significant group first, e.g. "3" for CPUs 0 and 1, "1,00000000" for
// CPU 32.
//
//	00000001,00000003
//	^ CPUs 63..32  ^ CPUs 31..0
func ParseCPUMask(b []byte) ([]int, error) {
	groups := strings.Split(strings.TrimSpace(string(b)), ",")
	cpus := []int{}
	for g := range groups {
		word := groups[len(groups)-1-g]
		if word == "" || len(word) > 8 {
			return nil, fmt.Errorf("cpu mask %q: bad group %q", b, word)
		}
		v, err := strconv.ParseUint(word, 16, 32)
		if err != nil {
			return nil, fmt.Errorf("cpu mask %q: bad group %q", b, word)
		}
		for bit := 0; bit < 32; bit++ {
			if v&(1<<bit) != 0 {
				cpus = append(cpus, g*32+bit)
			}
		}
	}
	return cpus, nil
}

// FormatCPUMask writes cpus as a sysfs mask of nbits bits without a
// newline, as bitmap_string prints it: the top group as wide as the bits
// it holds, the others 8 hex digits.
func FormatCPUMask(cpus []int, nbits int) string {
	nbits = max(nbits, 1)
	words := make([]uint32, (nbits+31)/32)
	for _, cpu := range cpus {
		if cpu >= 0 && cpu < nbits {
			words[cpu/32] |= 1 << (cpu % 32)
		}
	}
	var sb strings.Builder
	for i := len(words) - 1; i >= 0; i-- {
		width := 8
		if i == len(words)-1 {
			if rem := nbits % 32; rem != 0 {
				width = (rem + 3) / 4
			}
		} else {
			sb.WriteByte(',')
		}
		s := strconv.FormatUint(uint64(words[i]), 16)
		for len(s) < width {
			s = "0" + s
		}
		sb.WriteString(s)
	}
	return sb.String()
}

// RenumberCPUMask is RenumberCPUList for a mask, for a view of
// len(visible) possible CPUs.
func RenumberCPUMask(buf *bytes.Buffer, host []byte, visible []int) error {
	cpus, err := ParseCPUMask(host)
	if err != nil {
		return err
	}
	buf.WriteString(FormatCPUMask(renumber(cpus, visible), len(visible)))
	buf.WriteByte('\n')
	return nil
}

// CPUTopologyIDs are the host's physical_package_id and core_id of each
// visible CPU, in virtual order; -1 where unknown.
type CPUTopologyIDs struct {
	Package []int
	Core    []int
}

// RenumberTopology renumbers packages by first appearance and cores by
// first appearance within their package, as Cpuinfo does for "physical
// id" and "core id", so /sys and /proc/cpuinfo agree. A CPU without a core
// id is its own core.
func RenumberTopology(ids CPUTopologyIDs) (pkg, core []int) {
	type key struct{ pkg, core int }
	pkgs := map[int]int{}
	cores := map[key]int{}
	var coresIn []int
	pkg = make([]int, len(ids.Package))
	core = make([]int, len(ids.Package))
	for i, hp := range ids.Package {
		p, ok := pkgs[hp]
		if !ok {
			p = len(pkgs)
			pkgs[hp] = p
			coresIn = append(coresIn, 0)
		}
		hc := -2 - i
		if i < len(ids.Core) && ids.Core[i] >= 0 {
			hc = ids.Core[i]
		}
		c, ok := cores[key{p, hc}]
		if !ok {
			c = coresIn[p]
			cores[key{p, hc}] = c
			coresIn[p]++
		}
		pkg[i], core[i] = p, c
	}
	return pkg, core
}

// TreeNode is one entry of a virtual directory tree (File.IsDir): its
// name, its type and permission bits, and a symlink's target.
type TreeNode struct {
	Name string
	Mode os.FileMode
	Link string
}
