package integration

// TestPrograms runs the programs people size a machine with — procps free,
// top, uptime and vmstat, busybox top, uptime and free, Python's psutil,
// Node's os module, getconf and nproc — inside attached containers, and
// checks that each reports the container: 256 MiB, the visible CPUs, the
// container's uptime and load average.
//
// Some values come from a system call that no file view can change
// (sysinfo(2), sched_getaffinity(2)) or from a file lxmount does not serve
// (/sys/devices/system/cpu/possible, the sysfs CPU topology). The test
// records those with t.Logf and asserts they are the kernel's value (the
// host's, or the cpuset for sched_getaffinity), so a change of behaviour in
// a new version of a program is noticed. README.md's limits table lists
// them. Which file or system call each program uses was measured with
// strace on Debian 12 (procps 4.0.2, busybox 1.35, glibc 2.36, psutil
// 5.9.4, Node 20); the row comments say what strace showed.

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lxmount/lxmount/sources"
)

// programContainer is one attached container the programs run in, with what
// they should see in it.
type programContainer struct {
	exec func(args ...string) (string, error)
	// cpus is the number of visible CPUs: the cpuset cut to ceil(quota/period).
	cpus int
	// affinity is the number of CPUs in the cgroup's cpuset, which the kernel
	// puts in every member's affinity mask (sched_getaffinity(2)).
	affinity int
	// started is a time taken before the container was started: its uptime
	// cannot be longer than time.Since(started).
	started time.Time
	// swapKB is SwapTotal of the container's /proc/meminfo.
	swapKB int64
}

// programContainerCase is one container set-up of TestPrograms.
type programContainerCase struct {
	name  string
	runc  bool // a runc container; else startNamespaced
	quota int64
	// oneCPU restricts the cpuset to one CPU with `runc update`: the host's
	// last, so that the renumbering to cpu0 is exercised.
	oneCPU bool
}

// programContainerCases cover both kinds of container with 1.5 CPUs (two
// visible CPUs on a 2-CPU host), a quota below one CPU (one visible CPU, but
// sched_getaffinity still gives the whole cpuset) and a cpuset of one CPU
// under a 1.5 CPU quota (one visible CPU, and the affinity follows).
var programContainerCases = []programContainerCase{
	{name: "runc-1.5cpu", runc: true, quota: 150000},
	{name: "namespaced-1.5cpu", quota: 150000},
	{name: "namespaced-0.5cpu", quota: 50000},
	{name: "runc-cpuset1", runc: true, quota: 150000, oneCPU: true},
}

// progPeriod is the CFS period of every container, in µs.
const progPeriod = 100000

// programCase is one program run in a container.
type programCase struct {
	name string // the subtest's name: the program
	args []string
	// loads brackets the run with reads of the container's /proc/loadavg, for
	// checks that compare a load average with it.
	loads bool
	check func(t *testing.T, r *programRun)
}

// programRun is what a check gets: the program's output and what the
// container and the host showed just before and just after it ran.
type programRun struct {
	c   *programContainer
	out string
	// containerLoads are the container's /proc/loadavg before and after the
	// run (only when the case asks for loads).
	containerLoads [2]progLoadavg
	// host is the host's view before and after the run.
	host [2]progHostView
}

// progHostView is what the kernel tells the test process itself, in the
// host's namespaces.
type progHostView struct {
	loads   progLoadavg // /proc/loadavg
	sysinfo syscall.Sysinfo_t
}

// progLoadavg is the 1, 5 and 15 minute load averages.
type progLoadavg [3]float64

// progLoadRe matches the load averages of procps top and uptime ("load
// average: 0.51, 0.72, 0.59"), busybox uptime (the same) and busybox top
// ("Load average: 0.51 0.72 0.59 1/160 27054").
var progLoadRe = regexp.MustCompile(`(?i)load average:\s*([0-9.]+),?\s+([0-9.]+),?\s+([0-9.]+)`)

// progUpRe matches procps' and busybox's "up 2 days, 3:04", "up 1:02" and
// "up 31 min".
var progUpRe = regexp.MustCompile(`up\s+(?:(\d+)\s+days?,\s+)?(?:(\d+):(\d+)|(\d+)\s+min)`)

func TestPrograms(t *testing.T) {
	requireRoot(t)
	requireCgroup(t)
	requireCommands(t, "runc", "/usr/bin/free", "/usr/bin/top", "/usr/bin/uptime", "/usr/bin/vmstat",
		busyboxPath, "/usr/bin/python3", "/usr/bin/node", "/usr/bin/getconf", "/usr/bin/nproc", "/usr/bin/env")
	if out, err := runCommand(true, "/usr/bin/python3", "-c", "import psutil"); err != nil {
		skipOrFail(t, "needs python3-psutil (run `make deps`): %v: %s", err, out)
	}
	hostPhysical := progPhysicalCPUs(t, progHostCommand)
	hostPossible := progGetconf(t, progHostCommand, "_NPROCESSORS_CONF")

	for _, cc := range programContainerCases {
		t.Run(cc.name, func(t *testing.T) {
			c := startProgramContainer(t, cc)
			for _, pc := range programCases(hostPhysical, hostPossible) {
				t.Run(pc.name, func(t *testing.T) { runProgramCase(t, c, pc) })
			}
		})
	}
}

