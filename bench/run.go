package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxmount/lxmount/mountns"
)

// benchFile is one virtual file: lxmount's short name, the native path
// (also the target inside the container) and LXCFS's path below its mount.
type benchFile struct {
	Name   string
	Native string
	LXCFS  string
}

var benchFiles = []benchFile{
	{"meminfo", "/proc/meminfo", "proc/meminfo"},
	{"cpuinfo", "/proc/cpuinfo", "proc/cpuinfo"},
	{"stat", "/proc/stat", "proc/stat"},
	{"uptime", "/proc/uptime", "proc/uptime"},
	{"loadavg", "/proc/loadavg", "proc/loadavg"},
	{"diskstats", "/proc/diskstats", "proc/diskstats"},
	{"swaps", "/proc/swaps", "proc/swaps"},
	{"cpu_online", "/sys/devices/system/cpu/online", "sys/devices/system/cpu/online"},
}

// Back-ends, in table order.
const (
	beNative  = "native"
	beLXCFS   = "lxcfs"
	beLXMount = "lxmount"
	beTrivial = "trivial"
	// beBaseline is another lxmount binary (-baseline), to compare two
	// builds in one run.
	beBaseline = "baseline"
)

// containerLimits are those of every bench container: 256 MiB, and a CPU
// quota of as many CPUs as the host has, so the view is limited but the
// readers, which run in the container's cgroup, are never throttled (a
// throttled reader would measure the CFS period, not the file system).
func containerLimits() limits {
	return limits{memBytes: 256 << 20, cpuQuota: int64(runtime.NumCPU()) * 100000, cpuPeriod: 100000}
}

// config is the command line of run.
type config struct {
	lxmount      string
	lxcfs        string
	self         string
	out          string
	duration     time.Duration
	warmup       time.Duration
	rounds       int
	phases       map[string]bool
	files        []benchFile
	scale        []int
	noisyDur     time.Duration
	noisyRounds  int
	rate         float64
	keep         bool
	baseline     string
	daemonEnv    []string
	baseEnv      []string
	eventIdle    int
	eventSamples int
}

// backends are the back-ends of the throughput phase, in table order.
func (c config) backends() []string {
	bes := []string{beNative, beLXCFS, beLXMount, beTrivial}
	if c.baseline != "" {
		bes = append(bes, beBaseline)
	}
	return bes
}

