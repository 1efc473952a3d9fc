package main

import (
	"fmt"
	"time"
)

// noisy measures container B reading /proc/meminfo at a steady pace, alone
// and while container A reads it flat out with 4 readers, for lxmount and
// LXCFS, and native procfs as the control. Runs alternate between the two back-ends and between alone and
// loaded, -noisy-rounds times: the machine's own noise hits both alike.
func (r *runner) noisy() error {
	names := []string{"a", "b"}
	if r.c.baseline != "" {
		names = append(names, "base-a", "base-b")
	}
	if err := r.setup(names...); err != nil {
		return err
	}
	a, b := r.ctrs["a"], r.ctrs["b"]
	f := benchFiles[0]
	type result struct{ alone, loaded, noisy cell }
	// Two controls. Native procfs: what B's p99 does with A's load when
	// no FUSE server is involved. Trivial FUSE: B reads the constant file
	// of its own FUSE server, idle but for B, while A reads lxmount as in
	// the lxmount row: what A's load does to a round trip through any
	// FUSE server (two wake-ups on busy CPUs) with no render and no
	// server shared with A.
	bes := []string{beLXMount, beLXCFS, beNative, beTrivial}
	results := map[string]*result{beLXMount: {}, beLXCFS: {}, beNative: {}, beTrivial: {}}
	if r.c.baseline != "" {
		bes = append(bes, beBaseline)
		results[beBaseline] = &result{}
	}
	rounds := r.c.noisyRounds
	for round := range rounds {
		for _, be := range bes {
			res := results[be]
			ca, cb := a, b
			if be == beBaseline {
				ca, cb = r.ctrs["base-a"], r.ctrs["base-b"]
			}
			pathB, nsB := r.path(be, f, cb, cb)
			steady := readSpec{path: pathB, ns: nsB, cg: cb.Cgroup, workers: 1, duration: r.c.noisyDur, warmup: 200 * time.Millisecond, rate: r.c.rate}
			alone, err := r.read(steady)
			if err != nil {
				return err
			}
			res.alone.add(alone)

			beA := be
			if be == beTrivial {
				beA = beLXMount
			}
			pathA, nsA := r.path(beA, f, ca, ca)
			cmdA, outA, err := r.startReader(readSpec{path: pathA, ns: nsA, cg: ca.Cgroup, workers: 4,
				duration: r.c.noisyDur + 300*time.Millisecond, warmup: 100 * time.Millisecond})
			if err != nil {
				return err
			}
			loaded, errB := r.read(steady)
			noisyRes, errA := waitReader(cmdA, outA)
			if errB != nil {
				return errB
			}
			if errA != nil {
				return errA
			}
			res.loaded.add(loaded)
			res.noisy.add(noisyRes)
			r.progress("noisy round %d %s: B p99 alone %s µs, with A %s µs; A %.0f/s", round, be,
				us(time.Duration(alone.P99)), us(time.Duration(loaded.P99)), float64(noisyRes.Ops)/noisyRes.Seconds)
		}
	}

	fmt.Fprintf(r.w, "\n## Noisy neighbour\n\n")
	fmt.Fprintf(r.w, "Container B reads /proc/meminfo %.0f times a second (1 reader), alone and while container A reads it as fast as it can with 4 readers; latencies of B in µs; %d rounds of %s. Native: both read the host's procfs (the machine's own contention, no FUSE server). Trivial FUSE: B reads the trivial server's file while A reads lxmount's (what A's load does to any FUSE round trip).\n\n", r.c.rate, rounds, r.c.noisyDur)
	fmt.Fprintf(r.w, "| back-end | B p50 alone | B p99 alone | B p50 with A | B p99 with A | B p99 rise | A reads/s |\n")
	fmt.Fprintf(r.w, "|---|---:|---:|---:|---:|---:|---:|\n")
	rise := func(be string) float64 {
		res := results[be]
		return float64(res.loaded.pct(99))/float64(res.alone.pct(99)) - 1
	}
	r.addTarget("noisy neighbour: B's p99 rises <= 25%", rise(beLXMount) <= 0.25, "%+.0f%% (LXCFS %+.0f%%, native %+.0f%%, trivial FUSE %+.0f%%)",
		rise(beLXMount)*100, rise(beLXCFS)*100, rise(beNative)*100, rise(beTrivial)*100)
	for _, be := range bes {
		res := results[be]
		rise := rise(be)
		fmt.Fprintf(r.w, "| %s | %s | %s | %s | %s | %+.0f%% | %.0f |\n", be,
			us(res.alone.pct(50)), us(res.alone.pct(99)), us(res.loaded.pct(50)), us(res.loaded.pct(99)), rise*100, res.noisy.rate())
	}
	return nil
}
