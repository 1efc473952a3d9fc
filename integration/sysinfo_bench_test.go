package integration

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// daemonCPU returns the daemon's user+system CPU time in clock ticks.
func daemonCPU(b *testing.T, pid int) uint64 {
	b.Helper()
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(s)[strings.LastIndexByte(string(s), ')')+2:])
	u, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return u + st
}

func probeCalls(b *testing.T, out string) float64 {
	b.Helper()
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "calls "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return n
		}
	}
	b.Fatalf("probe printed no count:\n%s", out)
	return 0
}

// TestSysinfoBench: sysinfo(2) calls per second natively (the probe on
// the host) and through the agent (the probe in a runc container created
// through lxmount-runc), with 1 and 4 calling threads, and the daemon's
// CPU time per answered call, 3 s per case. It measures rather than
// checks, so it runs only with LXMOUNT_BENCH=1:
//
//	LXMOUNT_BENCH=1 CI=true go test ./integration -run TestSysinfoBench -v
func TestSysinfoBench(t *testing.T) {
	if os.Getenv("LXMOUNT_BENCH") != "1" {
		t.Skip("a measurement: LXMOUNT_BENCH=1 runs it")
	}
	const secs = 3
	b := t
	for _, threads := range []int{1, 4} {
		b.Run(fmt.Sprintf("native/%d", threads), func(b *testing.T) {
			out, err := exec.Command(sysinfoProbe(b), "bench", strconv.Itoa(secs), strconv.Itoa(threads)).CombinedOutput()
			if err != nil {
				b.Fatalf("%v: %s", err, out)
			}
			b.Logf("native, %d threads: %.0f calls/s", threads, probeCalls(b, string(out))/secs)
		})
		b.Run(fmt.Sprintf("agent/%d", threads), func(b *testing.T) {
			c := hookBundle(b, "sysinfobench", hookMemLimit, 200000, 100000, fmt.Sprintf("%s bench %d %d", probePath, secs, threads))
			installProbe(b, bundleRootfs(b, c))
			in := newHookInstance(b, "", c.CgroupPath)
			in.startDaemon()
			pid := in.daemonPID()
			before := daemonCPU(b, pid)
			out, stderr, err := runWrapped(b, c, nil, "--lxmount-config", in.config)
			if err != nil {
				b.Fatalf("%v: %s %s", err, out, stderr)
			}
			ticks := daemonCPU(b, pid) - before
			calls := probeCalls(b, out)
			// A tick is 10 ms.
			b.Logf("agent, %d threads: %.0f calls/s, daemon CPU %.1f µs/call (%d ticks for %.0f calls)", threads, calls/secs, float64(ticks)*1e4/calls, ticks, calls)
		})
	}
}
