package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lxmount/lxmount/mountns"
	"github.com/lxmount/lxmount/supervisor"
)

// `lxmount-bench soak` (make soak): one daemon serving -containers
// attached containers for -duration while readers in every container
// check every read of every file it serves against the limits the soak
// wrote into its cgroup, containers are created and destroyed every
// -churn, a hostile container (its own FUSE server on /proc/meminfo that
// never answers) and a container nesting -nested pid+mount namespaces sit
// among them, and the daemon is killed with SIGKILL -kills times and
// healed by `lxmount reconcile`. It passes when no read was wrong, no read
// failed outside a heal window, the daemon's fds, goroutines, threads and
// RSS and the host's lxmount mounts did not grow between steady states, and
// everything it made is gone at the end. It prints a summary and exits 1
// otherwise. docs/benchmarks.md ("Soak") says why the tolerances are what
// they are.

type soakConfig struct {
	lxmount    string
	duration   time.Duration
	containers int
	churn      time.Duration
	churnPool  int
	kills      int
	nested     int
	hostile    bool
	pace       time.Duration
	margin     time.Duration
	keep       bool
	healGapOK  bool
	nestedInit bool
}

// soakHungFUSE is the hostile container's entrypoint (as in
// integration/hardening_test.go): it mounts a FUSE file system of type $1
// on $2 (root mode $3) whose /dev/fuse descriptor, kept by the sleep, is
// never read, so every request to it waits.
const soakHungFUSE = `exec 5<>/dev/fuse || exit 1
mount -i -t "$1" -o fd=5,rootmode=$3,user_id=0,group_id=0 hostile "$2" || exit 2
exec sleep 1000000`

// Tolerances between two steady states with the same containers attached
// (see docs/benchmarks.md, "Soak").
const (
	soakFDSlack        = 2       // a status connection being answered, a pidfd of a detach finishing
	soakGoroutineSlack = 4       // the same, plus timers of a render in flight
	soakThreadSlack    = 3       // Go never ends threads: a burst of blocking syscalls keeps them
	soakRSSSlackKB     = 8 << 10 // 8 MiB: the heap's GC headroom; a leak of a churned container's ~100 KiB shows after ~80 of them
)

func soakMain(args []string) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	var c soakConfig
	fs.StringVar(&c.lxmount, "lxmount", "bin/lxmount", "lxmount binary")
	fs.DurationVar(&c.duration, "duration", 3*time.Minute, "how long containers churn and readers read")
	fs.IntVar(&c.containers, "containers", 30, "long-lived attached containers (besides the hostile and nested ones and the churn)")
	fs.DurationVar(&c.churn, "churn", time.Second, "a container is created (and the oldest churned one destroyed) every so often")
	fs.IntVar(&c.churnPool, "churn-pool", 4, "churned containers alive at once")
	fs.IntVar(&c.kills, "kills", 3, "times the daemon is killed with SIGKILL and healed, spread over the first 60% of -duration")
	fs.IntVar(&c.nested, "nested", 20, "nested unshare -pmf inside one container (0: none)")
	fs.BoolVar(&c.hostile, "hostile", true, "a container with its own never-answering FUSE server on /proc/meminfo")
	fs.DurationVar(&c.pace, "pace", 20*time.Millisecond, "pause of each reader between two rounds of all its files")
	fs.DurationVar(&c.margin, "heal-margin", 250*time.Millisecond, "a heal window lasts from the kill until the heal's reconcile returned, plus this")
	fs.BoolVar(&c.healGapOK, "heal-gap-ok", false, "do not fail on wrong reads inside heal windows (a heal unmounts the dead mounts before it mounts fresh ones: the host's files show in between; docs/benchmarks.md)")
	fs.BoolVar(&c.nestedInit, "nested-by-init", false, "the nested container's init makes its namespaces itself (unshare -pmf --mount-proc chain as its entrypoint): its processes see the kernel's files, so its reads are not checked; reproduces the recovery bug of docs/benchmarks.md")
	fs.BoolVar(&c.keep, "keep", false, "keep the work directory (daemon log) and print its path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("needs root: cgroups, namespaces and FUSE mounts")
	}
	var err error
	if c.lxmount, err = filepath.Abs(c.lxmount); err != nil {
		return err
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		return err
	}
	// Host mounts are counted in PID 1's namespace; the soak's own live in
	// a namespace of its own, as the bench's do.
	hostMounts0, hostLx0 := hostMountCount()
	if err := mountns.ReexecInPrivateNamespace("LXMOUNT_BENCH_PRIVATE_MNTNS"); err != nil {
		return err
	}
	e := &env{logf: func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }}
	w := &soakWorld{c: c, e: e, root: "/lxmount-soak-" + randomHex(4), live: map[string]*soakCtr{}, sampled: map[string]int{}}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	var interrupted atomic.Bool
	go func() {
		<-sigs
		interrupted.Store(true)
		fmt.Fprintln(os.Stderr, "interrupted: cleaning up")
		w.closing.Store(true)
		e.cleanup()
		w.checkGone(hostMounts0, hostLx0)
		os.Exit(130)
	}()
	dir, err := os.MkdirTemp("", "lxmount-soak-")
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
	runErr := w.run(dir)
	if interrupted.Load() {
		select {} // the handler cleans up and exits
	}
	w.closing.Store(true)
	e.cleanup()
	w.checkGone(hostMounts0, hostLx0)
	w.summary()
	if runErr != nil {
		return runErr
	}
	if len(w.fails) > 0 {
		return fmt.Errorf("%d checks failed", len(w.fails))
	}
	return nil
}

