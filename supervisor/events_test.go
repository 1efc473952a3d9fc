package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lxmount/lxmount/supervisor/discovery"
	"github.com/lxmount/lxmount/supervisor/procevents"
)

// fakeProc writes <root>/<pid>/ns/mnt -> "mnt:[<ns>]" and a stat line
// with starttime start (field 22), what consider and sameNamespace read.
func fakeProc(t *testing.T, root string, pid int, ns, start uint64) {
	t.Helper()
	dir := filepath.Join(root, fmt.Sprint(pid))
	if err := os.MkdirAll(filepath.Join(dir, "ns"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "ns", "mnt"))
	if err := os.Symlink(fmt.Sprintf("mnt:[%d]", ns), filepath.Join(dir, "ns", "mnt")); err != nil {
		t.Fatal(err)
	}
	stat := fmt.Sprintf("%d (sh) S 1 %d %d 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 %d 2605056 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n", pid, pid, pid, start)
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConsiderQueuesEachNewNamespaceOnce: the reader's filter, on a
// fixture procfs. Known namespaces are skipped; a namespace left alone
// stays so while the process it was decided by lives, and is looked at
// again when that process is gone (its inode may name a new namespace),
// or after a reconcile or a policy reload.
func TestConsiderQueuesEachNewNamespaceOnce(t *testing.T) {
	const host, self, attachedNS, fresh, leftAlone = 1001, 1002, 1003, 1004, 1005
	root := t.TempDir()
	fakeProc(t, root, 10, host, 1)
	fakeProc(t, root, 11, self, 1)
	fakeProc(t, root, 12, attachedNS, 1)
	fakeProc(t, root, 13, fresh, 1)
	fakeProc(t, root, 14, fresh, 2)
	fakeProc(t, root, 15, leftAlone, 3) // the member it was decided by
	fakeProc(t, root, 16, leftAlone, 4)
	s := &Supervisor{
		disc: discovery.Options{ProcRoot: root},
		byID: map[string]*attachment{},
		byNS: map[uint64]*attachment{attachedNS: {}},
	}
	w := &EventWatcher{s: s, host: host, self: self, pending: map[uint64]bool{}, decided: map[uint64]member{},
		wake: make(chan struct{}, 1)}
	w.decided[leftAlone] = member{pid: 15, start: 3}
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

	exec(10, 11, 12, 13, 14, 15, 16, 99 /* gone */)
	if got := queued(); fmt.Sprint(got) != fmt.Sprint([]uint64{fresh}) {
		t.Errorf("queued %v, want only the fresh namespace, once", got)
	}

	// The member exits and its PID now runs something that started later:
	// the inode may name another namespace, so it is looked at again.
	fakeProc(t, root, 15, leftAlone, 30)
	exec(16)
	if got := queued(); fmt.Sprint(got) != fmt.Sprint([]uint64{leftAlone}) {
		t.Errorf("after the member's PID was reused: queued %v, want the namespace again", got)
	}

	// Decided again, then a reconcile (or a reload) forgets every verdict.
	w.decided[leftAlone] = member{pid: 16, start: 4}
	exec(16)
	if got := queued(); len(got) != 0 {
		t.Errorf("decided namespace queued again: %v", got)
	}
	s.decisions.Add(1)
	exec(16)
	if got := queued(); fmt.Sprint(got) != fmt.Sprint([]uint64{leftAlone}) {
		t.Errorf("after a reconcile: queued %v, want the namespace again", got)
	}
}

// TestRememberIsBoundedAndGenerational: verdicts made under older
// policies are not kept, and the memory never grows past maxDecided.
func TestRememberIsBoundedAndGenerational(t *testing.T) {
	s := &Supervisor{}
	w := &EventWatcher{s: s, decided: map[uint64]member{}}
	gen := s.decisions.Load()
	s.decisions.Add(1) // a reload while deciding
	w.remember(gen, discovery.Container{MountNS: 1, InitPID: 2, InitStart: 3})
	if len(w.decided) != 0 {
		t.Errorf("a verdict from before the reload was kept: %v", w.decided)
	}
	gen = s.decisions.Load()
	for i := range maxDecided + 10 {
		w.remember(gen, discovery.Container{MountNS: uint64(i + 1), InitPID: i + 1})
	}
	if n := len(w.decided); n > maxDecided || n == 0 {
		t.Errorf("%d verdicts kept, want 1..%d", n, maxDecided)
	}
}
