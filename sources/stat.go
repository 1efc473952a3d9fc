package sources

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// userHZ is USER_HZ, the unit of /proc/stat's cpu lines: 100 for every
// architecture's user space (include/asm-generic/param.h).
const userHZ = 100

// nsPerTick converts ns to USER_HZ ticks the way the kernel's
// nsec_to_clock_t does, truncating.
const nsPerTick = uint64(time.Second) / userHZ

// CPUTicks is one cpu line of /proc/stat, in USER_HZ ticks.
//
//	cpu0 4315 0 16277 59157 98 0 98 7 4 0
//	     ^    ^ ^     ^     ^  ^ ^  ^ ^ ^ guest_nice
//	     user | system idle |  | |  | guest
//	          nice          |  | |  steal
//	                   iowait  | softirq
//	                           irq
type CPUTicks struct {
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ, Steal, Guest, GuestNice uint64
}

// add adds o to t field by field.
func (t *CPUTicks) add(o CPUTicks) {
	t.User += o.User
	t.Nice += o.Nice
	t.System += o.System
	t.Idle += o.Idle
	t.IOWait += o.IOWait
	t.IRQ += o.IRQ
	t.SoftIRQ += o.SoftIRQ
	t.Steal += o.Steal
	t.Guest += o.Guest
	t.GuestNice += o.GuestNice
}

// fields returns t's fields in /proc/stat order.
func (t CPUTicks) fields() [10]uint64 {
	return [10]uint64{t.User, t.Nice, t.System, t.Idle, t.IOWait, t.IRQ, t.SoftIRQ, t.Steal, t.Guest, t.GuestNice}
}

// ParseStatCPUs parses the per-CPU "cpuN" lines of /proc/stat into ticks
// by CPU number. The aggregate "cpu" line is skipped. Kernels before
// 2.6.33 print fewer than 10 fields; the missing ones stay 0, as those
// kernels had no such counter. Fields a future kernel may append are
// ignored.
func ParseStatCPUs(b []byte) (map[int]CPUTicks, error) {
	out := make(map[int]CPUTicks)
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if !bytes.HasPrefix(line, []byte("cpu")) {
			continue
		}
		f := bytes.Fields(line)
		if string(f[0]) == "cpu" {
			continue
		}
		cpu, err := strconv.Atoi(string(f[0][3:]))
		if err != nil || cpu < 0 || len(f) < 5 {
			return nil, fmt.Errorf("stat: bad cpu line %q", line)
		}
		var v [10]uint64
		for i, s := range f[1:min(len(f), 11)] {
			if v[i], err = strconv.ParseUint(string(s), 10, 64); err != nil {
				return nil, fmt.Errorf("stat: bad cpu line %q", line)
			}
		}
		out[cpu] = CPUTicks{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]}
	}
	return out, nil
}

// HostTicks returns the host's cpu lines of the visible CPUs, in order. A
// visible CPU without a host line (offline since the view was computed) is
// left out, as the kernel leaves out offline CPUs (for_each_online_cpu).
func HostTicks(host map[int]CPUTicks, visible []int) []CPUTicks {
	out := make([]CPUTicks, 0, len(visible))
	for _, cpu := range visible {
		if t, ok := host[cpu]; ok {
			out = append(out, t)
		}
	}
	return out
}

// SpreadUsage shares the cgroup's CPU time out over the visible CPUs, in
// order. With per-CPU figures (cgroup v1) each visible CPU keeps its own
// time and the time spent on CPUs the view hides (a quota cut the cpuset)
// is spread evenly over the visible ones, so the total stays the cgroup's
// total. lxcfs (cpuview_proc_stat, src/proc_cpuview.c) moves that
// "surplus" onto visible CPUs up to each one's idle time instead; spreading
// evenly is simpler and keeps each CPU's time monotonic. cgroup v2 keeps no
// per-CPU figures (cpu.stat is cgroup-wide), so there the whole time is
// spread evenly.
func SpreadUsage(u CPUUsage, visible []int) []CPUTime {
	n := len(visible)
	out := make([]CPUTime, n)
	if n == 0 {
		return out
	}
	hidden := u.Total
	if u.PerCPU != nil {
		var all, shown CPUTime
		for _, t := range u.PerCPU {
			all.User += t.User
			all.System += t.System
		}
		for i, cpu := range visible {
			if cpu >= 0 && cpu < len(u.PerCPU) {
				out[i] = u.PerCPU[cpu]
				shown.User += out[i].User
				shown.System += out[i].System
			}
		}
		hidden = CPUTime{User: subSat(all.User, shown.User), System: subSat(all.System, shown.System)}
	}
	for i := range out {
		out[i].User += evenShare(hidden.User, n, i)
		out[i].System += evenShare(hidden.System, n, i)
	}
	return out
}