// soakWorld is one soak run.
type soakWorld struct {
	c    soakConfig
	e    *env
	root string
	in   *instance

	mu        sync.Mutex
	live      map[string]*soakCtr
	churned   []*soakCtr // alive, oldest first
	seq       int
	pids      []int // every process the soak started, for the end check
	closing   atomic.Bool
	spawnOnce sync.Once
	spawnc    chan func()

	reads, wrong, wrongIn, failedIn, failedOut atomic.Int64
	windows                                    []window // guarded by mu
	samples                                    []string // the first failed or wrong reads, guarded by mu
	sampled                                    map[string]int
	fails                                      []string // failed pass criteria, guarded by mu
	notes                                      []string // figures for the summary
	heals                                      []time.Duration
	already                                    int // attaches the event watch had made first
	created, destroyed                         int
}

// window is a heal window; to is zero while the heal runs.
type window struct{ from, to time.Time }

// soakCtr is one container of the soak and its reader.
type soakCtr struct {
	name    string
	kind    string // base, churn, hostile, nested
	cg      *cgroup
	cmd     *exec.Cmd
	init    int
	exp     soakExpect
	targets []string
	ns      *mountns.Namespace
	stop    atomic.Bool
	done    chan struct{}
}

func (w *soakWorld) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	w.mu.Lock()
	w.fails = append(w.fails, msg)
	w.mu.Unlock()
	fmt.Fprintln(os.Stderr, "FAIL:", msg)
}

func (w *soakWorld) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	w.notes = append(w.notes, msg)
	fmt.Fprintln(os.Stderr, msg)
}

// soakLimits varies the limits from one container to the next: four
// memory limits, and quotas of 0.5, 1, 1.5 and 2 CPUs (1, 1, 2, 2 visible
// CPUs, at most the host's).
func soakLimits(i int) limits {
	return limits{memBytes: int64(128+64*(i%4)) << 20, cpuQuota: int64(50000 * (1 + (i/4)%4)), cpuPeriod: 100000}
}

func (l limits) expect(created time.Time) soakExpect {
	cpus := int((l.cpuQuota + l.cpuPeriod - 1) / l.cpuPeriod)
	return soakExpect{memKB: l.memBytes / 1024, cpus: min(cpus, runtime.NumCPU()), created: created}
}