// programCases is the table of programs. hostPhysical and hostPossible are
// what psutil.cpu_count(logical=False) and getconf _NPROCESSORS_CONF say on
// the host.
func programCases(hostPhysical *int, hostPossible int) []programCase {
	return []programCase{
		// strace: openat /proc/meminfo, nothing else.
		{name: "free", args: []string{"/usr/bin/free", "-k"}, check: checkProcpsFree},
		// strace: openat /proc/stat, /proc/meminfo, /proc/loadavg, /proc/uptime,
		// /proc/cpuinfo, the /proc/<pid> directories (tasks); libnuma also reads
		// /sys/devices/system/cpu/possible and node0/meminfo and calls
		// sched_getaffinity, which the default display does not show.
		{name: "top", args: []string{"/usr/bin/top", "-bn1"}, loads: true, check: checkProcpsTop},
		// top -1 prints one %CpuN line per cpuN line of /proc/stat. Wide, as
		// procps 4.0.2 packs them side by side and cuts the second at 80 columns.
		{name: "top -1", args: []string{"/usr/bin/top", "-bn1", "-1", "-w", "512"}, check: checkProcpsTopPerCPU},
		// strace: openat /proc/uptime, /proc/loadavg.
		{name: "uptime", args: []string{"/usr/bin/uptime"}, loads: true, check: checkProcpsUptime},
		// uptime -s prints now - /proc/uptime, in local time: UTC here.
		{name: "uptime -s", args: []string{"/usr/bin/env", "TZ=UTC", "/usr/bin/uptime", "-s"}, check: checkProcpsUptimeSince},
		// strace: openat /proc/vmstat (si, so, bi, bo: the host's, not served),
		// /proc/stat, /proc/meminfo, /proc/cpuinfo.
		{name: "vmstat", args: []string{"/usr/bin/vmstat"}, check: checkVmstat},
		{name: "vmstat -s", args: []string{"/usr/bin/vmstat", "-s"}, check: checkVmstatS},
		// strace: chdir /proc, openat stat, meminfo, loadavg, the /proc/<pid>
		// directories; it also calls sysinfo(2), which the output does not show.
		{name: "busybox top", args: []string{busyboxPath, "top", "-bn1"}, loads: true, check: checkBusyboxTop},
		// strace: sysinfo(2) only (uptime and loads), and /var/run/utmp.
		{name: "busybox uptime", args: []string{busyboxPath, "uptime"}, check: checkBusyboxUptime},
		// strace: sysinfo(2) (total, free, shared, buffers) and /proc/meminfo
		// (cached, available).
		{name: "busybox free", args: []string{busyboxPath, "free"}, check: checkBusyboxFree},
		// strace per call: virtual_memory /proc/meminfo; swap_memory /proc/meminfo
		// and /proc/vmstat; cpu_count /sys/devices/system/cpu/online;
		// cpu_count(logical=False) /sys/devices/system/cpu/cpuN/topology/core_cpus_list;
		// cpu_times and boot_time /proc/stat; getloadavg and os.getloadavg
		// sysinfo(2) (glibc 2.36's getloadavg); os.cpu_count
		// /sys/devices/system/cpu/online; os.sched_getaffinity
		// sched_getaffinity(2); sysconf(SC_PHYS_PAGES) sysinfo(2).
		{name: "python3 psutil", args: []string{"/usr/bin/python3", "-c", progPsutilScript}, check: func(t *testing.T, r *programRun) {
			checkPsutil(t, r, hostPhysical)
		}},
		// strace per call: totalmem and freemem /proc/meminfo (MemTotal,
		// MemAvailable); cpus /proc/stat and /proc/cpuinfo; uptime /proc/uptime;
		// loadavg /proc/loadavg; availableParallelism sched_getaffinity(2).
		{name: "node os", args: []string{"/usr/bin/node", "-e", progNodeScript}, loads: true, check: checkNode},
		// strace: openat /sys/devices/system/cpu/online.
		{name: "getconf _NPROCESSORS_ONLN", args: []string{"/usr/bin/getconf", "_NPROCESSORS_ONLN"}, check: func(t *testing.T, r *programRun) {
			if got := progInt(t, r.out); got != r.c.cpus {
				t.Errorf("_NPROCESSORS_ONLN = %d, want %d visible CPUs", got, r.c.cpus)
			}
		}},
		// strace: openat /sys/devices/system/cpu/possible, served by the
		// sys_cpu tree: the visible CPUs.
		{name: "getconf _NPROCESSORS_CONF", args: []string{"/usr/bin/getconf", "_NPROCESSORS_CONF"}, check: func(t *testing.T, r *programRun) {
			if got := progInt(t, r.out); got != r.c.cpus {
				t.Errorf("_NPROCESSORS_CONF = %d, want %d visible CPUs", got, r.c.cpus)
			}
		}},
		// strace: sysinfo(2) (glibc's __get_phys_pages): the host's RAM.
		{name: "getconf _PHYS_PAGES", args: []string{"/usr/bin/getconf", "_PHYS_PAGES"}, check: func(t *testing.T, r *programRun) {
			got := int64(progInt(t, r.out))
			want := int64(r.host[0].sysinfo.Totalram) * int64(r.host[0].sysinfo.Unit) / int64(os.Getpagesize())
			t.Logf("limit: getconf _PHYS_PAGES = %d (sysinfo(2): %d MiB, the host's)", got, got*int64(os.Getpagesize())>>20)
			if got != want {
				t.Errorf("_PHYS_PAGES = %d, want the host's %d", got, want)
			}
		}},
		// strace: sched_getaffinity(2) only.
		{name: "nproc", args: []string{"/usr/bin/nproc"}, check: func(t *testing.T, r *programRun) {
			got := progInt(t, r.out)
			t.Logf("limit: nproc = %d (sched_getaffinity(2): the cpuset's %d CPUs; %d visible)", got, r.c.affinity, r.c.cpus)
			if got != r.c.affinity {
				t.Errorf("nproc = %d, want the cpuset's %d CPUs", got, r.c.affinity)
			}
		}},
	}
}