// evenShare is CPU i's share of total spread over n CPUs: the remainder
// goes one unit each to the first CPUs, so the shares add up to total and
// each share grows monotonically with total.
func evenShare(total uint64, n, i int) uint64 {
	s := total / uint64(n)
	if uint64(i) < total%uint64(n) {
		s++
	}
	return s
}

// subSat is a-b, or 0 when b > a.
func subSat(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// CPUViewInput is what the cpu lines of a container's view derive from.
type CPUViewInput struct {
	Visible []int         // host CPU numbers of the view, in order
	Usage   CPUUsage      // the cgroup's CPU time
	Elapsed time.Duration // since the container's init process started
	// Floor holds the idle ticks handed out by the previous read, by
	// position in the view; idle never goes below them. May be shorter
	// than Visible, or nil.
	Floor []uint64
}

// ViewTicks computes one cpu line per visible CPU: user and system from
// the cgroup's usage (see SpreadUsage), idle = elapsed time minus the
// CPU's usage, never below Floor.
//
// Approximations: idle counts the whole time since the container started
// on every visible CPU; a fractional quota (1.5 CPUs shown as 2) therefore
// shows spare time as idle, where lxcfs subtracts the fraction from one
// CPU's idle. The other fields are 0 because the cgroup does not account
// them: nice time is in user (cpuacct and cpu.stat do not split it out);
// iowait, irq and softirq are per-CPU, not per-cgroup (irq time is charged
// to no task); steal and guest are the host's hypervisor view. lxcfs prints
// 0 for them too.
func ViewTicks(in CPUViewInput) []CPUTicks {
	spread := SpreadUsage(in.Usage, in.Visible)
	elapsed := uint64(max(in.Elapsed, 0)) / nsPerTick
	out := make([]CPUTicks, len(spread))
	for i, t := range spread {
		user, sys := t.User/nsPerTick, t.System/nsPerTick
		idle := subSat(elapsed, user+sys)
		if i < len(in.Floor) {
			idle = max(idle, in.Floor[i])
		}
		out[i] = CPUTicks{User: user, System: sys, Idle: idle}
	}
	return out
}

// StatInput is what a container's /proc/stat derives from.
type StatInput struct {
	// Host is the host's /proc/stat. Every line but the cpu lines and
	// procs_running/procs_blocked is passed through: intr, ctxt and
	// softirq are per-CPU or system-wide counters with no cgroup
	// equivalent; btime must stay the host's because /proc/<pid>/stat
	// start times, which ps adds to it, count from the host's boot; and
	// processes (forks since boot) is not counted per cgroup.
	Host []byte
	// CPUs are the cpu lines of the visible CPUs, printed as cpu0..cpuN-1
	// under a "cpu" line that is their sum. Empty keeps the host's lines.
	CPUs []CPUTicks
	// Tasks are the cgroup's task states for procs_running and
	// procs_blocked; nil keeps the host's lines.
	Tasks *TaskStates
}

// Stat renders a container's /proc/stat in the kernel's format
// (fs/proc/stat.c, show_stat).
func Stat(in StatInput) []byte {
	var buf bytes.Buffer
	writeStat(&buf, in)
	return buf.Bytes()
}

// writeStat is Stat writing into buf. The kernel prints the cpu lines
// first, so they replace the host's at the top.
func writeStat(buf *bytes.Buffer, in StatInput) {
	buf.Grow(len(in.Host) + 64*len(in.CPUs))
	if len(in.CPUs) > 0 {
		writeCPULines(buf, in.CPUs)
	}
	var num [24]byte
	host := in.Host
	for len(host) > 0 {
		line, rest, _ := bytes.Cut(host, []byte("\n"))
		host = rest
		switch {
		case len(in.CPUs) > 0 && bytes.HasPrefix(line, []byte("cpu")):
			continue
		case in.Tasks != nil && bytes.HasPrefix(line, []byte("procs_running ")):
			buf.WriteString("procs_running ")
			buf.Write(strconv.AppendInt(num[:0], int64(in.Tasks.Running), 10))
		case in.Tasks != nil && bytes.HasPrefix(line, []byte("procs_blocked ")):
			buf.WriteString("procs_blocked ")
			buf.Write(strconv.AppendInt(num[:0], int64(in.Tasks.Uninterruptible), 10))
		default:
			buf.Write(line)
		}
		buf.WriteByte('\n')
	}
}

// writeCPULines writes the "cpu" sum line and one "cpuN" line per CPU:
// "cpu " plus a space for the sum (seq_put_decimal_ull(p, "cpu  ", ...)),
// then each field after one space.
func writeCPULines(buf *bytes.Buffer, cpus []CPUTicks) {
	var sum CPUTicks
	for _, t := range cpus {
		sum.add(t)
	}
	var b [24]byte
	buf.WriteString("cpu ")
	for _, v := range sum.fields() {
		buf.WriteByte(' ')
		buf.Write(strconv.AppendUint(b[:0], v, 10))
	}
	buf.WriteByte('\n')
	for i, t := range cpus {
		buf.WriteString("cpu")
		buf.Write(strconv.AppendInt(b[:0], int64(i), 10))
		for _, v := range t.fields() {
			buf.WriteByte(' ')
			buf.Write(strconv.AppendUint(b[:0], v, 10))
		}
		buf.WriteByte('\n')
	}
}

// statState is what /proc/stat keeps between reads, guarded by
// Container.mu: the idle ticks last handed out per position in the view,
// so idle never goes backwards (the time base is the wall clock, which can
// step, and usage is read a moment apart from the clock).
type statState struct {
	idle []uint64
}

// cpuTicks returns the cpu lines of the visible CPUs for one read; both
// /proc/stat and /proc/uptime's idle use it. They come from the cgroup's
// usage when both it and the container's start are known. Otherwise they
// are the host's lines of the visible CPUs (renumbered): without a start
// time or usage there is no container-relative figure to print, and the
// host's are the true values for those CPUs. hostStat is called only then.
// Host lines do not update the idle floor: a transient failure would else
// pin idle at the host's much larger values.
func (c *Container) cpuTicks(r *fileReader, now time.Time, visible []int, hostStat func() ([]byte, error)) ([]CPUTicks, error) {
	if !c.InitStart.IsZero() {
		if usage, err := r.cpuUsage(c.Cgroup); err == nil {
			c.mu.Lock()
			defer c.mu.Unlock()
			ticks := ViewTicks(CPUViewInput{
				Visible: visible,
				Usage:   usage,
				Elapsed: now.Sub(c.InitStart),
				Floor:   c.state.stat.idle,
			})
			for i, t := range ticks {
				if i < len(c.state.stat.idle) {
					c.state.stat.idle[i] = t.Idle
				} else {
					c.state.stat.idle = append(c.state.stat.idle, t.Idle)
				}
			}
			return ticks, nil
		}
	}
	b, err := hostStat()
	if err != nil {
		return nil, err
	}
	host, err := ParseStatCPUs(b)
	if err != nil {
		return nil, err
	}
	return HostTicks(host, visible), nil
}

// renderStat renders /proc/stat for c: see Stat and cpuTicks. A failed
// task count keeps the host's procs_running/procs_blocked.
func renderStat(c *Container, now time.Time, buf *bytes.Buffer) error {
	r := c.fileReader()
	defer c.putReader(r)
	visible, err := c.cpuView(r)
	if err != nil {
		return err
	}
	hb := c.getBuf()
	defer c.putBuf(hb)
	host, err := c.read(c.Host.ProcRoot, "stat", *hb)
	if err != nil {
		return fmt.Errorf("read %s: %w", c.Host.proc("stat"), err)
	}
	*hb = host
	ticks, err := c.cpuTicks(r, now, visible, func() ([]byte, error) { return host, nil })
	if err != nil {
		return fmt.Errorf("parse %s: %w", c.Host.proc("stat"), err)
	}
	in := StatInput{Host: host, CPUs: ticks}
	if ts, err := r.taskStates(c.Host, c.Cgroup); err == nil {
		in.Tasks = &ts
	}
	writeStat(buf, in)
	return nil
}
