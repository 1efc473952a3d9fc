package integration

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readLoad1 returns the 1-minute average of /proc/loadavg inside p, or -1
// with the error text while the file does not answer.
func readLoad1(t *testing.T, p *NSProc) (float64, string) {
	out, err := p.Exec(t, "cat", "/proc/loadavg")
	if err != nil {
		return -1, err.Error()
	}
	f := strings.Fields(out)
	if len(f) < 3 {
		return -1, out
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1, out
	}
	return v, out
}

// TestLoadavgContinuity: a container busy on one CPU for 15 s before it is
// attached starts from its CPU time's estimate, not 0.00; its averages
// survive kill -9 of the daemon and the reconcile that heals it.
func TestLoadavgContinuity(t *testing.T) {
	requireRoot(t)
	requireCgroup(t)
	cg := newCgroup(t, "loadcont", 0, 0, 0)
	p := startNamespaced(t, cg, "sh", "-c", "while :; do :; done")
	started := time.Now()
	time.Sleep(15 * time.Second)
	busy := cgroupCPUTime(t, cg)
	elapsed := time.Since(started)
	in := newInstance(t, "", cg.Path)
	in.writeConfig(reconcileOnly)
	in.startDaemon()
	in.mustRun("attach", strconv.Itoa(p.PID))

	// 15 s of one busy task: 1 - exp(-15/60) = 0.22 on an idle host; the
	// CPU time it got says how much on this one.
	want := busy.Seconds() / elapsed.Seconds() * (1 - math.Exp(-elapsed.Seconds()/60))
	first, line := readLoad1(t, p)
	t.Logf("at attach: %s (CPU time %v in %v: estimate %.2f)", strings.TrimSpace(line), busy.Round(time.Millisecond), elapsed.Round(time.Millisecond), want)
	if first < 0.01 || math.Abs(first-want) > 0.03+want/4 {
		t.Errorf("1-minute load at attach = %v, want the estimate from the CPU time, %.2f, not 0.00", first, want)
	}
	time.Sleep(2*5*time.Second + time.Second) // two samples
	before, line := readLoad1(t, p)
	t.Logf("before kill -9: %s", strings.TrimSpace(line))
	if before <= first {
		t.Errorf("1-minute load did not rise under a steady load: %v then %v", first, before)
	}

	pid := in.daemonPID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for syscall.Kill(pid, 0) == nil && !isZombie(pid) {
		time.Sleep(10 * time.Millisecond)
	}
	in.mustRun("reconcile")
	deadline := time.Now().Add(10 * time.Second)
	after := -1.0
	for time.Now().Before(deadline) {
		if after, line = readLoad1(t, p); after >= 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("after kill -9 and reconcile: %s", strings.TrimSpace(line))
	if after < before*0.9 {
		t.Errorf("1-minute load after the heal = %v, want it carried on from %v", after, before)
	}
}

// cgroupCPUTime is the CPU time the group's tasks used: v1 cpuacct.usage,
// v2 cpu.stat usage_usec.
func cgroupCPUTime(t *testing.T, cg *TestCgroup) time.Duration {
	t.Helper()
	if cg.isV2() {
		b, err := os.ReadFile(filepath.Join(cg.Dirs[unifiedKey], "cpu.stat"))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
				us, _ := strconv.ParseInt(v, 10, 64)
				return time.Duration(us) * time.Microsecond
			}
		}
		t.Fatalf("cpu.stat without usage_usec: %s", b)
	}
	b, err := os.ReadFile(filepath.Join(cg.Dirs["cpuacct"], "cpuacct.usage"))
	if err != nil {
		t.Fatal(err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(ns)
}
