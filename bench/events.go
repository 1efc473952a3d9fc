package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxmount/lxmount/supervisor/discovery"
	"github.com/lxmount/lxmount/supervisor/procevents"
)

// The events phase: how long after a container's first process starts the
// event watch has attached it, with no reconcile loop, no hook and no
// attach call. A container's first process is the init's exec (unshare's
// child exec'ing sleep, in the new mount namespace); its time is the
// kernel's timestamp of that exec, read from a proc connector subscription
// of the bench's own. Attached is when /proc/<init>/mountinfo shows every
// file the policy mounts, polled every millisecond. Measured with no other
// container attached, then with -events-idle idle containers attached
// (started together, attached by the event watch as they started).

// execTimes records the exec events of processes outside the host's mount
// namespace: pid -> CLOCK_MONOTONIC time of the exec.
type execTimes struct {
	conn *procevents.Conn
	host uint64

	mu    sync.Mutex
	times map[int]time.Duration
}

func openExecTimes() (*execTimes, error) {
	host, err := discovery.HostMountNS(discovery.Options{})
	if err != nil {
		return nil, err
	}
	conn, err := procevents.Open()
	if err != nil {
		return nil, err
	}
	x := &execTimes{conn: conn, host: host, times: map[int]time.Duration{}}
	go x.read()
	return x, nil
}

func (x *execTimes) read() {
	for {
		e, err := x.conn.Read()
		if errors.Is(err, procevents.ErrOverrun) || errors.Is(err, procevents.ErrMalformed) {
			continue
		}
		if err != nil {
			return
		}
		if ns, err := discovery.Namespace(discovery.Options{}, e.TGID, "mnt"); err != nil || ns == x.host {
			continue
		}
		x.mu.Lock()
		if len(x.times) > 100000 {
			clear(x.times)
		}
		x.times[e.TGID] = e.Time
		x.mu.Unlock()
	}
}

// waitExec returns the time of pid's exec once its event has been read.
func (x *execTimes) waitExec(pid int) (time.Duration, error) {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		x.mu.Lock()
		t, ok := x.times[pid]
		delete(x.times, pid)
		x.mu.Unlock()
		if ok {
			return t, nil
		}
	}
	return 0, fmt.Errorf("no exec event for pid %d in 10 s", pid)
}

func (x *execTimes) close() { x.conn.Close() }

func monotonic() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Duration(ts.Nano())
}

// lxmountMounts counts the lxmount FUSE mounts in pid's mount namespace.
func lxmountMounts(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		return -1
	}
	return strings.Count(string(b), " - fuse.lxmount ")
}