func (w *soakWorld) run(dir string) error {
	c := w.c
	if _, err := w.e.newCgroup(w.root, limits{}); err != nil {
		return err
	}
	// The daemon starts a seccomp-holder per state dir, which outlives
	// it by design (README: crash safety); stopped after the daemon.
	stateDir := filepath.Join(dir, "daemon", "state")
	w.e.onCleanup(func() { stopHolders(c.lxmount, stateDir) })
	in, err := w.e.newInstance(c.lxmount, filepath.Join(dir, "daemon"), w.root+"/*")
	if err != nil {
		return err
	}
	w.in = in
	// The event watch and a short reconcile loop run too: churned
	// containers race them to the attach, and every reconcile meets the
	// hostile and the nested containers.
	if err := os.WriteFile(in.config, []byte("reconcile_interval = \"5s\"\nevents = true\n"), 0o644); err != nil {
		return err
	}
	w.e.onCleanup(w.destroyAll) // before the daemon stops (cleanups run last first)
	if err := in.start(); err != nil {
		return err
	}
	for i := range c.containers {
		if _, err := w.add("base", soakLimits(i)); err != nil {
			return err
		}
	}
	if c.hostile {
		if _, err := w.add("hostile", soakLimits(1), "sh", "-c", soakHungFUSE, "hostile", "fuse.hostile", "/proc/meminfo", "100444"); err != nil {
			return err
		}
	}
	if c.nested > 0 {
		if err := w.addNested(); err != nil {
			return err
		}
	}
	base := len(w.live)
	fmt.Fprintf(os.Stderr, "soak: %d containers attached (%s), readers running\n", base, w.root)
	s0, err := w.steady(base)
	if err != nil {
		return err
	}
	w.note("steady state at start (daemon %d): %s", s0.pid, s0)

	start := time.Now()
	killAt := make([]time.Time, c.kills)
	for i := range killAt {
		killAt[i] = start.Add(time.Duration(float64(c.duration) * 0.6 * float64(i+1) / float64(c.kills)))
	}
	var s1 soakUse
	tick := time.NewTicker(c.churn)
	defer tick.Stop()
	for time.Since(start) < c.duration {
		<-tick.C
		if len(killAt) > 0 && time.Now().After(killAt[0]) {
			killAt = killAt[1:]
			if err := w.killAndHeal(); err != nil {
				return err
			}
			if len(killAt) == 0 {
				if s1, err = w.steady(base); err != nil {
					return err
				}
				w.note("steady state after the last heal (daemon %d): %s", s1.pid, s1)
			}
			continue
		}
		if err := w.churnOnce(); err != nil {
			return err
		}
	}
	s2, err := w.steady(base)
	if err != nil {
		return err
	}
	w.note("steady state at the end (daemon %d): %s", s2.pid, s2)
	w.compare("start", s0, s2, false)
	if c.kills > 0 {
		w.compare("after the last heal", s1, s2, true)
	} else {
		w.compare("start (same daemon)", s0, s2, true)
	}
	w.stopReaders()
	return nil
}