// startProgramContainer starts the container of cc with 256 MiB, attaches
// it with a daemon of its own and checks the attachment took.
func startProgramContainer(t *testing.T, cc programContainerCase) *programContainer {
	online, err := sources.ReadCPUList("/sys/devices/system/cpu/online")
	if err != nil {
		t.Fatalf("host CPUs: %v", err)
	}
	cpuset := online
	if cc.oneCPU {
		cpuset = online[len(online)-1:]
	}
	c := &programContainer{
		cpus:     max(1, min(len(cpuset), int((cc.quota+progPeriod-1)/progPeriod))),
		affinity: len(cpuset),
		started:  time.Now(),
	}

	var pid int
	var cgroupPath string
	if cc.runc {
		rc := startRunc(t, buildBusyboxRootfs(t), "programs", limit256MiB, cc.quota, progPeriod, true)
		if cc.oneCPU {
			if out, err := runCommand(true, "runc", "--root", rc.Root, "update", "--cpuset-cpus", sources.FormatCPUList(cpuset), rc.ID); err != nil {
				t.Fatalf("runc update: %v: %s", err, out)
			}
		}
		pid, cgroupPath = rc.PID, rc.CgroupPath
		c.exec = func(args ...string) (string, error) { return rc.Exec(t, args...) }
	} else {
		if cc.oneCPU {
			t.Fatalf("%s: oneCPU is for runc containers (runc update)", cc.name)
		}
		cg := newCgroup(t, "programs", limit256MiB, cc.quota, progPeriod)
		p := startNamespaced(t, cg)
		pid, cgroupPath = p.PID, cg.Path
		c.exec = func(args ...string) (string, error) { return p.Exec(t, args...) }
	}

	in := newInstance(t, "", cgroupPath)
	// The programs' uptime is checked against the container's age: an
	// attach of a running container shows the host's by default unless it
	// comes within 2 s of the init's start (sources.ResolveUptime), which
	// the emulated v2 VM does not make.
	in.writePolicy("10-test.toml", fmt.Sprintf("[[policy]]\nname = \"test\"\n[policy.match]\ncgroup = %s\n[policy.uptime]\nsource = \"container\"\n", tomlList([]string{cgroupPath})))
	in.startDaemon()
	in.mustRun("attach", strconv.Itoa(pid))

	meminfo, err := c.exec("cat", "/proc/meminfo")
	if err != nil {
		t.Fatalf("cat /proc/meminfo inside: %v\n%s", err, meminfo)
	}
	if got := memTotalKB(t, meminfo); got != kb256MiB {
		t.Fatalf("attached, but MemTotal is %d kB, want %d\n%s", got, kb256MiB, meminfo)
	}
	c.swapKB = progMeminfoKB(t, meminfo, "SwapTotal:")
	online2, err := c.exec("cat", "/sys/devices/system/cpu/online")
	if err != nil {
		t.Fatalf("cat /sys/devices/system/cpu/online inside: %v\n%s", err, online2)
	}
	if want := sources.FormatCPUList(progSeq(c.cpus)); strings.TrimSpace(online2) != want {
		t.Fatalf("attached, but /sys/devices/system/cpu/online is %q, want %q", online2, want)
	}
	t.Logf("container: %d visible CPUs, cpuset %s, SwapTotal %d kB", c.cpus, sources.FormatCPUList(cpuset), c.swapKB)
	return c
}

// runProgramCase runs one program case in c and prints the program's whole
// output when a check fails.
func runProgramCase(t *testing.T, c *programContainer, pc programCase) {
	r := &programRun{c: c}
	if pc.loads {
		r.containerLoads[0] = progContainerLoads(t, c)
	}
	r.host[0] = progReadHost(t)
	out, err := c.exec(pc.args...)
	r.host[1] = progReadHost(t)
	if pc.loads {
		r.containerLoads[1] = progContainerLoads(t, c)
	}
	r.out = out
	if err != nil {
		t.Fatalf("%s: %v\noutput:\n%s", strings.Join(pc.args, " "), err, out)
	}
	defer func() {
		if t.Failed() {
			t.Logf("output of %s:\n%s", strings.Join(pc.args, " "), out)
		}
	}()
	pc.check(t, r)
}

