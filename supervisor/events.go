package supervisor

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxmount/lxmount/supervisor/discovery"
	"github.com/lxmount/lxmount/supervisor/procevents"
)

// Event-driven discovery: the kernel reports every exec (procevents); a
// container's entrypoint execs in the container's new mount namespace, so
// the first exec seen in a mount namespace nobody decided on yet is when
// the daemon looks at it, by the same rules as reconcile, and attaches it
// if a policy matches. Any other exec costs a readlink of
// /proc/<pid>/ns/mnt and a map lookup (in the host's mount namespace), or
// that and a readlink of ns/pid (in another one).
//
// Two goroutines: one reads events and filters them (it must keep up with
// every exec of the host, or the socket overruns), one decides and
// attaches, one mount namespace at a time, under the container's lock. A
// namespace is queued at most once at a time.

// EventStats counts event-driven discovery, for status and metrics.
type EventStats struct {
	Watching bool   `json:"watching"` // exec events are being read
	Received uint64 `json:"received"` // exec events read
	Attached uint64 `json:"attached"` // containers attached on an exec event
	Overruns uint64 `json:"overruns"` // receive buffer overruns (events lost), each answered by a reconcile
}

// eventCounters are the Supervisor's EventStats as they change.
type eventCounters struct {
	watching                     atomic.Bool
	received, attached, overruns atomic.Uint64
}

// EventStats returns the event-driven discovery counters.
func (s *Supervisor) EventStats() EventStats {
	return EventStats{
		Watching: s.events.watching.Load(),
		Received: s.events.received.Load(),
		Attached: s.events.attached.Load(),
		Overruns: s.events.overruns.Load(),
	}
}

// maxDecided bounds the mount namespaces an EventWatcher remembers having
// left alone; past it the memory starts again empty (each namespace then
// costs one more look at its next exec).
const maxDecided = 4096