// add starts a container of kind with limits l running argv (default:
// sleep), attaches it and starts its reader.
func (w *soakWorld) add(kind string, l limits, argv ...string) (*soakCtr, error) {
	if w.closing.Load() {
		return nil, errors.New("closing")
	}
	w.mu.Lock()
	w.seq++
	name := fmt.Sprintf("lxmount-%s%d", kind, w.seq)
	w.mu.Unlock()
	cg, err := w.e.newCgroup(w.root+"/"+name, l)
	if err != nil {
		return nil, err
	}
	if len(argv) == 0 {
		argv = []string{"sleep", "1000000"}
	}
	created := time.Now()
	c := &soakCtr{name: name, kind: kind, cg: cg, exp: l.expect(created), done: make(chan struct{})}
	args := []string{"-c", joinScript, "join", strconv.Itoa(len(cg.Dirs))}
	args = append(args, cg.Dirs...)
	args = append(args, "unshare", "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private", "--kill-child")
	c.cmd = exec.Command("/bin/sh", append(args, argv...)...)
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := w.spawn(c.cmd); err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.live[name] = c
	w.pids = append(w.pids, c.cmd.Process.Pid)
	w.mu.Unlock()
	if err := w.waitInit(c); err != nil {
		return nil, err
	}
	res, err := w.in.client.Attach(c.init, "")
	if err != nil {
		return nil, fmt.Errorf("attach %s (init %d): %w\ndaemon log tail:\n%s", name, c.init, err, tail(w.in.log(), 20))
	}
	// A file the kernel cannot give this container (slabinfo without
	// kmem accounting, pressure files on v1) is "not available": not
	// mounted, and fine. Any other refusal fails the run.
	for f, why := range res.Container.Refused {
		if kind == "hostile" && f == "meminfo" || strings.Contains(why, "not available") {
			continue
		}
		w.fail("%s: attach refused %s: %s", name, f, why)
	}
	// The event watch may attach the hostile container before its FUSE
	// server is mounted: the hung mount then covers lxmount's meminfo.
	// Either way its /proc/meminfo is not read (it never answers); its
	// other files are, and must be right.
	if kind == "hostile" && !res.Already && res.Container.Refused["meminfo"] == "" {
		w.fail("%s: the hostile /proc/meminfo was not refused: %+v", name, res.Container)
	}
	for _, t := range res.Container.Targets {
		if kind != "hostile" || t != "/proc/meminfo" {
			c.targets = append(c.targets, t)
		}
	}
	if res.Already {
		w.mu.Lock()
		w.already++
		w.mu.Unlock()
	}
	if c.ns, err = mountns.Open(c.init); err != nil {
		return nil, err
	}
	go w.read(c)
	return c, nil
}

