package sources

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Paths of the CPU readers, relative to a cgroup directory or the host's
// sysfs root.
const (
	hostCPUOnline = "devices/system/cpu/online"

	v1CpusetEffective = "cpuset.effective_cpus" // since Linux 3.14
	v1CpusetCpus      = "cpuset.cpus"
	v1CFSQuota        = "cpu.cfs_quota_us"
	v1CFSPeriod       = "cpu.cfs_period_us"
	v1UsageAll        = "cpuacct.usage_all" // since Linux 4.7
	v1UsagePercpu     = "cpuacct.usage_percpu"
	v1CpuacctStat     = "cpuacct.stat"

	v2CpusetEffective = "cpuset.cpus.effective"
	v2CPUMax          = "cpu.max"
	v2CPUStat         = "cpu.stat"
)

// errNoCPUCgroup says that a container has no cgroup directory for the CPU
// controller a reader needs.
var errNoCPUCgroup = errors.New("no cgroup directory for the controller")

// ReadCPUList reads a kernel CPU list file; see ParseCPUList.
func ReadCPUList(path string) ([]int, error) {
	return pathReader().cpuList(filepath.Dir(path), filepath.Base(path))
}

// cpuList reads the CPU list file dir/name.
func (r *fileReader) cpuList(dir, name string) ([]int, error) {
	b, err := r.file(dir, name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, name), err)
	}
	cpus, err := ParseCPUList(b)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, name), err)
	}
	return cpus, nil
}