func runMain(args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var c config
	var phases, files, scale string
	fs.StringVar(&c.lxmount, "lxmount", "bin/lxmount", "lxmount binary")
	fs.StringVar(&c.lxcfs, "lxcfs", "lxcfs", "lxcfs binary")
	fs.StringVar(&c.out, "o", "", "also write the report (markdown) to this file")
	fs.DurationVar(&c.duration, "duration", 400*time.Millisecond, "measuring window of one throughput round")
	fs.DurationVar(&c.warmup, "warmup", 100*time.Millisecond, "unmeasured time before each window")
	fs.IntVar(&c.rounds, "rounds", 3, "interleaved rounds per throughput cell")
	fs.StringVar(&phases, "phases", "throughput,scale,noisy,start,events", "phases to run")
	fs.StringVar(&files, "files", "", "comma-separated files (default: all)")
	fs.StringVar(&scale, "scale", "100,500", "container counts of the scale phase")
	fs.DurationVar(&c.noisyDur, "noisy-duration", 2*time.Second, "window of one noisy-neighbour run")
	fs.IntVar(&c.eventIdle, "events-idle", 500, "idle containers attached in the events phase's second measurement")
	fs.IntVar(&c.eventSamples, "events-samples", 30, "containers measured one at a time per events measurement")
	fs.IntVar(&c.noisyRounds, "noisy-rounds", 4, "rounds of the noisy-neighbour phase")
	fs.Float64Var(&c.rate, "noisy-rate", 200, "reads per second of the steady container")
	fs.BoolVar(&c.keep, "keep", false, "keep the work directory (daemon logs) and print its path")
	fs.StringVar(&c.baseline, "baseline", "", "another lxmount binary to measure alongside (throughput and noisy phases)")
	var daemonEnv, baseEnv string
	fs.StringVar(&daemonEnv, "daemon-env", "", "comma-separated VAR=value added to the environment of the lxmount daemons (e.g. GOMAXPROCS=2)")
	fs.StringVar(&baseEnv, "baseline-env", "", "comma-separated VAR=value added to the environment of the baseline daemon only, after -daemon-env (A/B of a setting: -baseline bin/lxmount -baseline-env ...)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if daemonEnv != "" {
		c.daemonEnv = strings.Split(daemonEnv, ",")
	}
	if baseEnv != "" {
		c.baseEnv = strings.Split(baseEnv, ",")
	}
	c.phases = map[string]bool{}
	for _, p := range strings.Split(phases, ",") {
		c.phases[p] = true
	}
	for _, f := range benchFiles {
		if files == "" || slices.Contains(strings.Split(files, ","), f.Name) {
			c.files = append(c.files, f)
		}
	}
	for _, s := range strings.Split(scale, ",") {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			c.scale = append(c.scale, n)
		}
	}
	if os.Geteuid() != 0 {
		return errors.New("needs root: cgroups, namespaces and FUSE mounts")
	}
	for _, ctrl := range controllers {
		var st unix.Statfs_t
		if err := unix.Statfs(filepath.Join(cgroupRoot, ctrl), &st); err != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
			return fmt.Errorf("needs cgroup v1 controller %s at %s", ctrl, filepath.Join(cgroupRoot, ctrl))
		}
	}
	var err error
	if c.lxmount, err = filepath.Abs(c.lxmount); err != nil {
		return err
	}
	if c.baseline != "" {
		if c.baseline, err = filepath.Abs(c.baseline); err != nil {
			return err
		}
	}
	if c.lxcfs, err = exec.LookPath(c.lxcfs); err != nil {
		return fmt.Errorf("lxcfs: %w (make bench installs it)", err)
	}
	if c.self, err = os.Executable(); err != nil {
		return err
	}
	// Mounts of this run stay in a namespace of its own; children inherit it.
	if err := mountns.ReexecInPrivateNamespace("LXMOUNT_BENCH_PRIVATE_MNTNS"); err != nil {
		return err
	}

	e := &env{logf: func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }}
	defer e.cleanup()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "interrupted: cleaning up")
		e.cleanup()
		os.Exit(130)
	}()

	dir, err := os.MkdirTemp("", "lxmount-bench-")
	if err != nil {
		return err
	}
	e.onCleanup(func() {
		if c.keep {
			fmt.Fprintln(os.Stderr, "kept", dir)
			return
		}
		os.RemoveAll(dir)
	})

	var report bytes.Buffer
	w := io.MultiWriter(os.Stdout, &report)
	writeMachine(w, c)
	r := &runner{c: c, e: e, dir: dir, w: w, root: "/lxmount-bench-" + randomHex(4)}
	if _, err := e.newCgroup(r.root, limits{}); err != nil {
		return err
	}
	for _, p := range []struct {
		name string
		fn   func() error
	}{{"throughput", r.throughput}, {"noisy", r.noisy}, {"scale", r.scale}, {"start", r.start}, {"events", r.events}} {
		if !c.phases[p.name] {
			continue
		}
		t0 := time.Now()
		if err := p.fn(); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		fmt.Fprintf(os.Stderr, "phase %s took %s\n", p.name, time.Since(t0).Round(time.Second))
	}
	r.writeTargets()
	if c.out != "" {
		if err := os.MkdirAll(filepath.Dir(c.out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(c.out, report.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// runner holds what the phases share.
type runner struct {
	c    config
	e    *env
	dir  string
	w    io.Writer
	root string // the run's parent cgroup path

	lx      *instance // the daemon of throughput and noisy
	base    *instance // the -baseline daemon, if any
	ctrs    map[string]*container
	lxcfs   string
	trivial string

	targets []target // checked at the end of the run
}

// target is one goal of docs/benchmarks.md and what the run measured.
type target struct {
	goal, result string
	met          bool
}

func (r *runner) addTarget(goal string, met bool, format string, args ...any) {
	r.targets = append(r.targets, target{goal: goal, result: fmt.Sprintf(format, args...), met: met})
}

// writeTargets writes the table of targets.
func (r *runner) writeTargets() {
	if len(r.targets) == 0 {
		return
	}
	fmt.Fprintf(r.w, "\n## Targets\n\n| target | this run | met |\n|---|---|---|\n")
	for _, t := range r.targets {
		met := "no"
		if t.met {
			met = "yes"
		}
		fmt.Fprintf(r.w, "| %s | %s | %s |\n", t.goal, t.result, met)
	}
}

func (r *runner) progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

// setup starts the daemon, LXCFS, the trivial server and the named
// containers (attached), once.
func (r *runner) setup(names ...string) error {
	var err error
	if r.lx == nil {
		if r.lx, err = r.e.newInstance(r.c.lxmount, filepath.Join(r.dir, "lx"), r.root+"/t-*"); err != nil {
			return err
		}
		r.lx.env = r.c.daemonEnv
		if err := r.lx.start(); err != nil {
			return err
		}
		if r.lxcfs, err = r.e.startLXCFS(r.c.lxcfs, r.dir); err != nil {
			return err
		}
		if r.trivial, err = r.e.startTrivial(r.c.self, r.dir, benchFiles); err != nil {
			return err
		}
		if r.c.baseline != "" {
			if r.base, err = r.e.newInstance(r.c.baseline, filepath.Join(r.dir, "base"), r.root+"/b-*"); err != nil {
				return err
			}
			r.base.env = append(slices.Clone(r.c.daemonEnv), r.c.baseEnv...)
			if err := r.base.start(); err != nil {
				return err
			}
		}
		r.ctrs = map[string]*container{}
	}
	for _, name := range names {
		if r.ctrs[name] != nil {
			continue
		}
		// A baseline container ("base-X") is attached to the baseline
		// daemon, in a group its policy matches.
		in, prefix := r.lx, "/t-"
		if strings.HasPrefix(name, "base-") {
			in, prefix = r.base, "/b-"
		}
		cg, err := r.e.newCgroup(r.root+prefix+name, containerLimits())
		if err != nil {
			return err
		}
		c, err := r.e.startContainer(cg)
		if err != nil {
			return err
		}
		if _, err := in.attach(c); err != nil {
			return fmt.Errorf("%w\ndaemon log:\n%s", err, in.log())
		}
		if err := r.check(c); err != nil {
			return err
		}
		r.ctrs[name] = c
	}
	return nil
}

// check makes sure lxmount and LXCFS both serve the container's view: a
// MemTotal of the 256 MiB limit. Otherwise the comparison is meaningless.
func (r *runner) check(c *container) error {
	for _, be := range []string{beLXMount, beLXCFS} {
		path, ns := r.path(be, benchFiles[0], c, c)
		args := []string{"-c", joinScript, "join", strconv.Itoa(len(c.Cgroup.Dirs))}
		args = append(args, c.Cgroup.Dirs...)
		if ns != "" {
			args = append(args, "nsenter", "-t", strconv.Itoa(c.Init), "-m", "--")
		}
		args = append(args, "cat", path)
		out, err := exec.Command("/bin/sh", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s meminfo: %v: %s", be, err, out)
		}
		if !bytes.Contains(out, []byte("MemTotal:         262144 kB")) {
			return fmt.Errorf("%s does not serve the container's meminfo: %q", be, out[:min(len(out), 200)])
		}
	}
	return nil
}

// path returns what a reader of back-end be opens for f, and the mount
// namespace file it must join ("" for the bench's own): c's for lxmount,
// base's for the baseline.
func (r *runner) path(be string, f benchFile, c, base *container) (path, ns string) {
	switch be {
	case beLXCFS:
		return filepath.Join(r.lxcfs, f.LXCFS), ""
	case beLXMount:
		return f.Native, c.nsFile()
	case beBaseline:
		return f.Native, base.nsFile()
	case beTrivial:
		return filepath.Join(r.trivial, f.Name), ""
	}
	return f.Native, ""
}

// readSpec is one reader process to run.
type readSpec struct {
	path     string
	ns       string
	cg       *cgroup
	workers  int
	duration time.Duration
	warmup   time.Duration
	rate     float64
}

// start starts a reader process; wait collects its result.
func (r *runner) startReader(s readSpec) (*exec.Cmd, *bytes.Buffer, error) {
	args := []string{"read", "-path", s.path, "-workers", strconv.Itoa(s.workers),
		"-duration", s.duration.String(), "-warmup", s.warmup.String(), "-samples",
		"-cgroup", s.cg.dirList()}
	if s.ns != "" {
		args = append(args, "-ns", s.ns)
	}
	if s.rate > 0 {
		args = append(args, "-rate", strconv.FormatFloat(s.rate, 'f', -1, 64))
	}
	cmd := exec.Command(r.c.self, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	return cmd, &out, nil
}

func waitReader(cmd *exec.Cmd, out *bytes.Buffer) (readResult, error) {
	var res readResult
	if err := cmd.Wait(); err != nil {
		return res, fmt.Errorf("reader %v: %w", cmd.Args, err)
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return res, fmt.Errorf("reader output: %w", err)
	}
	if res.Errors > 0 {
		return res, fmt.Errorf("reader %v: %d errors, first: %s", cmd.Args, res.Errors, res.FirstErr)
	}
	return res, nil
}

func (r *runner) read(s readSpec) (readResult, error) {
	cmd, out, err := r.startReader(s)
	if err != nil {
		return readResult{}, err
	}
	return waitReader(cmd, out)
}

// cell accumulates the rounds of one measurement.
type cell struct {
	ops     int64
	seconds float64
	lat     []int64
}

func (c *cell) add(res readResult) {
	c.ops += res.Ops
	c.seconds += res.Seconds
	c.lat = append(c.lat, res.Lat...)
}

func (c *cell) rate() float64 {
	if c.seconds == 0 {
		return 0
	}
	return float64(c.ops) / c.seconds
}

func (c *cell) pct(p float64) time.Duration {
	slices.Sort(c.lat)
	return time.Duration(pct(c.lat, p))
}

// throughput measures every file with 1 and 4 readers on every back-end.
func (r *runner) throughput() error {
	names := []string{"tp"}
	if r.c.baseline != "" {
		names = append(names, "base-tp")
	}
	if err := r.setup(names...); err != nil {
		return err
	}
	c, base := r.ctrs["tp"], r.ctrs["base-tp"]
	backends := r.c.backends()
	type key struct {
		file    string
		workers int
		be      string
	}
	cells := map[key]*cell{}
	concs := []int{1, 4}
	for _, f := range r.c.files {
		for _, n := range concs {
			for round := range r.c.rounds {
				// Rotate the order so no back-end always runs first.
				for i := range backends {
					be := backends[(i+round)%len(backends)]
					path, ns := r.path(be, f, c, base)
					cg := c.Cgroup
					if be == beBaseline {
						cg = base.Cgroup
					}
					res, err := r.read(readSpec{path: path, ns: ns, cg: cg, workers: n, duration: r.c.duration, warmup: r.c.warmup})
					if err != nil {
						return err
					}
					k := key{f.Name, n, be}
					if cells[k] == nil {
						cells[k] = &cell{}
					}
					cells[k].add(res)
				}
			}
			var line strings.Builder
			for _, be := range backends {
				fmt.Fprintf(&line, ", %s %.0f/s", be, cells[key{f.Name, n, be}].rate())
			}
			r.progress("throughput %-10s %d reader(s)%s", f.Name, n, line.String())
		}
	}

	fmt.Fprintf(r.w, "\n## Throughput and latency\n\n")
	fmt.Fprintf(r.w, "open/read-until-EOF/close per second (p50 / p99 latency in µs), readers in the container's cgroup; %d interleaved rounds of %s per cell.\n\n", r.c.rounds, r.c.duration)
	baseHead, baseRule := "", ""
	if r.c.baseline != "" {
		fmt.Fprintf(r.w, "baseline: %s\n\n", r.c.baseline)
		baseHead, baseRule = " baseline | lxmount/baseline |", "---:|---:|"
	}
	fmt.Fprintf(r.w, "| file | readers | native | lxcfs | lxmount | trivial FUSE | lxmount/lxcfs | lxmount/trivial | p99 lxmount/lxcfs |%s\n", baseHead)
	fmt.Fprintf(r.w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|%s\n", baseRule)
	for _, f := range r.c.files {
		for _, n := range concs {
			get := func(be string) *cell { return cells[key{f.Name, n, be}] }
			lx, lc, tr := get(beLXMount), get(beLXCFS), get(beTrivial)
			fmt.Fprintf(r.w, "| %s | %d | %s | %s | %s | %s | %.2f | %.2f | %.2f |", f.Name, n,
				fmtCell(get(beNative)), fmtCell(lc), fmtCell(lx), fmtCell(tr),
				lx.rate()/lc.rate(), lx.rate()/tr.rate(), float64(lx.pct(99))/float64(lc.pct(99)))
			if b := get(beBaseline); b != nil {
				fmt.Fprintf(r.w, " %s | %.2f |", fmtCell(b), lx.rate()/b.rate())
			}
			fmt.Fprintln(r.w)
		}
	}

	// The throughput targets, over every cell.
	var fast, tail, ceiling, cells3 int
	var slow, slowTail, below []string
	for _, f := range r.c.files {
		for _, n := range concs {
			get := func(be string) *cell { return cells[key{f.Name, n, be}] }
			lx, lc, tr := get(beLXMount), get(beLXCFS), get(beTrivial)
			cellName := fmt.Sprintf("%s/%d", f.Name, n)
			if lx.rate() >= 2.5*lc.rate() {
				fast++
			} else {
				slow = append(slow, fmt.Sprintf("%s %.2f", cellName, lx.rate()/lc.rate()))
			}
			if 2*lx.pct(99) <= lc.pct(99) {
				tail++
			} else {
				slowTail = append(slowTail, cellName)
			}
			if f.Name == "meminfo" || f.Name == "stat" || f.Name == "uptime" {
				cells3++
				if lx.rate() >= 0.85*tr.rate() {
					ceiling++
				} else {
					below = append(below, fmt.Sprintf("%s %.2f", cellName, lx.rate()/tr.rate()))
				}
			}
		}
	}
	total := len(r.c.files) * len(concs)
	// short lists the cells that missed, if any.
	short := func(cells []string) string {
		if len(cells) == 0 {
			return ""
		}
		return "; short: " + strings.Join(cells, ", ")
	}
	r.addTarget("lxmount >= 2.5x LXCFS throughput, 1 and 4 readers", fast == total,
		"%d of %d cells%s", fast, total, short(slow))
	r.addTarget("lxmount p99 <= 1/2 LXCFS p99", tail == total, "%d of %d cells", tail, total)
	if cells3 > 0 {
		r.addTarget("lxmount >= 85% of the trivial FUSE file: meminfo, stat, uptime", ceiling == cells3,
			"%d of %d cells%s", ceiling, cells3, short(below))
	}
	return nil
}

func fmtCell(c *cell) string {
	return fmt.Sprintf("%.0f (%s / %s)", c.rate(), us(c.pct(50)), us(c.pct(99)))
}

func us(d time.Duration) string {
	v := float64(d) / float64(time.Microsecond)
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}