// checkProcpsFree: "Mem:" total is 256 MiB, the other columns fit in it, and
// "Swap:" is the container's SwapTotal.
func checkProcpsFree(t *testing.T, r *programRun) {
	//                total        used        free      shared  buff/cache   available
	// Mem:          262144        1234      250000           0       10910      260910
	// Swap:              0           0           0
	mem := progFields(t, r.out, "Mem:", 6)
	if mem[0] != kb256MiB {
		t.Errorf("Mem: total %d kB, want %d", mem[0], kb256MiB)
	}
	for i, name := range []string{"used", "free", "shared", "buff/cache", "available"} {
		if v := mem[i+1]; v < 0 || v > mem[0] {
			t.Errorf("Mem: %s %d kB is outside 0..total %d", name, v, mem[0])
		}
	}
	// procps adds SReclaimable to Cached as buff/cache: with the host's slab
	// lines that exceeded the container's memory (see meminfoSlabCapped).
	if free, cache := mem[2], mem[4]; free+cache > mem[0] {
		t.Errorf("Mem: free %d + buff/cache %d kB exceeds total %d", free, cache, mem[0])
	}
	if swap := progFields(t, r.out, "Swap:", 3); swap[0] != r.c.swapKB {
		t.Errorf("Swap: total %d kB, want the container's SwapTotal %d", swap[0], r.c.swapKB)
	}
}

// checkProcpsTop: the header shows 256 MiB, the Swap total, a Cpu(s) line
// of percentages adding up to 100, the container's few tasks, uptime and
// load average.
func checkProcpsTop(t *testing.T, r *programRun) {
	// top - 12:48:28 up 0 min,  0 user,  load average: 0.00, 0.00, 0.00
	// Tasks:   2 total,   1 running,   1 sleeping,   0 stopped,   0 zombie
	// %Cpu(s):  0.0 us,  0.0 sy,  0.0 ni,100.0 id,  0.0 wa,  0.0 hi,  0.0 si,  0.0 st
	// MiB Mem :    256.0 total,    250.1 free,      1.2 used,      4.7 buff/cache
	// MiB Swap:      0.0 total,      0.0 free,      0.0 used.    254.8 avail Mem
	m := progMatch(t, r.out, `MiB Mem :\s*([0-9.]+) total,\s*([0-9.]+) free,\s*([0-9.]+) used,\s*([0-9.]+) buff/cache`)
	if m[1] != "256.0" {
		t.Errorf("MiB Mem total %s, want 256.0", m[1])
	}
	for _, v := range m[2:] {
		if f := progFloat(t, v); f < 0 || f > 256.05 {
			t.Errorf("MiB Mem: value %s outside 0..256.0", v)
		}
	}
	if free, cache := progFloat(t, m[2]), progFloat(t, m[4]); free+cache > 256.1 {
		t.Errorf("MiB Mem: free %.1f + buff/cache %.1f exceeds 256.0", free, cache)
	}
	sw := progMatch(t, r.out, `MiB Swap:\s*([0-9.]+) total`)
	if want := fmt.Sprintf("%.1f", float64(r.c.swapKB)/1024); sw[1] != want {
		t.Errorf("MiB Swap total %s, want the container's %s", sw[1], want)
	}

	cpu := progMatch(t, r.out, `%Cpu\(s\):\s*([0-9.]+) us,\s*([0-9.]+) sy,\s*([0-9.]+) ni,\s*([0-9.]+) id,\s*([0-9.]+) wa,\s*([0-9.]+) hi,\s*([0-9.]+) si,\s*([0-9.]+) st`)
	var sum float64
	for _, v := range cpu[1:] {
		sum += progFloat(t, v)
	}
	if math.Abs(sum-100) > 0.5 {
		t.Errorf("%%Cpu(s) percentages add up to %.1f, want 100", sum)
	}

	tasks := progInt(t, progMatch(t, r.out, `Tasks:\s*(\d+) total`)[1])
	// The container's init (sleep) and top itself; a few more would be
	// plausible, the host's hundred would not.
	if tasks < 2 || tasks > 10 {
		t.Errorf("Tasks: %d total, want the container's few (2..10)", tasks)
	}
	checkProgUpSmall(t, r)
	checkProgContainerLoads(t, r)
}

// checkProcpsTopPerCPU: one %CpuN line for each visible CPU.
func checkProcpsTopPerCPU(t *testing.T, r *programRun) {
	got := regexp.MustCompile(`%Cpu(\d+)\s*:`).FindAllStringSubmatch(r.out, -1)
	if len(got) != r.c.cpus {
		t.Errorf("top -1 shows %d %%CpuN lines, want %d visible CPUs", len(got), r.c.cpus)
	}
	for i, m := range got {
		if m[1] != strconv.Itoa(i) {
			t.Errorf("top -1: CPU %d is named %%Cpu%s, want %%Cpu%d", i, m[1], i)
		}
	}
}

// checkProcpsUptime: up a few seconds ("0 min"), the container's load.
func checkProcpsUptime(t *testing.T, r *programRun) {
	checkProgUpSmall(t, r)
	checkProgContainerLoads(t, r)
}

// checkProcpsUptimeSince: "up since" is after the container started.
func checkProcpsUptimeSince(t *testing.T, r *programRun) {
	since, err := time.ParseInLocation("2006-01-02 15:04:05", strings.TrimSpace(r.out), time.UTC)
	if err != nil {
		t.Fatalf("uptime -s: %v", err)
	}
	// The output has whole seconds, and procps truncates the uptime.
	lo, hi := r.c.started.Add(-2*time.Second), time.Now().Add(time.Second)
	if since.Before(lo) || since.After(hi) {
		t.Errorf("uptime -s = %s, want the container's start, between %s and %s (host booted %s)",
			since.Format(time.DateTime), lo.UTC().Format(time.DateTime), hi.UTC().Format(time.DateTime),
			time.Now().Add(-time.Duration(r.host[0].sysinfo.Uptime)*time.Second).UTC().Format(time.DateTime))
	}
}