// addNested adds a container that nests -nested pid and mount namespaces
// (unshare -pmf, each inside the previous one), made after it was
// attached, from inside it (nsenter into its mount and pid namespaces, in
// its cgroup): every nested namespace is a copy holding lxmount's mounts,
// and reconcile finds -nested more "containers" in its cgroup, which must
// share its binding (no fd or goroutine per nested namespace). Its
// reader reads in the container's own namespace. (Made by the init's
// own exec, `unshare -pmf --mount-proc` moves the init into a new
// namespace with a fresh procfs over the one lxmount mounted on, so the
// container's processes see the kernel's files: the container's own
// doing, not lxmount's.)
func (w *soakWorld) addNested() error {
	if w.c.nestedInit {
		var argv []string
		for range w.c.nested {
			argv = append(argv, "unshare", "-pmf", "--mount-proc")
		}
		_, err := w.add("nested", soakLimits(2), append(argv, "sleep", "1000000")...)
		return err
	}
	c, err := w.add("nested", soakLimits(2))
	if err != nil {
		return err
	}
	args := []string{"-c", joinScript, "join", strconv.Itoa(len(c.cg.Dirs))}
	args = append(args, c.cg.Dirs...)
	args = append(args, "nsenter", "-t", strconv.Itoa(c.init), "-m", "-p", "--")
	for range w.c.nested {
		args = append(args, "unshare", "-pmf")
	}
	cmd := exec.Command("/bin/sh", append(args, "sleep", "1000000")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := w.spawn(cmd); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }() // killed with the container's cgroup
	w.mu.Lock()
	w.pids = append(w.pids, cmd.Process.Pid)
	w.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for len(cgroupPIDs(c.cg)) < w.c.nested+3 { // the init, nsenter, the unshares, the sleep
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %d nested namespaces not made in 15 s (%d processes)", c.name, w.c.nested, len(cgroupPIDs(c.cg)))
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// spawn starts cmd from the soak's spawner thread. The parent-death
// signal is sent when the thread that forked the child exits, not the
// process: started from any thread, a container was killed when a
// reader's throwaway thread (mountns.Do) that the Go runtime had run the
// fork on ended with its reader.
func (w *soakWorld) spawn(cmd *exec.Cmd) error {
	w.spawnOnce.Do(func() {
		w.spawnc = make(chan func())
		go func() {
			runtime.LockOSThread() // for good: this thread lives as long as the soak
			for f := range w.spawnc {
				f()
			}
		}()
	})
	errc := make(chan error, 1)
	w.spawnc <- func() { errc <- cmd.Start() }
	return <-errc
}

// waitInit waits until the container's init (the unshare's child) runs
// and a sleep runs in its cgroup (the hostile one has mounted its FUSE
// then; the nested one has made all its namespaces).
func (w *soakWorld) waitInit(c *soakCtr) error {
	pid := c.cmd.Process.Pid
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c.init == 0 {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
			if f := strings.Fields(string(b)); len(f) == 1 {
				c.init, _ = strconv.Atoi(f[0])
				w.mu.Lock()
				w.pids = append(w.pids, c.init)
				w.mu.Unlock()
			}
		}
		if c.init > 0 {
			for _, p := range cgroupPIDs(c.cg) {
				comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p))
				if strings.TrimSpace(string(comm)) == "sleep" {
					return nil
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("container %s did not start", c.name)
}

// read is c's reader: every file it is served, one after the other, in
// its mount namespace, each read checked, until c.stop.
func (w *soakWorld) read(c *soakCtr) {
	defer close(c.done)
	if c.kind == "nested" && w.c.nestedInit {
		return // its processes see the kernel's files: see -nested-by-init
	}
	err := c.ns.Do(func() error {
		for !c.stop.Load() {
			for _, t := range c.targets {
				if c.stop.Load() {
					return nil
				}
				t0 := time.Now()
				var err, wrong error
				if t == "/sys/devices/system/cpu" {
					wrong = soakCheckSysCPU(c.exp)
					t = "/sys/devices/system/cpu/online"
				}
				b, err := os.ReadFile(t)
				if err == nil && wrong == nil {
					wrong = soakCheck(t, b, c.exp)
				}
				w.record(c, t, t0, time.Now(), err, wrong)
			}
			time.Sleep(w.c.pace)
		}
		return nil
	})
	if err != nil {
		w.fail("%s: reader: %v", c.name, err)
	}
}

// record counts one read, made from t0 to t1; a failed or wrong read is
// in a heal window when the two overlap (a read in flight at the kill
// fails: the connection is aborted).
func (w *soakWorld) record(c *soakCtr, target string, t0, t1 time.Time, err, wrong error) {
	w.reads.Add(1)
	if err == nil && wrong == nil {
		return
	}
	in, off := w.inWindow(t0, t1)
	what := "failed"
	switch {
	case err != nil && in:
		w.failedIn.Add(1)
	case err != nil:
		w.failedOut.Add(1)
	case in:
		w.wrongIn.Add(1)
		w.wrong.Add(1)
		what, err = "wrong", wrong
	default:
		w.wrong.Add(1)
		what, err = "wrong", wrong
	}
	where := "outside heal windows, " + off
	if in {
		where = "in a heal window"
	}
	// The first few of each kind (container kind, file, what, where).
	key := c.kind + " " + what + " " + strconv.FormatBool(in)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sampled[key] < 2 && len(w.samples) < 40 {
		w.sampled[key]++
		w.samples = append(w.samples, fmt.Sprintf("%s %s %s %s (%s): %v", t0.UTC().Format("15:04:05.000"), c.name, target, what, where, err))
	}
}

// inWindow reports whether [t0, t1] overlaps a heal window (with its
// margin); when not, off says how far the nearest one is.
func (w *soakWorld) inWindow(t0, t1 time.Time) (bool, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	off := "no heal window yet"
	best := time.Duration(1<<63 - 1)
	for _, win := range w.windows {
		if win.to.IsZero() {
			if !t1.Before(win.from) {
				return true, ""
			}
		} else if !t1.Before(win.from) && !t0.After(win.to.Add(w.c.margin)) {
			return true, ""
		}
		if d := win.from.Sub(t1); d > 0 && d < best {
			best, off = d, fmt.Sprintf("%s before a kill", d.Round(time.Millisecond))
		}
		if !win.to.IsZero() {
			if d := t0.Sub(win.to); d > 0 && d < best {
				best, off = d, fmt.Sprintf("%s after a heal's reconcile returned", d.Round(time.Millisecond))
			}
		}
	}
	return false, off
}

// churnOnce destroys the oldest churned container when the pool is full
// and creates one.
func (w *soakWorld) churnOnce() error {
	w.mu.Lock()
	var old *soakCtr
	if len(w.churned) >= w.c.churnPool {
		old, w.churned = w.churned[0], w.churned[1:]
	}
	i := w.seq
	w.mu.Unlock()
	if old != nil {
		w.destroy(old)
	}
	c, err := w.add("churn", soakLimits(i))
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.churned = append(w.churned, c)
	w.created++
	w.mu.Unlock()
	return nil
}

// destroy stops c's reader, kills the container and removes its cgroup.
func (w *soakWorld) destroy(c *soakCtr) {
	c.stop.Store(true)
	if c.ns != nil {
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			w.fail("%s: its reader did not stop within 5 s (a read hangs)", c.name)
		}
		c.ns.Close()
	}
	w.e.removeCgroup(c.cg) // kills what is in it: only the container
	if c.cmd.Process != nil {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	}
	w.mu.Lock()
	delete(w.live, c.name)
	if c.kind == "churn" {
		w.destroyed++
	}
	w.mu.Unlock()
}

// destroyAll destroys every container still alive (cleanup, also on
// Ctrl-C or failure).
func (w *soakWorld) destroyAll() {
	w.mu.Lock()
	var all []*soakCtr
	for _, c := range w.live {
		all = append(all, c)
	}
	w.mu.Unlock()
	for _, c := range all {
		c.stop.Store(true)
	}
	for _, c := range all {
		w.destroy(c)
	}
}

func (w *soakWorld) stopReaders() {
	w.mu.Lock()
	var all []*soakCtr
	for _, c := range w.live {
		all = append(all, c)
	}
	w.mu.Unlock()
	for _, c := range all {
		c.stop.Store(true)
	}
	for _, c := range all {
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			w.fail("%s: its reader did not stop within 5 s (a read hangs)", c.name)
		}
	}
}

// killAndHeal kills the daemon with SIGKILL and heals with `lxmount
// reconcile` (which starts a daemon: it re-attaches the state file's
// containers and heals their mounts); the heal window lasts until it
// returned (plus the margin).
func (w *soakWorld) killAndHeal() error {
	w.mu.Lock()
	w.windows = append(w.windows, window{from: time.Now()})
	i := len(w.windows) - 1
	w.mu.Unlock()
	if err := w.in.kill9(); err != nil {
		return err
	}
	time.Sleep(100 * time.Millisecond) // readers meet the dead mounts
	t0 := time.Now()
	out, err := w.in.run("reconcile")
	took := time.Since(t0)
	w.mu.Lock()
	w.windows[i].to = time.Now()
	w.heals = append(w.heals, took)
	w.mu.Unlock()
	if err != nil {
		return fmt.Errorf("heal: %w\ndaemon log tail:\n%s", err, tail(w.in.log(), 20))
	}
	fmt.Fprintf(os.Stderr, "soak: kill -9, then reconcile in %s: %s\n", took.Round(time.Millisecond), strings.TrimSpace(out))
	return nil
}

// soakUse is the daemon's resource use in a steady state.
type soakUse struct {
	pid                      int
	fds, goroutines, threads int
	rssKB                    int64
	hostMounts               int // the soak's and lxmount's mounts in the host's namespace
	hostAll                  int // all mounts there (other users of the machine change it too)
	containers               int
}

func (u soakUse) String() string {
	return fmt.Sprintf("%d containers, %d fds, %d goroutines, %d threads, RSS %d KiB; host mounts %d (%d lxmount's or the soak's)",
		u.containers, u.fds, u.goroutines, u.threads, u.rssKB, u.hostAll, u.hostMounts)
}

// steady brings the soak to its steady state (the churned containers
// destroyed, the daemon listing exactly the want long-lived ones, every
// one healthy but the hostile one) and samples the daemon's use: the
// smallest of 3 samples 300 ms apart, so a status call or render in
// flight is not counted as growth.
func (w *soakWorld) steady(want int) (soakUse, error) {
	w.mu.Lock()
	churned := w.churned
	w.churned = nil
	w.mu.Unlock()
	for _, c := range churned {
		w.destroy(c)
	}
	var st supervisor.Status
	deadline := time.Now().Add(15 * time.Second)
	for {
		var err error
		if st, err = w.in.client.Status(); err != nil {
			return soakUse{}, err
		}
		if len(st.Containers) == want && w.healthy(st, false) {
			break
		}
		if time.Now().After(deadline) {
			w.fail("steady state: the daemon lists %d containers, want %d, all healthy (the hostile one: degraded)", len(st.Containers), want)
			w.healthy(st, true)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	var u soakUse
	for i := range 3 {
		if i > 0 {
			time.Sleep(300 * time.Millisecond)
		}
		st, err := w.in.client.Status()
		if err != nil {
			return soakUse{}, err
		}
		all, m := hostMountCount()
		s := soakUse{pid: st.Daemon.PID, fds: st.Daemon.FDs, goroutines: st.Daemon.Goroutines, threads: st.Daemon.Threads,
			rssKB: procStatus(st.Daemon.PID, "VmRSS"), hostMounts: m, hostAll: all, containers: len(st.Containers)}
		if i == 0 {
			u = s
			continue
		}
		u.fds, u.goroutines, u.threads = min(u.fds, s.fds), min(u.goroutines, s.goroutines), min(u.threads, s.threads)
		u.rssKB, u.hostMounts, u.hostAll = min(u.rssKB, s.rssKB), max(u.hostMounts, s.hostMounts), max(u.hostAll, s.hostAll)
	}
	return u, nil
}

// healthy reports whether every container in st is healthy (the hostile
// one: degraded, meminfo refused); report records the others as failures.
func (w *soakWorld) healthy(st supervisor.Status, report bool) bool {
	w.mu.Lock()
	kinds := map[int]string{}
	for _, c := range w.live {
		kinds[c.init] = c.kind
	}
	w.mu.Unlock()
	ok := true
	for _, ci := range st.Containers {
		kind, known := kinds[ci.InitPID]
		good := known && (ci.Health == "healthy" || (kind == "hostile" && strings.HasPrefix(ci.Health, "degraded")))
		if !good {
			ok = false
			if report {
				w.fail("container %s (init %d, ours %v): health %q", ci.ID, ci.InitPID, known, ci.Health)
			}
		}
	}
	return ok
}

// compare fails on growth from a to b beyond the tolerances; threads and
// RSS only within one daemon's life (sameDaemon).
func (w *soakWorld) compare(what string, a, b soakUse, sameDaemon bool) {
	check := func(name string, from, to, slack int64) {
		if to > from+slack {
			w.fail("%s grew from %d to %d since the steady state %s (tolerance %d)", name, from, to, what, slack)
		}
	}
	check("daemon fds", int64(a.fds), int64(b.fds), soakFDSlack)
	check("daemon goroutines", int64(a.goroutines), int64(b.goroutines), soakGoroutineSlack)
	check("host mounts of lxmount or the soak", int64(a.hostMounts), int64(b.hostMounts), 0)
	if sameDaemon {
		check("daemon threads", int64(a.threads), int64(b.threads), soakThreadSlack)
		check("daemon RSS KiB", a.rssKB, b.rssKB, soakRSSSlackKB)
	}
}

// checkGone runs after the cleanup: no cgroup, process, daemon or mount
// of the soak is left.
func (w *soakWorld) checkGone(hostMounts0, hostLx0 int) {
	for _, ctrl := range controllers {
		if _, err := os.Stat(filepath.Join(cgroupRoot, ctrl, w.root)); err == nil {
			w.fail("left behind: cgroup %s in %s", w.root, ctrl)
		}
	}
	w.mu.Lock()
	pids := slices.Clone(w.pids)
	w.mu.Unlock()
	left := 0
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err == nil && alive(pid) && strings.Contains(string(b), w.root) {
			left++
		}
	}
	if left > 0 {
		w.fail("left behind: %d processes of the soak's containers", left)
	}
	if w.in != nil {
		if pid := w.in.pid(); pid > 0 && alive(pid) && isOurDaemon(pid, w.in.bin) {
			w.fail("left behind: daemon %d", pid)
		}
		if pids := holders(w.in.bin, w.in.stateDir); len(pids) > 0 {
			w.fail("left behind: seccomp holders %v", pids)
		}
	}
	m, ours := hostMountCount()
	if ours != hostLx0 {
		w.fail("host mounts of lxmount or the soak: %d at the end, %d at the start", ours, hostLx0)
	}
	w.note("host mounts: %d at the start, %d at the end (%d and %d of them lxmount's or the soak's)", hostMounts0, m, hostLx0, ours)
}

// holders returns the PIDs of the `lxmount seccomp-holder` processes of
// binary bin for stateDir.
func holders(bin, stateDir string) []int {
	var pids []int
	des, _ := os.ReadDir("/proc")
	for _, de := range des {
		pid, err := strconv.Atoi(de.Name())
		if err != nil || !isOurDaemon(pid, bin) {
			continue
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		args := strings.Split(string(b), "\x00")
		if slices.Contains(args, "seccomp-holder") && slices.Contains(args, stateDir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// stopHolders stops the seccomp holders of stateDir: SIGTERM, then
// SIGKILL after 2 s.
func stopHolders(bin, stateDir string) {
	pids := holders(bin, stateDir)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(2 * time.Second)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// hostMountCount counts the mounts of PID 1's namespace, and those of
// them that are lxmount's or the soak's: a fuse.lxmount or fuse.hostile
// mount, or one on a path of the soak's (cgroups, work directory). The
// machine may be shared: others' tests change the total, which is only
// reported.
func hostMountCount() (all, ours int) {
	b, err := os.ReadFile("/proc/1/mountinfo")
	if err != nil {
		return -1, -1
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		all++
		if strings.Contains(l, "fuse.lxmount") || strings.Contains(l, "fuse.hostile") || strings.Contains(l, "lxmount-soak") {
			ours++
		}
	}
	return all, ours
}

func (w *soakWorld) summary() {
	w.mu.Lock()
	defer w.mu.Unlock()
	fmt.Printf("\nsoak summary (%s, %d long-lived containers + hostile %v + nested %d, churn every %s, %d kills)\n",
		w.c.duration, w.c.containers, w.c.hostile, w.c.nested, w.c.churn, w.c.kills)
	fmt.Printf("  reads checked: %d; wrong: %d (%d in heal windows); failed: %d in heal windows, %d outside\n",
		w.reads.Load(), w.wrong.Load(), w.wrongIn.Load(), w.failedIn.Load(), w.failedOut.Load())
	fmt.Printf("  churned containers: %d created, %d destroyed; attaches the event watch made first: %d; heals (reconcile after kill -9): %v\n",
		w.created, w.destroyed, w.already, w.heals)
	for _, n := range w.notes {
		fmt.Println("  " + n)
	}
	if len(w.samples) > 0 {
		fmt.Println("  first failed or wrong reads:")
		for _, s := range w.samples {
			fmt.Println("    " + s)
		}
	}
	if wrong := w.wrong.Load(); wrong > 0 && !(w.c.healGapOK && wrong == w.wrongIn.Load()) {
		w.fails = append(w.fails, fmt.Sprintf("%d wrong reads", wrong))
	} else if wrong > 0 {
		fmt.Printf("  -heal-gap-ok: the %d wrong reads, all in heal windows, do not fail the run\n", wrong)
	}
	if w.failedOut.Load() > 0 {
		w.fails = append(w.fails, fmt.Sprintf("%d failed reads outside heal windows", w.failedOut.Load()))
	}
	if w.reads.Load() == 0 {
		w.fails = append(w.fails, "no read was checked")
	}
	if len(w.fails) == 0 {
		fmt.Println("PASS")
		return
	}
	fmt.Println("FAIL:")
	for _, f := range w.fails {
		fmt.Println("  " + f)
	}
}