// cgroupCpuset returns the cgroup's effective cpuset: v1
// cpuset.effective_cpus, or cpuset.cpus on kernels older than 3.14 (the
// legacy hierarchy then removes unplugged CPUs from cpuset.cpus itself, so
// it is the effective mask), else v2 cpuset.cpus.effective. An error means
// unknown.
func (r *fileReader) cgroupCpuset(cg Cgroup) ([]int, error) {
	var errs []error
	if dir := cg.Controller("cpuset"); dir != "" {
		cpus, err := r.cpuList(dir, v1CpusetEffective)
		if errors.Is(err, os.ErrNotExist) {
			cpus, err = r.cpuList(dir, v1CpusetCpus)
		}
		if err == nil {
			return cpus, nil
		}
		errs = append(errs, err)
	}
	if cg.V2 != "" {
		cpus, err := r.cpuList(cg.V2, v2CpusetEffective)
		if err == nil {
			return cpus, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("cpuset: %w", errNoCPUCgroup)
	}
	return nil, errors.Join(errs...)
}

// CFSQuota is a CFS bandwidth limit: Quota µs of CPU time in every Period
// µs (Documentation/scheduler/sched-bwc.rst). A negative Quota means no
// limit ("-1" in v1, "max" in v2).
type CFSQuota struct {
	Quota  int64 // µs per period, < 0 when unlimited
	Period int64 // µs
}

// Limited reports whether q limits the CPU time at all.
func (q CFSQuota) Limited() bool { return q.Quota > 0 && q.Period > 0 }

// CPUs is ceil(Quota/Period), the number of CPUs the quota amounts to, at
// least 1; meaningful only when Limited.
func (q CFSQuota) CPUs() int {
	if !q.Limited() {
		return 0
	}
	n := q.Quota / q.Period
	if q.Quota%q.Period != 0 {
		n++
	}
	return int(max(n, 1))
}

// ParseCFSQuotaV1 parses the v1 pair cpu.cfs_quota_us ("-1" or a count of
// µs) and cpu.cfs_period_us.
func ParseCFSQuotaV1(quota, period []byte) (CFSQuota, error) {
	q, err := strconv.ParseInt(string(bytes.TrimSpace(quota)), 10, 64)
	if err != nil {
		return CFSQuota{}, fmt.Errorf("cfs quota %q: %w", quota, err)
	}
	p, err := strconv.ParseInt(string(bytes.TrimSpace(period)), 10, 64)
	if err != nil || p <= 0 {
		return CFSQuota{}, fmt.Errorf("cfs period %q: not a positive number", period)
	}
	if q < 0 {
		q = -1
	}
	return CFSQuota{Quota: q, Period: p}, nil
}

// ReadCFSQuotaV1 reads cpu.cfs_quota_us and cpu.cfs_period_us from a v1
// cpu controller directory.
func ReadCFSQuotaV1(dir string) (CFSQuota, error) { return pathReader().cfsQuotaV1(dir) }

func (r *fileReader) cfsQuotaV1(dir string) (CFSQuota, error) {
	b, err := r.file(dir, v1CFSQuota)
	if err != nil {
		return CFSQuota{}, fmt.Errorf("read %s: %w", filepath.Join(dir, v1CFSQuota), err)
	}
	// The second read reuses the buffer: keep the quota's digits.
	var qbuf [24]byte
	quota := qbuf[:copy(qbuf[:], b)]
	period, err := r.file(dir, v1CFSPeriod)
	if err != nil {
		return CFSQuota{}, fmt.Errorf("read %s: %w", filepath.Join(dir, v1CFSPeriod), err)
	}
	q, err := ParseCFSQuotaV1(quota, period)
	if err != nil {
		return CFSQuota{}, fmt.Errorf("parse %s: %w", dir, err)
	}
	return q, nil
}

// ParseCPUMax parses v2 cpu.max: "$MAX $PERIOD", where $MAX is "max" or a
// count of µs (Documentation/admin-guide/cgroup-v2.rst).
//
//	150000 100000
//	^      ^ period (µs)
//	quota (µs) or "max"
func ParseCPUMax(b []byte) (CFSQuota, error) {
	f := bytes.Fields(b)
	if len(f) != 2 {
		return CFSQuota{}, fmt.Errorf("cpu.max %q: want 2 fields", b)
	}
	p, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil || p <= 0 {
		return CFSQuota{}, fmt.Errorf("cpu.max %q: bad period", b)
	}
	if string(f[0]) == "max" {
		return CFSQuota{Quota: -1, Period: p}, nil
	}
	q, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil || q <= 0 {
		return CFSQuota{}, fmt.Errorf("cpu.max %q: bad quota", b)
	}
	return CFSQuota{Quota: q, Period: p}, nil
}

// ReadCPUMax reads a v2 cpu.max file.
func ReadCPUMax(path string) (CFSQuota, error) {
	return pathReader().cpuMax(filepath.Dir(path), filepath.Base(path))
}

func (r *fileReader) cpuMax(dir, name string) (CFSQuota, error) {
	b, err := r.file(dir, name)
	if err != nil {
		return CFSQuota{}, fmt.Errorf("read %s: %w", filepath.Join(dir, name), err)
	}
	q, err := ParseCPUMax(b)
	if err != nil {
		return CFSQuota{}, fmt.Errorf("parse %s: %w", filepath.Join(dir, name), err)
	}
	return q, nil
}

// maxCgroupDepth bounds the walk up a cgroup hierarchy (cfsQuota), so a
// fixture or a bind-mounted tree that never ends cannot loop.
const maxCgroupDepth = 64

// cfsQuota reads the CFS quota that binds the container: the tightest of
// its own cgroup's and every ancestor's (TightestQuota), from the v1 cpu
// controller, else from v2 cpu.max. A group's tasks are throttled by each
// level's bandwidth in turn (kernel/sched/fair.c, throttle_cfs_rq walks
// every cfs_rq up to the root), so a parent limited to 1 CPU limits the
// container to 1 CPU whatever the container's own file says; the child's
// file never shows that minimum (v1 refuses a child quota above its
// parent's, tg_cfs_schedulable_down, but a child left at -1 reads -1; on
// v2 a child may even set more than its parent). An error means that no
// level's file could be read, which callers treat as no limit.
func (r *fileReader) cfsQuota(cg Cgroup) (CFSQuota, error) {
	if dir := cg.Controller("cpu"); dir != "" {
		q, err := r.quotaUpTree(dir, r.cfsQuotaV1)
		if err == nil || cg.V2 == "" {
			return q, err
		}
	}
	if cg.V2 != "" {
		return r.quotaUpTree(cg.V2, func(dir string) (CFSQuota, error) { return r.cpuMax(dir, v2CPUMax) })
	}
	return CFSQuota{}, fmt.Errorf("cfs quota: %w", errNoCPUCgroup)
}

// quotaUpTree reads the quota of dir and of each of its ancestors up to
// "/" with read, and returns the tightest. A level whose file cannot be
// read is skipped, not the end of the walk: on v2 a group has no cpu.max
// when its parent does not enable the cpu controller for it, and an
// ancestor's cpu.max still binds it; above a hierarchy's root the files
// are missing (the file cache remembers that, so the walk costs a map
// lookup per level there). The error is the container's own file's,
// returned when no level could be read.
func (r *fileReader) quotaUpTree(dir string, read func(dir string) (CFSQuota, error)) (CFSQuota, error) {
	var quotas []CFSQuota
	var first error
	for i := range maxCgroupDepth {
		q, err := read(dir)
		switch {
		case err == nil:
			quotas = append(quotas, q)
		case i == 0:
			first = err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	if len(quotas) == 0 {
		return CFSQuota{}, first
	}
	return TightestQuota(quotas...), nil
}

// TightestQuota returns the quota that allows the least CPU time per unit
// of time among qs (the smallest Quota/Period), or an unlimited quota when
// none of them is Limited. Ties keep the first.
func TightestQuota(qs ...CFSQuota) CFSQuota {
	best := CFSQuota{Quota: -1, Period: 100000}
	for _, q := range qs {
		if !q.Limited() {
			continue
		}
		// q.Quota/q.Period < best.Quota/best.Period, in floats: the
		// products of two µs counts could overflow int64.
		if !best.Limited() || float64(q.Quota)*float64(best.Period) < float64(best.Quota)*float64(q.Period) {
			best = q
		}
	}
	return best
}

// CPUTime is CPU time split into user and system, in nanoseconds.
type CPUTime struct {
	User   uint64 // ns
	System uint64 // ns
}

// CPUUsage is the CPU time a cgroup's tasks have used since it was created.
type CPUUsage struct {
	// PerCPU is indexed by host CPU number. It is nil when the kernel keeps
	// no per-CPU figures (cgroup v2).
	PerCPU []CPUTime
	// Total is the time over all CPUs.
	Total CPUTime
}

// ParseCpuacctUsageAll parses v1 cpuacct.usage_all (Linux 4.7+): per-CPU
// user and system time in ns, indexed by CPU number.
//
//	cpu user system
//	0 1715825149 48000000
//	^ ^          ^ system ns
//	| user ns
//	cpu number
func ParseCpuacctUsageAll(b []byte) ([]CPUTime, error) {
	header, rest, _ := bytes.Cut(b, []byte("\n"))
	if string(bytes.TrimSpace(header)) != "cpu user system" {
		return nil, fmt.Errorf("cpuacct.usage_all: unexpected header %q", header)
	}
	var out []CPUTime
	for line := range bytes.SplitSeq(rest, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("cpuacct.usage_all: bad line %q", line)
		}
		cpu, err1 := strconv.Atoi(string(f[0]))
		user, err2 := strconv.ParseUint(string(f[1]), 10, 64)
		sys, err3 := strconv.ParseUint(string(f[2]), 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || cpu < 0 || cpu > maxCPUListSpan {
			return nil, fmt.Errorf("cpuacct.usage_all: bad line %q", line)
		}
		for len(out) <= cpu {
			out = append(out, CPUTime{})
		}
		out[cpu] = CPUTime{User: user, System: sys}
	}
	return out, nil
}

// ParseCpuacctUsagePercpu parses v1 cpuacct.usage_percpu: the CPU time in
// ns of every possible CPU, space separated, in CPU order.
func ParseCpuacctUsagePercpu(b []byte) ([]uint64, error) {
	f := bytes.Fields(b)
	out := make([]uint64, len(f))
	for i, s := range f {
		v, err := strconv.ParseUint(string(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("cpuacct.usage_percpu: cpu %d: bad value %q", i, s)
		}
		out[i] = v
	}
	return out, nil
}

// ParseCpuacctStat parses v1 cpuacct.stat: "user N\nsystem N\n" in USER_HZ
// ticks (kernel/sched/cpuacct.c, cpuacct_stats_show).
func ParseCpuacctStat(b []byte) (user, system uint64, err error) {
	var haveUser, haveSystem bool
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return 0, 0, fmt.Errorf("cpuacct.stat: bad line %q", line)
		}
		v, err := strconv.ParseUint(string(f[1]), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("cpuacct.stat: bad line %q", line)
		}
		switch string(f[0]) {
		case "user":
			user, haveUser = v, true
		case "system":
			system, haveSystem = v, true
		}
	}
	if !haveUser || !haveSystem {
		return 0, 0, fmt.Errorf("cpuacct.stat %q: user or system missing", b)
	}
	return user, system, nil
}

// SplitPercpu turns cpuacct.usage_percpu (ns per CPU, not split) into user
// and system time, using the user:system ratio of cpuacct.stat (ticks).
// This is an approximation for kernels without cpuacct.usage_all: the
// ratio is the cgroup's over all CPUs, not each CPU's. When cpuacct.stat
// has sampled no tick at all, the time is counted as user. (lxcfs's
// read_cpuacct_usage_all fallback instead reports the whole time as both
// user and system, counting it twice.)
func SplitPercpu(percpu []uint64, statUser, statSystem uint64) []CPUTime {
	out := make([]CPUTime, len(percpu))
	ticks := statUser + statSystem
	for i, ns := range percpu {
		if ticks == 0 {
			out[i] = CPUTime{User: ns}
			continue
		}
		// ns*statSystem can overflow uint64 after ~5 CPU-years; use float.
		sys := uint64(float64(ns) * float64(statSystem) / float64(ticks))
		sys = min(sys, ns)
		out[i] = CPUTime{User: ns - sys, System: sys}
	}
	return out
}

// ReadCPUUsageV1 reads a v1 cpuacct directory: cpuacct.usage_all, or,
// where that file is missing (before Linux 4.7), cpuacct.usage_percpu split
// by the cpuacct.stat ratio (see SplitPercpu).
func ReadCPUUsageV1(dir string) (CPUUsage, error) { return pathReader().cpuUsageV1(dir) }

func (r *fileReader) cpuUsageV1(dir string) (CPUUsage, error) {
	path := func(name string) string { return filepath.Join(dir, name) }
	b, err := r.file(dir, v1UsageAll)
	if err == nil {
		per, err := ParseCpuacctUsageAll(b)
		if err != nil {
			return CPUUsage{}, fmt.Errorf("parse %s: %w", path(v1UsageAll), err)
		}
		return newCPUUsage(per), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return CPUUsage{}, fmt.Errorf("read %s: %w", path(v1UsageAll), err)
	}
	b, err = r.file(dir, v1UsagePercpu)
	if err != nil {
		return CPUUsage{}, fmt.Errorf("read %s: %w", path(v1UsagePercpu), err)
	}
	percpu, err := ParseCpuacctUsagePercpu(b)
	if err != nil {
		return CPUUsage{}, fmt.Errorf("parse %s: %w", path(v1UsagePercpu), err)
	}
	if b, err = r.file(dir, v1CpuacctStat); err != nil {
		return CPUUsage{}, fmt.Errorf("read %s: %w", path(v1CpuacctStat), err)
	}
	user, sys, err := ParseCpuacctStat(b)
	if err != nil {
		return CPUUsage{}, fmt.Errorf("parse %s: %w", path(v1CpuacctStat), err)
	}
	return newCPUUsage(SplitPercpu(percpu, user, sys)), nil
}

// newCPUUsage sums per-CPU times into a CPUUsage.
func newCPUUsage(per []CPUTime) CPUUsage {
	u := CPUUsage{PerCPU: per}
	for _, t := range per {
		u.Total.User += t.User
		u.Total.System += t.System
	}
	return u
}

// ParseCPUStatV2 parses v2 cpu.stat. Only user_usec and system_usec are
// used; they add up to usage_usec (kernel/sched/cputime.c, cputime_adjust
// scales the sampled split to the exact runtime). v2 keeps no per-CPU
// figures, so PerCPU is nil.
//
//	usage_usec 3575751
//	user_usec 2976962
//	system_usec 598789
//	...
func ParseCPUStatV2(b []byte) (CPUUsage, error) {
	var u CPUUsage
	var haveUser, haveSystem bool
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		key, val, ok := bytes.Cut(line, []byte(" "))
		if !ok {
			continue
		}
		var dst *uint64
		switch string(key) {
		case "user_usec":
			dst, haveUser = &u.Total.User, true
		case "system_usec":
			dst, haveSystem = &u.Total.System, true
		default:
			continue
		}
		v, err := strconv.ParseUint(string(bytes.TrimSpace(val)), 10, 64)
		if err != nil {
			return CPUUsage{}, fmt.Errorf("cpu.stat: bad line %q", line)
		}
		*dst = v * 1000
	}
	if !haveUser || !haveSystem {
		return CPUUsage{}, fmt.Errorf("cpu.stat: user_usec or system_usec missing")
	}
	return u, nil
}

// ReadCPUUsageV2 reads cpu.stat from a v2 cgroup directory.
func ReadCPUUsageV2(dir string) (CPUUsage, error) { return pathReader().cpuUsageV2(dir) }

func (r *fileReader) cpuUsageV2(dir string) (CPUUsage, error) {
	b, err := r.file(dir, v2CPUStat)
	if err != nil {
		return CPUUsage{}, fmt.Errorf("read %s: %w", filepath.Join(dir, v2CPUStat), err)
	}
	u, err := ParseCPUStatV2(b)
	if err != nil {
		return CPUUsage{}, fmt.Errorf("parse %s: %w", filepath.Join(dir, v2CPUStat), err)
	}
	return u, nil
}

// readCPUUsage reads the container's CPU usage; see fileReader.cpuUsage.
func readCPUUsage(cg Cgroup) (CPUUsage, error) { return pathReader().cpuUsage(cg) }

// cpuUsage reads the container's CPU usage from the v1 cpuacct
// controller, else from v2 cpu.stat. An error means unknown.
func (r *fileReader) cpuUsage(cg Cgroup) (CPUUsage, error) {
	if dir := cg.Controller("cpuacct"); dir != "" {
		u, err := r.cpuUsageV1(dir)
		if err == nil || cg.V2 == "" {
			return u, err
		}
	}
	if cg.V2 != "" {
		return r.cpuUsageV2(cg.V2)
	}
	return CPUUsage{}, fmt.Errorf("cpu usage: %w", errNoCPUCgroup)
}