// checkVmstat: the memory columns fit in 256 MiB, swpd in the container's
// swap.
func checkVmstat(t *testing.T, r *programRun) {
	// procs -----------memory---------- ---swap-- -----io---- -system-- ------cpu-----
	//  r  b   swpd   free   buff  cache   si   so    bi    bo   in   cs us sy id wa st
	//  1  0      0 250000      0  10910    0    0   570   400  473 1084 14  6 80  0  0
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if len(lines) < 3 {
		t.Fatalf("vmstat printed %d lines, want 3", len(lines))
	}
	names, values := strings.Fields(lines[len(lines)-2]), strings.Fields(lines[len(lines)-1])
	if len(names) != len(values) {
		t.Fatalf("vmstat: %d column names, %d values", len(names), len(values))
	}
	col := map[string]int64{}
	for i, n := range names {
		col[n] = int64(progInt(t, values[i]))
	}
	for _, n := range []string{"swpd", "free", "buff", "cache", "bi", "bo", "in", "cs", "us", "sy", "id", "wa", "st"} {
		if _, ok := col[n]; !ok {
			t.Fatalf("vmstat: no column %q in %q", n, names)
		}
	}
	if sum := col["free"] + col["buff"] + col["cache"]; col["free"] <= 0 || sum > kb256MiB {
		t.Errorf("vmstat: free %d + buff %d + cache %d = %d kB, want 0 < free and sum <= %d",
			col["free"], col["buff"], col["cache"], sum, kb256MiB)
	}
	// The first report's rates divide counters since the host's boot
	// (/proc/vmstat pgpgin/pgpgout, /proc/stat intr/ctxt: no cgroup
	// equivalent) by the time the container's /proc/stat cpu lines span.
	t.Logf("limit: vmstat bi %d, bo %d, in %d, cs %d per second (host counters since its boot over the container's CPU time)",
		col["bi"], col["bo"], col["in"], col["cs"])
	if col["swpd"] > r.c.swapKB {
		t.Errorf("vmstat: swpd %d kB exceeds the container's SwapTotal %d", col["swpd"], r.c.swapKB)
	}
	if sum := col["us"] + col["sy"] + col["id"] + col["wa"] + col["st"]; sum < 97 || sum > 103 {
		t.Errorf("vmstat: cpu columns add up to %d, want about 100", sum)
	}
}

// checkVmstatS: "K total memory" is 256 MiB, "K total swap" the container's.
func checkVmstatS(t *testing.T, r *programRun) {
	if got := progInt(t, progMatch(t, r.out, `(\d+) K total memory`)[1]); got != kb256MiB {
		t.Errorf("vmstat -s: %d K total memory, want %d", got, kb256MiB)
	}
	if got := int64(progInt(t, progMatch(t, r.out, `(\d+) K total swap`)[1])); got != r.c.swapKB {
		t.Errorf("vmstat -s: %d K total swap, want the container's %d", got, r.c.swapKB)
	}
}

// checkBusyboxTop: busybox top's header lines come from the files: used +
// free = 256 MiB, the container's load average, and only the container's
// processes.
func checkBusyboxTop(t *testing.T, r *programRun) {
	// Mem: 1234K used, 260910K free, 0K shrd, 0K buff, 10910K cached
	// CPU:   0% usr   0% sys   0% nic 100% idle   0% io   0% irq   0% sirq
	// Load average: 0.00 0.00 0.00 1/3 12
	//   PID  PPID USER     STAT   VSZ %VSZ %CPU COMMAND
	m := progMatch(t, r.out, `Mem: (\d+)K used, (\d+)K free`)
	if used, free := progInt(t, m[1]), progInt(t, m[2]); used+free != kb256MiB {
		t.Errorf("busybox top: %dK used + %dK free = %dK, want %d", used, free, used+free, kb256MiB)
	}
	cpu := progMatch(t, r.out, `CPU:\s*(\d+)% usr\s+(\d+)% sys\s+(\d+)% nic\s+(\d+)% idle`)
	var sum int
	for _, v := range cpu[1:] {
		sum += progInt(t, v)
	}
	if sum > 101 {
		t.Errorf("busybox top: CPU percentages add up to %d", sum)
	}
	checkProgContainerLoads(t, r)
	_, list, ok := strings.Cut(r.out, "COMMAND\n")
	if !ok {
		t.Fatalf("busybox top: no process list")
	}
	if n := len(strings.Split(strings.TrimSpace(list), "\n")); n < 2 || n > 10 {
		t.Errorf("busybox top lists %d processes, want the container's few (2..10)", n)
	}
}

