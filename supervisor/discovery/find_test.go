package discovery

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestFindAgreesWithScan: on random fixture hosts (runtime records, pods
// sharing a pid namespace, private mount namespaces in the host's pid
// namespace, zombies), Find says ok exactly for the processes whose mount
// namespace Scan reports, with Scan's Container.
func TestFindAgreesWithScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var yes, no int
	for i := range 100 {
		procs, states := randomHost(rng)
		root := writeProcTree(t, procs)
		srcs := writeState(t, states)
		if len(states) == 0 {
			srcs = []Source{}
		}
		opts := Options{ProcRoot: root, Sources: srcs}
		found, err := Scan(opts)
		if err != nil {
			t.Fatal(err)
		}
		byNS := map[uint64]Container{}
		for _, c := range found {
			byNS[c.MountNS] = c
		}
		for _, p := range procs {
			c, ok, err := Find(opts, p.pid)
			want, reported := byNS[or(p.mntNS, hostMntNS)]
			switch {
			case p.zombie || p.mntNS == 0:
				if err == nil {
					t.Fatalf("host %d, pid %d (zombie %v, host mount namespace %v): Find = %+v, %v, want an error", i, p.pid, p.zombie, p.mntNS == 0, c, ok)
				}
				continue
			case err != nil:
				t.Fatalf("host %d, pid %d: %v", i, p.pid, err)
			case ok != reported:
				t.Fatalf("host %d, pid %d: Find ok %v, Scan reports mnt:[%d] %v\nFind: %+v\nprocs: %+v\nstates: %+v", i, p.pid, ok, p.mntNS, reported, c, procs, states)
			case ok && !reflect.DeepEqual(c, want):
				t.Fatalf("host %d, pid %d:\nFind: %+v\nScan: %+v", i, p.pid, c, want)
			}
			if ok {
				yes++
			} else {
				no++
			}
		}
	}
	t.Logf("%d containers, %d other mount namespaces", yes, no)
	if yes == 0 || no == 0 {
		t.Errorf("the generator covers only one verdict: %d yes, %d no", yes, no)
	}
}

// TestFindNamesRule1: a process sharing the host's pid namespace is a
// container only when a runtime recorded it (docker run --pid=host),
// otherwise a private mount namespace (PrivateTmp=) like any other.
func TestFindNamesRule1(t *testing.T) {
	const mnt1, mnt2 = 4026532001, 4026532002
	root := writeProcTree(t, []fproc{
		{pid: 100, ppid: 1, start: 50, mntNS: mnt1}, // recorded by runc
		{pid: 200, ppid: 1, start: 60, mntNS: mnt2}, // a service's PrivateTmp
	})
	srcs := writeState(t, []fstate{{format: RuncState, id: "hostpid", pid: 100, start: 50}})
	opts := Options{ProcRoot: root, Sources: srcs}
	for _, tc := range []struct {
		pid    int
		wantOK bool
	}{{100, true}, {200, false}} {
		c, ok, err := Find(opts, tc.pid)
		if err != nil || ok != tc.wantOK || c.InitPID != tc.pid {
			t.Errorf("Find(%d) = %+v, %v, %v; want init %d, ok %v", tc.pid, c, ok, err, tc.pid, tc.wantOK)
		}
	}
}

func TestNamespace(t *testing.T) {
	const mnt = 4026532001
	root := writeProcTree(t, []fproc{
		{pid: 100, ppid: 1, start: 50, mntNS: mnt},
		{pid: 101, ppid: 100, start: 51, mntNS: mnt, zombie: true},
	})
	opts := Options{ProcRoot: root}
	if got, err := Namespace(opts, 100, "mnt"); err != nil || got != mnt {
		t.Errorf("Namespace(100, mnt) = %d, %v; want %d", got, err, mnt)
	}
	if got, err := Namespace(opts, 100, "pid"); err != nil || got != hostPIDNS {
		t.Errorf("Namespace(100, pid) = %d, %v; want %d", got, err, hostPIDNS)
	}
	for _, pid := range []int{101, 4242} { // a zombie, no such process
		if _, err := Namespace(opts, pid, "mnt"); !errors.Is(err, ErrNoProcess) {
			t.Errorf("Namespace(%d, mnt): %v, want ErrNoProcess", pid, err)
		}
	}
	if got, err := HostMountNS(opts); err != nil || got != hostMntNS {
		t.Errorf("HostMountNS = %d, %v; want %d", got, err, hostMntNS)
	}
}

// TestResolveInitAgreesWithResolve: for a container's init, ResolveInit
// gives what Resolve does when no runtime recorded the container.
func TestResolveInitAgreesWithResolve(t *testing.T) {
	// A runtime-made container: its init (PID 1 inside) with a child.
	root := writeProcTree(t, []fproc{
		{pid: 100, ppid: 1, start: 50},
		{pid: 200, ppid: 100, start: 60, pidNS: 4026532500, mntNS: 4026532501, nspid: []int{200, 1}},
		{pid: 201, ppid: 200, start: 70, pidNS: 4026532500, mntNS: 4026532501, nspid: []int{201, 2}},
	})
	opts := Options{ProcRoot: root, Sources: []Source{}}
	want, err := Resolve(opts, 201)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ResolveInit(opts, 200)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || got.InitPID != 200 {
		t.Errorf("ResolveInit = %+v\nResolve     = %+v", got, want)
	}
	if _, err := ResolveInit(opts, 100); !errors.Is(err, ErrNotContainer) {
		t.Errorf("ResolveInit of a host process: %v, want ErrNotContainer", err)
	}
}
