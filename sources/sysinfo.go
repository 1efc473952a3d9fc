package sources

import (
	"fmt"
	"time"
)

// AffinityMode chooses what sched_getaffinity(2) reports to a container
// created with lxmount's seccomp rule for it (lxmount-runc). nproc,
// Python's os.sched_getaffinity and os.process_cpu_count, Go's
// runtime.NumCPU, Node's os.availableParallelism and the thread pools
// sized by them (OpenMP, make -j$(nproc), Go's GOMAXPROCS) count the CPUs
// of the mask this call returns.
type AffinityMode string

const (
	// AffinityHost leaves the call to the kernel: the cpuset, whatever
	// the quota. The default.
	AffinityHost AffinityMode = "host"
	// AffinityQuota answers with the CPUs of the container's CPU view
	// (its /sys/devices/system/cpu/online: the cpuset cut to the quota),
	// within the thread's real mask. The mask is then narrower than the
	// CPUs the thread may run on: a program that pins one thread per CPU
	// of it (taskset, numactl, sched_setaffinity with that mask) uses
	// only those CPUs, where the quota alone would let it run on any.
	AffinityQuota AffinityMode = "quota"
)

// SysinfoFields chooses which parts of sysinfo(2) a container sees as its
// own. A part left out keeps the host's values, so that sysinfo agrees
// with the /proc files the container's policy virtualizes.
type SysinfoFields struct {
	Memory bool // totalram, freeram, sharedram, bufferram, totalswap, freeswap (as /proc/meminfo)
	Uptime bool // uptime (as /proc/uptime)
	Load   bool // loads, procs (as /proc/loadavg)
}

// Sysinfo is what a container's sysinfo(2) reports, before the caller
// fills in the host's values for what is not Known. Sizes are in bytes.
type Sysinfo struct {
	MemKnown                                bool
	TotalRAM, FreeRAM, SharedRAM, BufferRAM uint64
	SwapKnown                               bool
	TotalSwap, FreeSwap                     uint64
	UptimeKnown                             bool
	Uptime                                  time.Duration
	LoadKnown                               bool
	Loads                                   LoadAverage // FSHIFT fixed point, as /proc/loadavg's
	ProcsKnown                              bool
	Procs                                   int // tasks (threads) in the cgroup
}

// Sysinfo returns the container's sysinfo(2) values at now from the same
// readings and the same view as its /proc/meminfo, /proc/uptime and
// /proc/loadavg, so that busybox free (sysinfo) and procps free
// (/proc/meminfo) print the same kB:
//
//   - totalram, freeram, sharedram, bufferram, totalswap, freeswap are
//     MemTotal, MemFree, Shmem, Buffers, SwapTotal, SwapFree of the
//     container's /proc/meminfo, in bytes (kB × 1024). The kernel's
//     do_sysinfo takes the same counters (si_meminfo: totalram_pages,
//     NR_FREE_PAGES, NR_SHMEM, nr_blockdev_pages; si_swapinfo).
//   - uptime is the time since the container's init started
//     (Options.Uptime "host" or an unknown start leave it the host's).
//   - loads are the averages /proc/loadavg prints; procs is the cgroup's
//     task count, as the kernel counts nr_threads.
//
// Each part is Known only when f asks for it and its inputs were read.
// Only a failure to read the host's /proc/meminfo is an error.
func (c *Container) Sysinfo(now time.Time, f SysinfoFields) (Sysinfo, error) {
	var s Sysinfo
	if f.Memory {
		hb, sb := c.getBuf(), c.getBuf()
		defer c.putBuf(hb)
		defer c.putBuf(sb)
		host, err := readHostMeminfo(c.read, c.Host, *hb)
		if err != nil {
			return s, fmt.Errorf("sysinfo: %w", err)
		}
		*hb = host
		m, _ := readMemory(c.read, *sb, c.Cgroup) // unknown values stay the host's
		v := meminfoView(parseHostMeminfo(host), m, c.Options.Swap)
		total, ok1 := v.get(mfMemTotal)
		free, ok2 := v.get(mfMemFree)
		if ok1 && ok2 {
			h := parseHostMeminfo(host)
			s.MemKnown = true
			s.TotalRAM, s.FreeRAM = total*1024, free*1024
			s.SharedRAM = sysinfoKB(v, h, mfShmem) * 1024
			s.BufferRAM = sysinfoKB(v, h, mfBuffers) * 1024
			st, ok3 := v.get(mfSwapTotal)
			sf, ok4 := v.get(mfSwapFree)
			if ok3 && ok4 {
				s.SwapKnown = true
				s.TotalSwap, s.FreeSwap = st*1024, sf*1024
			}
		}
	}
	if f.Uptime && c.Options.Uptime != UptimeHost && !c.InitStart.IsZero() {
		s.UptimeKnown, s.Uptime = true, max(now.Sub(c.InitStart), 0)
	}
	if f.Load {
		c.mu.Lock()
		s.LoadKnown, s.Loads = true, c.state.load.avg
		c.mu.Unlock()
		r := c.fileReader()
		ts, err := r.taskStates(c.Host, c.Cgroup)
		c.putReader(r)
		if err == nil {
			s.ProcsKnown, s.Procs = true, ts.Total
		}
	}
	return s, nil
}

// sysinfoKB is field f of the container's view v, else the host's h
// (meminfo keeps the host's line where the cgroup has no counter), else 0.
func sysinfoKB(v, h meminfoValues, f meminfoField) uint64 {
	if kb, ok := v.get(f); ok {
		return kb
	}
	kb, _ := h.get(f)
	return kb
}

// VisibleCPUs returns the CPUs the container's /proc/cpuinfo and
// /sys/devices/system/cpu/online show (see the package's CPU view), for
// callers that answer sched_getaffinity(2) with them.
func (c *Container) VisibleCPUs() ([]int, error) { return c.visibleCPUs() }