// checkBusyboxUptime records that busybox uptime shows the host's uptime and
// load average: both come from sysinfo(2).
func checkBusyboxUptime(t *testing.T, r *programRun) {
	up := progUp(t, r.out)
	got := progParseLoads(t, r.out)
	t.Logf("limit: busybox uptime = up %s, load %v (sysinfo(2): the host's)", up, got)
	lo := time.Duration(r.host[0].sysinfo.Uptime) * time.Second
	hi := time.Duration(r.host[1].sysinfo.Uptime) * time.Second
	if up < lo.Truncate(time.Minute) || up > hi {
		t.Errorf("busybox uptime: up %s, want the host's %s..%s", up, lo, hi)
	}
	// busybox truncates the fixed-point loads to 2 decimals, the kernel's
	// /proc/loadavg rounds them.
	if !got.within(r.host[0].loads, r.host[1].loads, 0.015) {
		t.Errorf("busybox uptime: load %v, want the host's %v..%v", got, r.host[0].loads, r.host[1].loads)
	}
}

// checkBusyboxFree records that busybox free's total is the host's RAM
// (sysinfo(2)) while its available column is the container's (/proc/meminfo).
func checkBusyboxFree(t *testing.T, r *programRun) {
	//               total        used        free      shared  buff/cache   available
	// Mem:       24684092      609612    23362512        8856      711968      260910
	mem := progFields(t, r.out, "Mem:", 6)
	host := int64(r.host[0].sysinfo.Totalram) * int64(r.host[0].sysinfo.Unit) >> 10
	t.Logf("limit: busybox free: total %d kB (sysinfo(2): the host's), available %d kB (/proc/meminfo: the container's)", mem[0], mem[5])
	if mem[0] != host {
		t.Errorf("busybox free: total %d kB, want the host's %d (sysinfo)", mem[0], host)
	}
	if mem[5] > kb256MiB {
		t.Errorf("busybox free: available %d kB, want the container's, at most %d", mem[5], kb256MiB)
	}
}

// progPsutilScript prints what psutil and os say about the machine, as JSON.
const progPsutilScript = `import json, os, psutil
vm = psutil.virtual_memory()
print(json.dumps({
    "total": vm.total, "available": vm.available, "free": vm.free,
    "buffers": vm.buffers, "cached": vm.cached,
    "swap_total": psutil.swap_memory().total,
    "cpu_count": psutil.cpu_count(),
    "cpu_count_physical": psutil.cpu_count(logical=False),
    "percpu": len(psutil.cpu_times(percpu=True)),
    "cpu_times": psutil.cpu_times()._asdict(),
    "boot_time": psutil.boot_time(),
    "getloadavg": psutil.getloadavg(),
    "os_cpu_count": os.cpu_count(),
    "affinity": len(os.sched_getaffinity(0)),
    "phys_pages": os.sysconf("SC_PHYS_PAGES"),
}))`

// progPsutilOut is progPsutilScript's output.
type progPsutilOut struct {
	Total            int64              `json:"total"`
	Available        int64              `json:"available"`
	Free             int64              `json:"free"`
	Buffers          int64              `json:"buffers"`
	Cached           int64              `json:"cached"`
	SwapTotal        int64              `json:"swap_total"`
	CPUCount         int                `json:"cpu_count"`
	CPUCountPhysical *int               `json:"cpu_count_physical"`
	PerCPU           int                `json:"percpu"`
	CPUTimes         map[string]float64 `json:"cpu_times"`
	BootTime         float64            `json:"boot_time"`
	GetLoadavg       progLoadavg        `json:"getloadavg"`
	OSCPUCount       int                `json:"os_cpu_count"`
	Affinity         int                `json:"affinity"`
	PhysPages        int64              `json:"phys_pages"`
}

