package discovery

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"
)

// randomHost generates the processes of a fixture host the way the kernel
// would lay them out: processes are created one after the other (start
// times never decrease, several may share a tick), each either in its
// parent's pid namespace, as PID 1 of a new one, or joining an existing
// one (setns, as runtimes exec into a container), and in its parent's
// mount namespace, a new one or a joined one. Then some processes exit:
// their children are reparented to their pid namespace's PID 1, and the
// exit of a PID 1 takes its whole pid namespace (and those below) with it.
// A few are left as zombies. It also returns runc records for some
// processes, some with a wrong start time.
func randomHost(rng *rand.Rand) ([]fproc, []fstate) {
	type rproc struct {
		fproc
		local int
	}
	host := &nsInfo{id: 0, next: 2, init: 1}
	pidNSs := map[uint64]*nsInfo{0: host}
	nextPIDNS, nextMntNS := uint64(1000), uint64(2000)
	var mntNSs []uint64
	procs := map[int]*rproc{1: {fproc: fproc{pid: 1, start: 1}, local: 1}}
	order := []int{1}
	usedPID := map[int]bool{1: true}
	newPID := func() int {
		for {
			p := 2 + rng.IntN(400)
			if !usedPID[p] {
				usedPID[p] = true
				return p
			}
		}
	}
	var nsOrder []uint64
	start := uint64(10)
	n := 3 + rng.IntN(25)
	for range n {
		if rng.IntN(3) > 0 {
			start += uint64(1 + rng.IntN(50))
		}
		parent := procs[order[rng.IntN(len(order))]]
		p := &rproc{fproc: fproc{pid: newPID(), ppid: parent.pid, start: start, comm: "p"}}
		ns := pidNSs[parent.pidNS]
		switch r := rng.IntN(10); {
		case r < 3: // PID 1 of a new pid namespace below the parent's
			nextPIDNS++
			ns = &nsInfo{id: nextPIDNS, parent: parent.pidNS, depth: pidNSs[parent.pidNS].depth + 1, next: 1, init: p.pid}
			pidNSs[ns.id] = ns
			nsOrder = append(nsOrder, ns.id)
		case r < 5: // setns into an existing pid namespace below the parent's
			var below []*nsInfo
			for _, id := range nsOrder {
				if id != parent.pidNS && isBelow(id, parent.pidNS, pidNSs) {
					below = append(below, pidNSs[id])
				}
			}
			if len(below) > 0 {
				ns = below[rng.IntN(len(below))]
			}
		}
		p.pidNS = ns.id
		p.local = ns.next
		ns.next++
		switch r := rng.IntN(10); {
		case r < 4:
			nextMntNS++
			p.mntNS = nextMntNS
			mntNSs = append(mntNSs, nextMntNS)
		case r < 5 && len(mntNSs) > 0:
			p.mntNS = mntNSs[rng.IntN(len(mntNSs))]
		default:
			p.mntNS = parent.mntNS
		}
		procs[p.pid] = p
		order = append(order, p.pid)
	}
	// NSpid: host pid first, the local pid last.
	nspidOf := func(p *rproc) []int {
		ns := pidNSs[p.pidNS]
		if ns.depth == 0 {
			return nil
		}
		out := make([]int, ns.depth+1)
		out[0], out[ns.depth] = p.pid, p.local
		for i := 1; i < ns.depth; i++ {
			out[i] = 100 + rng.IntN(100) // intermediate levels: not 1
		}
		return out
	}
	// Exits.
	dead := map[int]bool{}
	var kill func(pid int)
	kill = func(pid int) {
		if dead[pid] {
			return
		}
		dead[pid] = true
		for id, ns := range pidNSs {
			if id != 0 && ns.init == pid {
				for _, q := range order {
					if !dead[q] && isBelow(procs[q].pidNS, id, pidNSs) {
						kill(q)
					}
				}
			}
		}
	}
	for range rng.IntN(4) {
		if pid := order[1+rng.IntN(len(order)-1)]; pid != 1 {
			kill(pid)
		}
	}
	var out []fproc
	for _, pid := range order[1:] {
		p := procs[pid]
		if dead[pid] {
			continue
		}
		// An orphan goes to the child reaper of its dead parent's pid
		// namespace (kernel/exit.c find_child_reaper), which is alive:
		// had it exited, the orphan would have too.
		if dead[p.ppid] {
			p.ppid = pidNSs[procs[p.ppid].pidNS].init
		}
		f := p.fproc
		f.nspid = nspidOf(p)
		f.zombie = rng.IntN(20) == 0
		out = append(out, f)
	}
	var states []fstate
	for i, f := range out {
		if rng.IntN(8) == 0 {
			st := f.start
			if rng.IntN(4) == 0 {
				st++
			}
			states = append(states, fstate{format: RuncState, id: fmt.Sprintf("r%d", i), pid: f.pid, start: st})
		}
	}
	return out, states
}

// nsInfo is one pid namespace of randomHost.
type nsInfo struct {
	id     uint64
	parent uint64 // parent pid namespace, 0 for the host's
	depth  int    // 0 for the host's
	next   int    // next local pid
	init   int    // host pid of its PID 1
}

// isBelow reports whether pid namespace ns is anc or below it.
func isBelow(ns, anc uint64, all map[uint64]*nsInfo) bool {
	for {
		if ns == anc {
			return true
		}
		if ns == 0 {
			return false
		}
		ns = all[ns].parent
	}
}

// TestResolveMatchesFullLoad compares Resolve with the resolution from
// every process (resolveFull, what Resolve did before it looked at the
// target's mount namespace alone) for every process of many random hosts.
func TestResolveMatchesFullLoad(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var fast, total int
	for i := range 300 {
		procs, states := randomHost(rng)
		root := writeProcTree(t, procs)
		srcs := writeState(t, states)
		if len(states) == 0 {
			srcs = []Source{}
		}
		opts := Options{ProcRoot: root, Sources: srcs}
		pids := []int{1, 4242}
		for _, p := range procs {
			pids = append(pids, p.pid)
		}
		sort.Ints(pids)
		for _, pid := range pids {
			got, err := Resolve(opts, pid)
			want, wantErr := resolveFullFor(opts, pid)
			if !sameErr(err, wantErr) || !reflect.DeepEqual(got, want) {
				t.Fatalf("host %d, pid %d:\nResolve:     %+v, %v\nresolveFull: %+v, %v\nprocs: %+v\nstates: %+v",
					i, pid, got, err, want, wantErr, procs, states)
			}
			if err == nil {
				total++
				s, _ := newScanner(root)
				target, _ := s.readProc(pid)
				if _, ok, _ := resolveMembers(opts, s, target); ok {
					fast++
				}
			}
		}
	}
	t.Logf("%d of %d resolved from their mount namespace alone", fast, total)
	if fast == 0 || fast == total {
		t.Errorf("fast path taken %d of %d times: the generator does not cover both paths", fast, total)
	}
}

// resolveFullFor is Resolve with the full load only.
func resolveFullFor(opts Options, pid int) (Container, error) {
	s, target, err := resolveTarget(opts, pid)
	if err != nil {
		return Container{}, err
	}
	return resolveFull(opts, s, target)
}

func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Error() == b.Error() && errors.Is(a, ErrNoProcess) == errors.Is(b, ErrNoProcess) &&
		errors.Is(a, ErrNotContainer) == errors.Is(b, ErrNotContainer)
}
