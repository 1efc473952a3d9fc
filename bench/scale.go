package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// daemonUse is a daemon's resource use at one moment.
type daemonUse struct {
	containers int
	rssKB      int64
	threads    int
	goroutines int
	fds        int
}

func (in *instance) use() (daemonUse, error) {
	st, err := in.client.Status()
	if err != nil {
		return daemonUse{}, err
	}
	return daemonUse{
		containers: len(st.Containers),
		rssKB:      procStatus(st.Daemon.PID, "VmRSS"),
		threads:    st.Daemon.Threads,
		goroutines: st.Daemon.Goroutines,
		fds:        st.Daemon.FDs,
	}, nil
}

// scale attaches idle containers to a fresh daemon and measures what each
// costs, how long attach takes, a no-op reconcile, and the reconcile that
// heals everything after the daemon was killed with SIGKILL.
func (r *runner) scale() error {
	if len(r.c.scale) == 0 {
		return nil
	}
	total := slices.Max(r.c.scale)
	sc, err := r.e.newInstance(r.c.lxmount, filepath.Join(r.dir, "scale"), r.root+"/s-*")
	if err != nil {
		return err
	}
	sc.env = r.c.daemonEnv
	if err := sc.start(); err != nil {
		return err
	}
	time.Sleep(300 * time.Millisecond)
	base, err := sc.use()
	if err != nil {
		return err
	}

	// Containers are started in parallel; attaches are timed one by one.
	t0 := time.Now()
	ctrs, err := r.startIdle(total, "s")
	if err != nil {
		return err
	}
	r.progress("scale: %d containers started in %s", total, time.Since(t0).Round(time.Millisecond))

	type step struct {
		use     daemonUse
		attach  []time.Duration
		elapsed time.Duration
	}
	var steps []step
	attached := 0
	for _, n := range r.c.scale {
		var s step
		t0 := time.Now()
		for ; attached < n; attached++ {
			d, err := sc.attach(ctrs[attached])
			if err != nil {
				return fmt.Errorf("%w\ndaemon log tail:\n%s", err, tail(sc.log(), 20))
			}
			s.attach = append(s.attach, d)
		}
		s.elapsed = time.Since(t0)
		time.Sleep(time.Second) // let the daemon settle
		if s.use, err = sc.use(); err != nil {
			return err
		}
		if s.use.containers != n {
			return fmt.Errorf("daemon has %d containers, want %d", s.use.containers, n)
		}
		r.progress("scale: %d attached (%s), RSS %d kB, %d threads, %d goroutines, %d fds", n, s.elapsed.Round(time.Millisecond),
			s.use.rssKB, s.use.threads, s.use.goroutines, s.use.fds)
		steps = append(steps, s)
	}
	if err := r.checkServed(ctrs[:attached]); err != nil {
		return err
	}

	// A no-op reconcile: everything attached and healthy.
	var noop []time.Duration
	var noopOut string
	for range 3 {
		t0 := time.Now()
		out, err := sc.run("reconcile")
		if err != nil {
			return err
		}
		noop = append(noop, time.Since(t0))
		noopOut = strings.TrimSpace(out)
	}
	r.progress("scale: no-op reconcile %v: %s", noop, noopOut)

	// kill -9, then one reconcile starts a new daemon, which re-attaches
	// from the state file and heals every dead mount.
	if err := sc.kill9(); err != nil {
		return err
	}
	if err := r.checkDead(ctrs[0]); err != nil {
		return err
	}
	t0 = time.Now()
	healOut, err := sc.run("reconcile")
	heal := time.Since(t0)
	if err != nil {
		return err
	}
	healed, err := sc.use()
	if err != nil {
		return err
	}
	if healed.containers != attached {
		return fmt.Errorf("after the heal the daemon has %d containers, want %d", healed.containers, attached)
	}
	if err := r.checkServed(ctrs[:attached]); err != nil {
		return fmt.Errorf("after the heal: %w", err)
	}
	r.progress("scale: heal-all reconcile %s: %s", heal.Round(time.Millisecond), strings.TrimSpace(healOut))

	t0 = time.Now()
	sc.stop()
	stop := time.Since(t0)

	fmt.Fprintf(r.w, "\n## Scale: idle containers on one daemon\n\n")
	fmt.Fprintf(r.w, "Daemon before any container: RSS %d KiB, %d threads, %d goroutines, %d fds. Per container = (value at N - value at 0) / N.\n\n",
		base.rssKB, base.threads, base.goroutines, base.fds)
	fmt.Fprintf(r.w, "| containers | RSS KiB | RSS KiB/container | threads | goroutines/container | fds/container | attach p50 ms | attach p99 ms |\n")
	fmt.Fprintf(r.w, "|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	var all []time.Duration
	for _, s := range steps {
		n := float64(s.use.containers)
		all = append(all, s.attach...)
		fmt.Fprintf(r.w, "| %d | %d | %.0f | %d | %.1f | %.1f | %s | %s |\n", s.use.containers, s.use.rssKB,
			float64(s.use.rssKB-base.rssKB)/n, s.use.threads,
			float64(s.use.goroutines-base.goroutines)/n, float64(s.use.fds-base.fds)/n,
			ms(durPct(s.attach, 50)), ms(durPct(s.attach, 99)))
	}
	fmt.Fprintf(r.w, "\nAttach latency over all %d attaches (control API round trip, one at a time): p50 %s ms, p99 %s ms, max %s ms.\n\n",
		len(all), ms(durPct(all, 50)), ms(durPct(all, 99)), ms(durPct(all, 100)))
	slices.Sort(noop)
	fmt.Fprintf(r.w, "| with %d attached | time |\n|---|---:|\n", attached)
	fmt.Fprintf(r.w, "| no-op `lxmount reconcile` (median of 3, CLI wall time) | %s ms |\n", ms(noop[1]))
	fmt.Fprintf(r.w, "| `kill -9` of the daemon, then `lxmount reconcile` (new daemon, re-attach, heal all) | %s ms |\n", ms(heal))
	fmt.Fprintf(r.w, "| SIGTERM to the daemon (detach all) | %s ms |\n", ms(stop))
	fmt.Fprintf(r.w, "\nAfter the heal: RSS %d KiB, %d threads, %d goroutines, %d fds.\n", healed.rssKB, healed.threads, healed.goroutines, healed.fds)

	last := steps[len(steps)-1].use
	perRSS := float64(last.rssKB-base.rssKB) / float64(last.containers)
	r.addTarget(fmt.Sprintf("%d idle containers: <= 150 KiB daemon RSS each", last.containers), perRSS <= 150, "%.0f KiB", perRSS)
	r.addTarget(fmt.Sprintf("%d idle containers: <= 1 OS thread each (better: not growing)", last.containers),
		last.threads-base.threads <= last.containers, "%d threads (%d before any container)", last.threads, base.threads)
	r.addTarget("attach p99 <= 20 ms", durPct(all, 99) <= 20*time.Millisecond, "%s ms", ms(durPct(all, 99)))
	r.addTarget("no-op reconcile <= 1 s", noop[1] <= time.Second, "%s ms", ms(noop[1]))
	r.addTarget("heal-all reconcile after kill -9 <= 5 s", heal <= 5*time.Second, "%s ms", ms(heal))
	return nil
}

// checkServed reads /proc/meminfo in a sample of the containers and wants
// the container's MemTotal.
func (r *runner) checkServed(ctrs []*container) error {
	for i := 0; i < len(ctrs); i += max(1, len(ctrs)/10) {
		c := ctrs[i]
		out, err := exec.Command("nsenter", "-t", strconv.Itoa(c.Init), "-m", "--", "cat", "/proc/meminfo").CombinedOutput()
		if err != nil {
			return fmt.Errorf("container %d: meminfo: %v: %s", c.Init, err, out)
		}
		if !strings.Contains(string(out), "MemTotal:         262144 kB") {
			return fmt.Errorf("container %d: meminfo is not lxmount's: %.200q", c.Init, out)
		}
	}
	return nil
}

// checkDead wants the container's /proc/meminfo to fail (ENOTCONN) after
// the daemon was killed: the heal then has something to heal.
func (r *runner) checkDead(c *container) error {
	out, err := exec.Command("nsenter", "-t", strconv.Itoa(c.Init), "-m", "--", "cat", "/proc/meminfo").CombinedOutput()
	if err == nil {
		return fmt.Errorf("container %d: meminfo still readable after kill -9 of the daemon", c.Init)
	}
	// ENOTCONN, or ECONNABORTED where the kernel reports the abort so.
	if !strings.Contains(string(out), "not connected") && !strings.Contains(string(out), "connection abort") {
		return fmt.Errorf("container %d: after kill -9: %v: %s", c.Init, err, out)
	}
	return nil
}

func durPct(ds []time.Duration, p float64) time.Duration {
	v := make([]int64, len(ds))
	for i, d := range ds {
		v[i] = int64(d)
	}
	slices.Sort(v)
	return time.Duration(pct(v, p))
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