func checkPsutil(t *testing.T, r *programRun, hostPhysical *int) {
	var p progPsutilOut
	progJSON(t, r.out, &p)
	if p.Total != limit256MiB {
		t.Errorf("virtual_memory().total = %d, want %d", p.Total, limit256MiB)
	}
	if p.Available <= 0 || p.Available > p.Total || p.Free <= 0 || p.Free > p.Total {
		t.Errorf("virtual_memory(): available %d, free %d, want both in 1..total %d", p.Available, p.Free, p.Total)
	}
	// psutil's cached is Cached + SReclaimable.
	if sum := p.Free + p.Buffers + p.Cached; sum > p.Total {
		t.Errorf("virtual_memory(): free %d + buffers %d + cached %d = %d exceeds total %d", p.Free, p.Buffers, p.Cached, sum, p.Total)
	}
	if p.SwapTotal != r.c.swapKB*1024 {
		t.Errorf("swap_memory().total = %d, want the container's SwapTotal %d", p.SwapTotal, r.c.swapKB*1024)
	}
	if p.CPUCount != r.c.cpus || p.OSCPUCount != r.c.cpus || p.PerCPU != r.c.cpus {
		t.Errorf("cpu_count() %d, os.cpu_count() %d, len(cpu_times(percpu=True)) %d, want %d visible CPUs",
			p.CPUCount, p.OSCPUCount, p.PerCPU, r.c.cpus)
	}
	// The container's CPU time: at most its visible CPUs for as long as it ran.
	ran := time.Since(r.c.started).Seconds()
	if busy := p.CPUTimes["user"] + p.CPUTimes["system"]; busy < 0 || busy > ran*float64(r.c.cpus)+1 {
		t.Errorf("cpu_times(): user+system %.2f s, want the container's, at most %.1f s × %d CPUs", busy, ran, r.c.cpus)
	}
	if idle := p.CPUTimes["idle"]; idle < 0 || idle > ran*float64(r.c.cpus)+1 {
		t.Errorf("cpu_times(): idle %.2f s, want at most the container's %.1f s × %d CPUs", idle, ran, r.c.cpus)
	}

	// Values the container cannot change, recorded.
	btime := progHostBtime(t)
	t.Logf("limit: psutil.boot_time() = %.0f (/proc/stat btime, kept the host's: ps adds /proc/<pid>/stat start times to it)", p.BootTime)
	if p.BootTime != float64(btime) {
		t.Errorf("boot_time() = %.0f, want the host's btime %d", p.BootTime, btime)
	}
	t.Logf("limit: psutil.getloadavg() = %v (sysinfo(2) via glibc getloadavg: the host's)", p.GetLoadavg)
	if !p.GetLoadavg.within(r.host[0].loads, r.host[1].loads, 0.01) {
		t.Errorf("getloadavg() = %v, want the host's %v..%v", p.GetLoadavg, r.host[0].loads, r.host[1].loads)
	}
	t.Logf("limit: len(os.sched_getaffinity(0)) = %d (sched_getaffinity(2): the cpuset)", p.Affinity)
	if p.Affinity != r.c.affinity {
		t.Errorf("len(os.sched_getaffinity(0)) = %d, want the cpuset's %d", p.Affinity, r.c.affinity)
	}
	hostPages := int64(r.host[0].sysinfo.Totalram) * int64(r.host[0].sysinfo.Unit) / int64(os.Getpagesize())
	t.Logf("limit: os.sysconf('SC_PHYS_PAGES') = %d (sysinfo(2): the host's)", p.PhysPages)
	if p.PhysPages != hostPages {
		t.Errorf("sysconf(SC_PHYS_PAGES) = %d, want the host's %d", p.PhysPages, hostPages)
	}
	// psutil 5.9 counts the distinct cpuN/topology/core_cpus_list (else
	// thread_siblings_list) of the CPU directories: the sys_cpu tree's,
	// one core per visible CPU on this host (no SMT).
	if progDeref(p.CPUCountPhysical) != strconv.Itoa(r.c.cpus) {
		t.Errorf("cpu_count(logical=False) = %v, want %d visible CPUs (host: %v)", progDeref(p.CPUCountPhysical), r.c.cpus, progDeref(hostPhysical))
	}
}

// progNodeScript prints what Node's os module says about the machine, as JSON.
const progNodeScript = `const os = require('os');
console.log(JSON.stringify({
  totalmem: os.totalmem(), freemem: os.freemem(), cpus: os.cpus().length,
  uptime: os.uptime(), loadavg: os.loadavg(),
  availableParallelism: os.availableParallelism ? os.availableParallelism() : null,
}));`

// progNodeOut is progNodeScript's output.
type progNodeOut struct {
	TotalMem             int64       `json:"totalmem"`
	FreeMem              int64       `json:"freemem"`
	CPUs                 int         `json:"cpus"`
	Uptime               float64     `json:"uptime"`
	Loadavg              progLoadavg `json:"loadavg"`
	AvailableParallelism *int        `json:"availableParallelism"`
}

func checkNode(t *testing.T, r *programRun) {
	var n progNodeOut
	progJSON(t, r.out, &n)
	if n.TotalMem != limit256MiB {
		t.Errorf("os.totalmem() = %d, want %d", n.TotalMem, limit256MiB)
	}
	if n.FreeMem <= 0 || n.FreeMem > n.TotalMem {
		t.Errorf("os.freemem() = %d, want 1..totalmem %d", n.FreeMem, n.TotalMem)
	}
	if n.CPUs != r.c.cpus {
		t.Errorf("os.cpus().length = %d, want %d visible CPUs", n.CPUs, r.c.cpus)
	}
	if ran := time.Since(r.c.started).Seconds(); n.Uptime < 0 || n.Uptime > ran+1 {
		t.Errorf("os.uptime() = %.2f s, want the container's, at most %.1f s", n.Uptime, ran)
	}
	if !n.Loadavg.within(r.containerLoads[0], r.containerLoads[1], 0.005) {
		t.Errorf("os.loadavg() = %v, want the container's /proc/loadavg %v..%v", n.Loadavg, r.containerLoads[0], r.containerLoads[1])
	}
	if n.AvailableParallelism == nil {
		t.Fatalf("no os.availableParallelism() in this Node")
	}
	t.Logf("limit: node os.availableParallelism() = %d (sched_getaffinity(2): the cpuset; %d visible)", *n.AvailableParallelism, r.c.cpus)
	if *n.AvailableParallelism != r.c.affinity {
		t.Errorf("os.availableParallelism() = %d, want the cpuset's %d", *n.AvailableParallelism, r.c.affinity)
	}
}

// checkProgUpSmall checks that the "up" of procps top or uptime is the
// container's uptime: at most the time since it started.
func checkProgUpSmall(t *testing.T, r *programRun) {
	t.Helper()
	if up, ran := progUp(t, r.out), time.Since(r.c.started); up > ran {
		t.Errorf("up %s, want the container's, at most %s (the host's is %ds)", up, ran.Round(time.Second), r.host[0].sysinfo.Uptime)
	}
}

// checkProgContainerLoads checks that the output's load average is the
// container's /proc/loadavg as read before or after the run.
func checkProgContainerLoads(t *testing.T, r *programRun) {
	t.Helper()
	if got := progParseLoads(t, r.out); !got.within(r.containerLoads[0], r.containerLoads[1], 0.005) {
		t.Errorf("load average %v, want the container's /proc/loadavg %v..%v (the host's is %v)",
			got, r.containerLoads[0], r.containerLoads[1], r.host[0].loads)
	}
}

