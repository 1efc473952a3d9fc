package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lxmount/lxmount/supervisor/discovery"
	"github.com/lxmount/lxmount/supervisor/procevents"
)

// fakeProc writes <root>/<pid>/ns/mnt -> "mnt:[<ns>]", ns/pid ->
// "pid:[<pidNS>]" and a stat line with starttime start (field 22): what
// consider and sameNamespace read.
func fakeProc(t *testing.T, root string, pid int, ns, pidNS, start uint64) {
	t.Helper()
	dir := filepath.Join(root, fmt.Sprint(pid))
	if err := os.MkdirAll(filepath.Join(dir, "ns"), 0o755); err != nil {
		t.Fatal(err)
	}
	for kind, ino := range map[string]uint64{"mnt": ns, "pid": pidNS} {
		link := filepath.Join(dir, "ns", kind)
		os.Remove(link)
		if err := os.Symlink(fmt.Sprintf("%s:[%d]", kind, ino), link); err != nil {
			t.Fatal(err)
		}
	}
	stat := fmt.Sprintf("%d (sh) S 1 %d %d 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 %d 2605056 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n", pid, pid, pid, start)
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConsiderQueuesEachNewNamespaceOnce: the reader's filter, on a
// fixture procfs. Known namespaces are skipped; a namespace left alone
// stays so for execs from the pid namespaces it was decided for, while
// the process it was decided by lives. It is looked at again when that
// process is gone (its inode may name a new namespace), on an exec from
// another pid namespace (the init unshare(1) forks), and after a
// reconcile or a policy reload.
func TestConsiderQueuesEachNewNamespaceOnce(t *testing.T) {
	const host, self, attachedNS, fresh, leftAlone = 1001, 1002, 1003, 1004, 1005
	const hostPID, newPID = 2001, 2002
	root := t.TempDir()
	fakeProc(t, root, 10, host, hostPID, 1)
	fakeProc(t, root, 11, self, hostPID, 1)
	fakeProc(t, root, 12, attachedNS, newPID, 1)
	fakeProc(t, root, 13, fresh, newPID, 1)
	fakeProc(t, root, 14, fresh, newPID, 2)
	fakeProc(t, root, 15, leftAlone, hostPID, 3) // the member it was decided by
	fakeProc(t, root, 16, leftAlone, hostPID, 4)
	s := &Supervisor{
		disc: discovery.Options{ProcRoot: root},
		byID: map[string]*attachment{},
		byNS: map[uint64]*attachment{attachedNS: {}},
	}
	w := &EventWatcher{s: s, host: host, self: self, pending: map[uint64]bool{}, again: map[uint64]candidate{},
		decided: map[uint64]member{}, wake: make(chan struct{}, 1)}
	leftAloneBy15 := member{pid: 15, start: 3, pidNS: [2]uint64{hostPID, hostPID}}
	w.decided[leftAlone] = leftAloneBy15
	queued := func() []uint64 {
		var ns []uint64
		for _, c := range w.queue {
			ns = append(ns, c.ns)
		}
		w.queue = nil
		clear(w.pending)
		return ns
	}
	exec := func(pids ...int) {
		for _, pid := range pids {
			w.consider(procevents.Exec{PID: pid, TGID: pid})
		}
	}
	want := func(what string, ns ...uint64) {
		t.Helper()
		if got := queued(); fmt.Sprint(got) != fmt.Sprint(ns) {
			t.Errorf("%s: queued %v, want %v", what, got, ns)
		}
	}

	exec(10, 11, 12, 13, 14, 15, 16, 99 /* gone */)
	want("first execs: only the fresh namespace, once", fresh)

	// The init of a new pid namespace execs there: looked at again.
	fakeProc(t, root, 17, leftAlone, newPID, 5)
	exec(17)
	want("exec from a new pid namespace", leftAlone)
	w.decided[leftAlone] = leftAloneBy15

	// The member exits and its PID now runs something that started later:
	// the inode may name another namespace, so it is looked at again.
	fakeProc(t, root, 15, leftAlone, hostPID, 30)
	exec(16)
	want("after the member's PID was reused", leftAlone)

	// Decided again, then a reconcile (or a reload) forgets every verdict.
	w.decided[leftAlone] = member{pid: 16, start: 4, pidNS: [2]uint64{hostPID, newPID}}
	exec(16, 17)
	want("decided for both pid namespaces")
	s.decisions.Add(1)
	exec(16)
	want("after a reconcile", leftAlone)

	// While a namespace waits to be decided, the latest exec into it is
	// kept for after (a reused inode number: it may be another namespace).
	exec(16)
	exec(17)
	if got := w.again[leftAlone]; got.pid != 17 || got.pidNS != newPID {
		t.Errorf("exec into a pending namespace: kept %+v, want pid 17's", got)
	}
	exec(16)
	if got := w.again[leftAlone]; got.pid != 16 {
		t.Errorf("exec into a pending namespace: kept %+v, want the latest, pid 16's", got)
	}
	want("pending: queued once", leftAlone)
}

// TestRememberIsBoundedAndGenerational: verdicts made under older
// policies are not kept, and the memory never grows past maxDecided.
func TestRememberIsBoundedAndGenerational(t *testing.T) {
	s := &Supervisor{}
	w := &EventWatcher{s: s, decided: map[uint64]member{}}
	gen := s.decisions.Load()
	s.decisions.Add(1) // a reload while deciding
	w.remember(gen, candidate{}, discovery.Container{MountNS: 1, InitPID: 2, InitStart: 3})
	if len(w.decided) != 0 {
		t.Errorf("a verdict from before the reload was kept: %v", w.decided)
	}
	gen = s.decisions.Load()
	for i := range maxDecided + 10 {
		w.remember(gen, candidate{}, discovery.Container{MountNS: uint64(i + 1), InitPID: i + 1})
	}
	if n := len(w.decided); n > maxDecided || n == 0 {
		t.Errorf("%d verdicts kept, want 1..%d", n, maxDecided)
	}
}