func (r *runner) events() error {
	x, err := openExecTimes()
	if err != nil {
		return fmt.Errorf("the bench's own proc connector subscription: %w", err)
	}
	defer x.close()
	ev, err := r.e.newInstance(r.c.lxmount, filepath.Join(r.dir, "events"), r.root+"/e-*")
	if err != nil {
		return err
	}
	// Debug: the log tail an error prints says what each exec event decided.
	cfg := "reconcile_interval = \"0s\"\nevents = true\nlog_level = \"debug\"\n"
	if err := os.WriteFile(ev.config, []byte(cfg), 0o644); err != nil {
		return err
	}
	ev.env = r.c.daemonEnv
	if err := ev.start(); err != nil {
		return err
	}
	defer ev.stop()

	files := 0 // the mounts a container gets, from the first one attached
	n := 0
	// sample starts one container, measures it and kills it again.
	sample := func(idle int) (time.Duration, error) {
		n++
		cg, err := r.e.newCgroup(fmt.Sprintf("%s/e-m-%04d", r.root, n), containerLimits())
		if err != nil {
			return 0, err
		}
		c, err := r.e.startContainer(cg)
		if err != nil {
			return 0, err
		}
		start, err := x.waitExec(c.Init)
		if err != nil {
			return 0, err
		}
		if files == 0 {
			if err := waitUntil(10*time.Second, 20*time.Millisecond, func() bool { return ev.containers() == idle+1 }); err != nil {
				return 0, fmt.Errorf("the first container was not attached: %w\ndaemon log tail:\n%s", err, tail(ev.log(), 20))
			}
			files = lxmountMounts(c.Init)
		}
		var attached time.Duration
		if err := waitUntil(10*time.Second, time.Millisecond, func() bool {
			if lxmountMounts(c.Init) < files {
				return false
			}
			attached = monotonic()
			return true
		}); err != nil {
			return 0, fmt.Errorf("container %d not attached: %w\ndaemon log tail:\n%s", c.Init, err, tail(ev.log(), 20))
		}
		_ = syscall.Kill(c.Init, syscall.SIGKILL)
		if err := waitUntil(10*time.Second, 20*time.Millisecond, func() bool { return ev.containers() == idle }); err != nil {
			return 0, fmt.Errorf("the daemon did not forget container %d: %w", c.Init, err)
		}
		return attached - start, nil
	}
	measure := func(idle int) ([]time.Duration, error) {
		var ds []time.Duration
		for range r.c.eventSamples {
			d, err := sample(idle)
			if err != nil {
				return nil, err
			}
			ds = append(ds, d)
		}
		r.progress("events: %d idle attached: first process to attached p50 %s ms, p99 %s ms", idle, ms(durPct(ds, 50)), ms(durPct(ds, 99)))
		return ds, nil
	}

	at0, err := measure(0)
	if err != nil {
		return err
	}
	idle := r.c.eventIdle
	burst := time.Now()
	if _, err := r.startIdle(idle, "e-i"); err != nil {
		return err
	}
	if err := waitUntil(5*time.Minute, 200*time.Millisecond, func() bool { return ev.containers() == idle }); err != nil {
		return fmt.Errorf("%d idle containers: %d attached by the event watch: %w\nwhat the exec events decided otherwise:\n%s",
			idle, ev.containers(), err, grepLines(ev.log(), "exec event"))
	}
	burstTook := time.Since(burst)
	r.progress("events: %d idle containers started (8 at a time) and attached in %s", idle, burstTook.Round(time.Millisecond))
	atN, err := measure(idle)
	if err != nil {
		return err
	}
	st, err := ev.client.Status()
	if err != nil {
		return err
	}

	fmt.Fprintf(r.w, "\n## Event-driven discovery: first process to attached\n\n")
	fmt.Fprintf(r.w, "A daemon with `events = true` and `reconcile_interval = \"0s\"` (no hook, no attach call) attaches each new container when its first process execs. From the kernel's timestamp of the container init's exec (the bench's own proc connector subscription) to its mount namespace showing all %d files (`/proc/<init>/mountinfo`, polled every 1 ms); %d containers one at a time, each killed before the next.\n\n", files, r.c.eventSamples)
	fmt.Fprintf(r.w, "| attached idle containers | p50 ms | p99 ms | max ms |\n|---:|---:|---:|---:|\n")
	for _, row := range []struct {
		idle int
		ds   []time.Duration
	}{{0, at0}, {idle, atN}} {
		fmt.Fprintf(r.w, "| %d | %s | %s | %s |\n", row.idle, ms(durPct(row.ds, 50)), ms(durPct(row.ds, 99)), ms(durPct(row.ds, 100)))
	}
	fmt.Fprintf(r.w, "\nThe %d idle containers, started 8 at a time, were all attached by the event watch %s after the first started. Daemon with %d attached: %d threads, %d goroutines, %d fds.\n",
		idle, burstTook.Round(time.Millisecond), len(st.Containers), st.Daemon.Threads, st.Daemon.Goroutines, st.Daemon.FDs)
	r.addTarget(fmt.Sprintf("event attach, first process to attached, p99 <= 100 ms at 0 and %d idle", idle),
		durPct(at0, 99) <= 100*time.Millisecond && durPct(atN, 99) <= 100*time.Millisecond,
		"%s ms, %s ms", ms(durPct(at0, 99)), ms(durPct(atN, 99)))
	return nil
}

// startIdle starts n idle containers in cgroups <root>/<prefix>-NNNN, 8
// at a time, and returns them in that order.
func (r *runner) startIdle(n int, prefix string) ([]*container, error) {
	ctrs := make([]*container, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				cg, err := r.e.newCgroup(fmt.Sprintf("%s/%s-%04d", r.root, prefix, i), containerLimits())
				if err == nil {
					ctrs[i], err = r.e.startContainer(cg)
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	return ctrs, <-errs
}

// grepLines returns the lines of s that contain substr but no attach.
func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) && !strings.Contains(l, "msg=attached") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// containers is how many containers the daemon has attached, -1 if it
// does not answer.
func (in *instance) containers() int {
	st, err := in.client.Status()
	if err != nil {
		return -1
	}
	return len(st.Containers)
}

// waitUntil polls ok every interval until it holds or within passes.
func waitUntil(within, interval time.Duration, ok func() bool) error {
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", within)
		}
		time.Sleep(interval)
	}
	return nil
}