// progHostCommand runs a program on the host, for the values a container should
// share with it.
func progHostCommand(args ...string) (string, error) { return runCommand(false, args[0], args[1:]...) }

// progPhysicalCPUs returns psutil.cpu_count(logical=False) (nil when psutil
// cannot tell).
func progPhysicalCPUs(t *testing.T, run func(...string) (string, error)) *int {
	out, err := run("/usr/bin/python3", "-c", "import json, psutil; print(json.dumps(psutil.cpu_count(logical=False)))")
	if err != nil {
		t.Fatalf("psutil on the host: %v: %s", err, out)
	}
	var n *int
	progJSON(t, out, &n)
	return n
}

// progGetconf returns getconf's integer value of name.
func progGetconf(t *testing.T, run func(...string) (string, error), name string) int {
	out, err := run("/usr/bin/getconf", name)
	if err != nil {
		t.Fatalf("getconf %s: %v: %s", name, err, out)
	}
	return progInt(t, out)
}

// progReadHost reads the host's load average and sysinfo(2).
func progReadHost(t *testing.T) progHostView {
	t.Helper()
	var v progHostView
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		t.Fatal(err)
	}
	v.loads = progLoadavgFile(t, string(b))
	if err := syscall.Sysinfo(&v.sysinfo); err != nil {
		t.Fatalf("sysinfo: %v", err)
	}
	return v
}

// progContainerLoads reads the container's /proc/loadavg.
func progContainerLoads(t *testing.T, c *programContainer) progLoadavg {
	t.Helper()
	out, err := c.exec("cat", "/proc/loadavg")
	if err != nil {
		t.Fatalf("cat /proc/loadavg inside: %v\n%s", err, out)
	}
	return progLoadavgFile(t, out)
}

// progLoadavgFile parses the first three fields of /proc/loadavg:
//
//	0.51 0.72 0.59 1/160 27054
func progLoadavgFile(t *testing.T, s string) progLoadavg {
	t.Helper()
	f := strings.Fields(s)
	if len(f) < 3 {
		t.Fatalf("bad loadavg %q", s)
	}
	var l progLoadavg
	for i := range l {
		l[i] = progFloat(t, f[i])
	}
	return l
}

// progLoads parses a program's "load average: a, b, c" (see progLoadRe).
func progParseLoads(t *testing.T, out string) progLoadavg {
	t.Helper()
	m := progMatch(t, out, progLoadRe.String())
	return progLoadavg{progFloat(t, m[1]), progFloat(t, m[2]), progFloat(t, m[3])}
}

// within reports whether each of l's averages lies between a's and b's
// (either order), give or take tol.
func (l progLoadavg) within(a, b progLoadavg, tol float64) bool {
	for i := range l {
		lo, hi := min(a[i], b[i]), max(a[i], b[i])
		if l[i] < lo-tol || l[i] > hi+tol {
			return false
		}
	}
	return true
}

// progUp parses the "up ..." of procps and busybox top and uptime (see
// progUpRe), with their minute resolution.
func progUp(t *testing.T, out string) time.Duration {
	t.Helper()
	m := progUpRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q in the output", progUpRe)
	}
	num := func(s string) time.Duration {
		if s == "" {
			return 0
		}
		return time.Duration(progInt(t, s))
	}
	return num(m[1])*24*time.Hour + num(m[2])*time.Hour + num(m[3])*time.Minute + num(m[4])*time.Minute
}

// progMatch returns re's submatches in out or fails the test.
func progMatch(t *testing.T, out, re string) []string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q in the output", re)
	}
	return m
}

// progFields returns the n integers after the line that starts with label
// (free's "Mem:", "Swap:").
func progFields(t *testing.T, out, label string, n int) []int64 {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != label {
			continue
		}
		if len(f) < n+1 {
			t.Fatalf("line %q has %d values, want %d", line, len(f)-1, n)
		}
		v := make([]int64, n)
		for i := range v {
			v[i] = int64(progInt(t, f[i+1]))
		}
		return v
	}
	t.Fatalf("no %q line in the output", label)
	return nil
}

// progMeminfoKB returns the value of one /proc/meminfo line.
func progMeminfoKB(t *testing.T, meminfo, key string) int64 {
	t.Helper()
	v := progFields(t, meminfo, key, 1)
	return v[0]
}

// progJSON decodes the last line of out that starts with "{" or is
// JSON (runc exec mixes stderr into the output).
func progJSON(t *testing.T, out string, v any) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if err := json.Unmarshal([]byte(lines[i]), v); err == nil {
			return
		}
	}
	t.Fatalf("no JSON line in the output")
}

// progHostBtime returns the btime line of the host's /proc/stat.
func progHostBtime(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", "stat"))
	if err != nil {
		t.Fatal(err)
	}
	return progFields(t, string(b), "btime", 1)[0]
}

func progInt(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("not an integer: %q", s)
	}
	return n
}

func progFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return f
}

// progSeq returns 0..n-1.
func progSeq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// progDeref prints a *int as its value or "none".
func progDeref(p *int) string {
	if p == nil {
		return "none"
	}
	return strconv.Itoa(*p)
}