// EventWatcher attaches new containers when their first process execs.
// Start it with Supervisor.WatchEvents; Close stops it.
type EventWatcher struct {
	s    *Supervisor
	conn *procevents.Conn
	// host and self are the mount namespaces of the host and of the
	// daemon (its private one): never containers.
	host, self uint64

	mu sync.Mutex
	// queue holds the namespaces to decide, in the order their first exec
	// came; pending has the same ones and the one being decided, to queue
	// each once. again holds the latest exec into a pending namespace,
	// offered again once the decision is made (see offer).
	queue   []candidate
	pending map[uint64]bool
	again   map[uint64]candidate
	// reconcile asks the worker for a full reconcile (after an overrun).
	reconcile bool
	// decided are the namespaces left alone (not a container, no policy,
	// attach failed), as of decidedGen, the Supervisor's decisions.
	decided    map[uint64]member
	decidedGen uint64

	// unsaved counts the containers the worker attached since it last
	// wrote the state file, which it does when its queue is empty or
	// after maxUnsaved: a burst of starting containers costs a few
	// writes, not one each, and a crash forgets at most a few (the
	// state file is what a restarted daemon re-attaches from).
	unsaved int

	wake      chan struct{} // one token: the queue or reconcile changed
	stop      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// candidate is a mount namespace to decide on: the process whose exec
// showed it, its pid namespace, and when it exec'd (CLOCK_MONOTONIC).
type candidate struct {
	pid   int
	ns    uint64
	pidNS uint64
	exec  time.Duration
}

// member says what a verdict on a mount namespace holds for. pid and
// start are a process of it: while that process lives (same PID and start
// time) and stays there, the inode number still names that namespace (the
// kernel reuses the inode numbers of freed namespaces, so without it a new
// container could inherit an old namespace's verdict). pidNS are the pid
// namespaces its processes were in, its init's and the exec'ing one's: an
// exec from another pid namespace may make it a container (the init of a
// new pid namespace execs in a mount namespace its parent unshared a
// moment before; the parent's own exec, read late, showed it first).
type member struct {
	pid   int
	start uint64
	pidNS [2]uint64
}

// WatchEvents subscribes to the kernel's exec events and attaches each new
// container a policy matches as its first process execs, whatever the
// reconcile interval. It fails when the proc connector is not available
// (no CONFIG_PROC_EVENTS, not in the initial namespaces); the caller then
// relies on reconcile alone. Stop it with Close before closing s.
func (s *Supervisor) WatchEvents() (*EventWatcher, error) {
	host, err := discovery.HostMountNS(s.disc)
	if err != nil {
		return nil, err
	}
	self, err := discovery.Namespace(s.disc, os.Getpid(), "mnt")
	if err != nil {
		return nil, err
	}
	conn, err := procevents.Open()
	if err != nil {
		return nil, err
	}
	w := &EventWatcher{
		s:          s,
		conn:       conn,
		host:       host,
		self:       self,
		pending:    map[uint64]bool{},
		again:      map[uint64]candidate{},
		decided:    map[uint64]member{},
		decidedGen: s.decisions.Load(),
		wake:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
	}
	s.events.watching.Store(true)
	w.wg.Add(2)
	go w.read()
	go w.work()
	s.log.Info("watching exec events: new containers are attached when their first process starts")
	return w, nil
}

// Close stops the watcher: it closes the socket, which ends the reader,
// and waits for an attach under way to finish.
func (w *EventWatcher) Close() error {
	var err error
	w.closeOnce.Do(func() {
		err = w.conn.Close()
		close(w.stop)
		w.wg.Wait()
		w.s.events.watching.Store(false)
	})
	return err
}

// read reads exec events until the socket is closed and queues the mount
// namespaces that need a decision.
func (w *EventWatcher) read() {
	defer w.wg.Done()
	for {
		e, err := w.conn.Read()
		switch {
		case err == nil:
			w.s.events.received.Add(1)
			w.consider(e)
		case errors.Is(err, procevents.ErrOverrun):
			w.s.events.overruns.Add(1)
			w.s.log.Warn("exec events lost (receive buffer overrun); reconciling")
			w.mu.Lock()
			w.reconcile = true
			w.mu.Unlock()
			w.signal()
		case errors.Is(err, procevents.ErrMalformed):
			w.s.log.Warn("exec events", "error", err)
		case errors.Is(err, os.ErrClosed):
			return
		default:
			w.s.log.Error("exec events: giving up; new containers are attached by reconcile only", "error", err)
			w.s.events.watching.Store(false)
			return
		}
	}
}

// consider offers e's mount namespace for a decision, unless it is the
// host's or the daemon's, or the process is gone already.
//
// The namespaces are read after the event, so the process may have
// unshared a new mount namespace since its exec (unshare(1) does, before
// it forks the new pid namespace's init): that namespace is then decided
// on early, and again when its init execs, from another pid namespace.
func (w *EventWatcher) consider(e procevents.Exec) {
	s := w.s
	ns, err := discovery.Namespace(s.disc, e.TGID, "mnt")
	if err != nil || ns == w.host || ns == w.self {
		return // gone, or unreadable: a sandbox's process, not a container's
	}
	if s.attachedNS(ns) {
		return
	}
	pidNS, err := discovery.Namespace(s.disc, e.TGID, "pid")
	if err != nil {
		return
	}
	w.offer(candidate{pid: e.TGID, ns: ns, pidNS: pidNS, exec: e.Time})
}

// offer queues c's namespace unless it is attached, or decided for c's
// pid namespace and still the same namespace. One that is pending keeps c
// for after its decision: the kernel reuses a freed namespace's inode
// number, so c may be a new container's exec into a namespace numbered
// like the one being decided, which was attached, has exited and is gone.
func (w *EventWatcher) offer(c candidate) {
	if w.s.attachedNS(c.ns) {
		return
	}
	w.mu.Lock()
	w.forgetIfStale()
	m, decided := w.decided[c.ns]
	queued := w.pending[c.ns]
	if queued {
		w.again[c.ns] = c
	}
	w.mu.Unlock()
	if queued || decided && (c.pidNS == m.pidNS[0] || c.pidNS == m.pidNS[1]) && w.sameNamespace(m, c.ns) {
		return
	}
	w.mu.Lock()
	if !w.pending[c.ns] {
		delete(w.decided, c.ns)
		w.pending[c.ns] = true
		w.queue = append(w.queue, c)
	}
	w.mu.Unlock()
	w.signal()
}

// forgetIfStale drops what was decided under older policies or before the
// last reconcile. The caller holds w.mu.
func (w *EventWatcher) forgetIfStale() {
	if gen := w.s.decisions.Load(); gen != w.decidedGen {
		clear(w.decided)
		w.decidedGen = gen
	}
}

// sameNamespace reports whether m still lives in mount namespace ns.
func (w *EventWatcher) sameNamespace(m member, ns uint64) bool {
	now, err := discovery.Namespace(w.s.disc, m.pid, "mnt")
	if err != nil || now != ns {
		return false
	}
	start, err := discovery.StartTime(w.s.disc, m.pid)
	return err == nil && start == m.start
}

// signal wakes the worker.
func (w *EventWatcher) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// work decides the queued namespaces, one at a time, until Close.
func (w *EventWatcher) work() {
	defer w.wg.Done()
	defer w.flush()
	for {
		select {
		case <-w.stop:
			return
		case <-w.wake:
		}
		for w.next() {
		}
		w.flush()
	}
}

// maxUnsaved bounds the attaches an EventWatcher makes between two
// writes of the state file.
const maxUnsaved = 16

// flush writes the state file if the worker attached a container since
// it last did.
func (w *EventWatcher) flush() {
	if w.unsaved > 0 {
		w.s.saveState()
		w.unsaved = 0
	}
}

// next does one job: the reconcile asked for, else the first queued
// namespace. It reports false when there was none, or the watcher stops.
func (w *EventWatcher) next() bool {
	select {
	case <-w.stop:
		return false
	default:
	}
	w.mu.Lock()
	reconcile := w.reconcile
	w.reconcile = false
	var c candidate
	queued := !reconcile && len(w.queue) > 0
	if queued {
		c = w.queue[0]
		w.queue = w.queue[1:]
	}
	w.mu.Unlock()
	switch {
	case reconcile:
		res, err := w.s.Reconcile(false)
		w.s.noteReconcile(res, err)
		if err != nil && !errors.Is(err, ErrClosed) {
			w.s.log.Warn("reconcile after lost exec events", "error", err)
		}
	case queued:
		w.decide(c)
		w.mu.Lock()
		delete(w.pending, c.ns)
		next, again := w.again[c.ns]
		delete(w.again, c.ns)
		w.mu.Unlock()
		if again {
			w.offer(next)
		}
	default:
		return false
	}
	return true
}

// decide looks at the mount namespace of c and attaches it if it is a
// container a policy matches, as reconcile would; otherwise it remembers
// the namespace as left alone. A process or container that exits on the
// way ends it quietly, remembering nothing.
func (w *EventWatcher) decide(c candidate) {
	s := w.s
	gen := s.decisions.Load()
	if s.isClosed() || s.attachedNS(c.ns) {
		return
	}
	ctr, ok, err := discovery.Find(s.disc, c.pid)
	switch {
	case errors.Is(err, discovery.ErrNoProcess), errors.Is(err, discovery.ErrNotContainer):
		return // exited, or left its namespace for the host's
	case err != nil:
		s.log.Warn("exec event: resolve", "pid", c.pid, "error", err)
		return
	case s.attachedNS(ctr.MountNS):
		return
	case !ok:
		w.remember(gen, c, ctr)
		s.log.Debug("exec event: not a container", "pid", c.pid, "mount_ns", ctr.MountNS)
		return
	case ctr.PIDNS != c.pidNS:
		// The exec came from outside the container's pid namespace: a
		// parent that unshared the mount namespace after its own exec
		// (unshare(1)), whose child may not have set up the container
		// yet. The child's exec decides.
		s.log.Debug("exec event: from outside the container's pid namespace; waiting for one from inside", "pid", c.pid, "init_pid", ctr.InitPID)
		return
	case s.me.refuse(ctr, 0) != nil, s.coveredByCgroup(ctr):
		w.remember(gen, c, ctr) // lxmount itself, or nested in an attached container
		return
	}
	choice, ok, why, err := s.policies().Choose(ctr, "")
	if err != nil || !ok {
		w.remember(gen, c, ctr)
		s.log.Debug("exec event: left alone", "init_pid", ctr.InitPID, "cgroup", cgroupPath(ctr), "reason", why, "error", err)
		return
	}
	a, err := s.attach(ctr, choice)
	if err != nil {
		if st, serr := discovery.StartTime(s.disc, ctr.InitPID); serr != nil || st != ctr.InitStart {
			s.log.Debug("exec event: container exited while attaching", "init_pid", ctr.InitPID, "error", err)
			return
		}
		w.remember(gen, c, ctr) // reconcile retries it
		s.log.Warn("exec event: attach", "init_pid", ctr.InitPID, "cgroup", cgroupPath(ctr), "policy", choice.Policy, "error", err)
		return
	}
	if a.c.MountNS != ctr.MountNS {
		w.remember(gen, c, ctr) // its cgroup was attached meanwhile
		return
	}
	if w.unsaved++; w.unsaved >= maxUnsaved {
		w.flush()
	}
	s.events.attached.Add(1)
	files, _ := a.served()
	s.log.Info("attached", "id", a.id, "init_pid", ctr.InitPID, "cgroup", cgroupPath(ctr), "policy", choice.Policy,
		"files", files, "by", "exec event", "after_exec", sinceMonotonic(c.exec))
}

// remember records ctr's namespace as left alone on c's exec, as decided
// under decisions generation gen (nothing if they changed since).
func (w *EventWatcher) remember(gen uint64, c candidate, ctr discovery.Container) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.forgetIfStale()
	if gen != w.decidedGen {
		return
	}
	if len(w.decided) >= maxDecided {
		clear(w.decided)
	}
	w.decided[ctr.MountNS] = member{pid: ctr.InitPID, start: ctr.InitStart, pidNS: [2]uint64{ctr.PIDNS, c.pidNS}}
}

// coveredByCgroup reports whether another namespace of c's cgroup is
// attached: c is nested in that container and shares its binding.
func (s *Supervisor) coveredByCgroup(c discovery.Container) bool {
	key := cgroupKey(c)
	if key == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.byCgroup[key]
	return a != nil && a.c.MountNS != c.MountNS
}

// attachedNS reports whether the container of mount namespace ns is
// attached.
func (s *Supervisor) attachedNS(ns uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byNS[ns] != nil
}

// sinceMonotonic is how long ago CLOCK_MONOTONIC read t, rounded for a log.
func sinceMonotonic(t time.Duration) time.Duration {
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err != nil {
		return 0
	}
	return (time.Duration(now.Nano()) - t).Round(10 * time.Microsecond)
}
