package discovery

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/containerd/cgroups/v3"
)

// proc is one process of the scanned procfs.
type proc struct {
	pid, ppid int
	start     uint64 // clock ticks since boot
	pidNS     uint64
	mntNS     uint64
}

// older reports whether a started before b; PID breaks ties so that every
// choice is deterministic.
func older(a, b *proc) bool {
	if a.start != b.start {
		return a.start < b.start
	}
	return a.pid < b.pid
}

// scanner is one Scan's or Resolve's view of a procfs: the host's
// namespaces and the processes read so far.
type scanner struct {
	root    string
	hostPID uint64 // pid namespace of PID 1
	hostMnt uint64 // mount namespace of PID 1
	procs   map[int]*proc
}

// newScanner reads the host's namespaces (see hostNamespaces).
func newScanner(root string) (*scanner, error) {
	pidNS, mntNS, err := hostNamespaces(root)
	if err != nil {
		return nil, err
	}
	return &scanner{root: root, hostPID: pidNS, hostMnt: mntNS, procs: map[int]*proc{}}, nil
}

// hostNamespaces returns the pid and mount namespaces of the host: those of
// PID 1 of root. Where even root may not read PID 1's namespace links (a
// sandbox whose PID 1 holds capabilities the caller lacks, or a Landlock
// domain; ptrace access mode checks, see proc(5) /proc/pid/ns), it takes
// those of PID 2 if that is kthreadd (parent 0, so root shows the initial
// pid namespace): kernel threads run in the kernel's initial namespaces,
// which are PID 1's on any host whose init stays where it booted.
func hostNamespaces(root string) (pidNS, mntNS uint64, err error) {
	pidNS, mntNS, err = namespacesOf(filepath.Join(root, "1"))
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return pidNS, mntNS, err
	}
	kthreadd := filepath.Join(root, "2")
	if st, serr := readStat(filepath.Join(kthreadd, "stat")); serr != nil || st.PPID != 0 {
		return 0, 0, err
	}
	if pidNS, mntNS, kerr := namespacesOf(kthreadd); kerr == nil {
		return pidNS, mntNS, nil
	}
	return 0, 0, err
}

// namespacesOf returns the pid and mount namespaces of the process whose
// directory is dir.
func namespacesOf(dir string) (pidNS, mntNS uint64, err error) {
	if pidNS, err = readNS(dir, "pid"); err != nil {
		return 0, 0, fmt.Errorf("host pid namespace: %w", err)
	}
	if mntNS, err = readNS(dir, "mnt"); err != nil {
		return 0, 0, fmt.Errorf("host mount namespace: %w", err)
	}
	return pidNS, mntNS, nil
}

// readProc reads pid's namespaces and stat. It returns nil and no error if
// the process is gone.
func (s *scanner) readProc(pid int) (*proc, error) {
	dir := filepath.Join(s.root, strconv.Itoa(pid))
	pidNS, err := readNS(dir, "pid")
	if err != nil {
		return nil, goneOrErr(pid, err)
	}
	return s.readRest(pid, dir, pidNS)
}

// readRest completes readProc once the pid namespace is known.
func (s *scanner) readRest(pid int, dir string, pidNS uint64) (*proc, error) {
	mntNS, err := readNS(dir, "mnt")
	if err != nil {
		return nil, goneOrErr(pid, err)
	}
	st, err := readStat(filepath.Join(dir, "stat"))
	if err != nil {
		return nil, goneOrErr(pid, err)
	}
	return &proc{pid: pid, ppid: st.PPID, start: st.Start, pidNS: pidNS, mntNS: mntNS}, nil
}

// goneOrErr turns a "process gone" error into nil and wraps anything else
// with the PID.
func goneOrErr(pid int, err error) error {
	if isGone(err) {
		return nil
	}
	return fmt.Errorf("pid %d: %w", pid, err)
}

// load reads every process outside the host's pid namespace; with alsoMnt
// != 0 also those in the host's pid namespace whose mount namespace is
// alsoMnt. A process in the host's pid namespace costs one readlink.
//
// A process whose namespace links the caller may not read is skipped: as
// root that is only one holding capabilities root lacks (a sandbox's PID 1),
// never a container's process; without root hostNamespaces already failed.
func (s *scanner) load(alsoMnt uint64) error {
	pids, err := listPIDs(s.root)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		dir := filepath.Join(s.root, strconv.Itoa(pid))
		pidNS, err := readNS(dir, "pid")
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				continue // see the doc comment
			}
			if err := goneOrErr(pid, err); err != nil {
				return err
			}
			continue
		}
		if pidNS == s.hostPID && alsoMnt == 0 {
			continue
		}
		p, err := s.readRest(pid, dir, pidNS)
		if errors.Is(err, fs.ErrPermission) {
			continue
		}
		if err != nil {
			return err
		}
		if p == nil || (pidNS == s.hostPID && p.mntNS != alsoMnt) {
			continue
		}
		s.procs[pid] = p
	}
	return nil
}

// isEntry reports whether p entered a pid namespace other than the host's
// from outside: its parent is in another pid namespace. That holds for the
// init of a pid namespace, for a container's first process started into an
// existing pid namespace, and for processes a runtime exec'd into the
// container (they are reparented to the runtime's shim, outside).
func (s *scanner) isEntry(p *proc) bool {
	if p.pidNS == s.hostPID {
		return false
	}
	parent := s.procs[p.ppid] // not loaded: in the host's pid namespace
	return parent == nil || parent.pidNS != p.pidNS
}

// pidNSInits returns the init of every pid namespace seen, keyed by
// namespace: the oldest of the processes that entered it from outside (an
// init is created before anything else in its namespace). Processes that
// entered in the same clock tick are told apart by the NSpid line of
// /proc/<pid>/status, whose last value is 1 for the init.
func (s *scanner) pidNSInits() (map[uint64]*proc, error) {
	entries := map[uint64][]*proc{}
	for _, p := range s.procs {
		if s.isEntry(p) {
			entries[p.pidNS] = append(entries[p.pidNS], p)
		}
	}
	inits := make(map[uint64]*proc, len(entries))
	for ns, ps := range entries {
		sort.Slice(ps, func(i, j int) bool { return older(ps[i], ps[j]) })
		init := ps[0]
		for _, p := range ps {
			if p.start != ps[0].start || len(ps) == 1 {
				break
			}
			nspid, err := readNSpid(filepath.Join(s.root, strconv.Itoa(p.pid), "status"))
			if err != nil {
				if err := goneOrErr(p.pid, err); err != nil {
					return nil, err
				}
				continue
			}
			if len(nspid) > 1 && nspid[len(nspid)-1] == 1 {
				init = p
				break
			}
		}
		inits[ns] = init
	}
	return inits, nil
}

// initRule says by which rule of the package documentation a container's
// init was chosen; lower is stronger.
type initRule int

const (
	byRuntime   initRule = iota + 1 // a runtime recorded this PID and start time
	byPIDNSInit                     // the init of a pid namespace
	byEntry                         // entered a pid namespace from outside
	byOldest                        // oldest process of the mount namespace (Resolve only)
)

// pickInit chooses the init of the mount namespace whose processes are
// members, by the strongest rule any member satisfies; the oldest member
// satisfying it wins. byOldest prefers a process whose parent is outside the
// mount namespace among processes started in the same tick.
func (s *scanner) pickInit(members []*proc, inits map[uint64]*proc, recorded map[int][]record) (*proc, initRule) {
	return s.pickBy(members, func(m *proc) initRule {
		switch {
		case len(recorded[m.pid]) > 0:
			return byRuntime
		case inits[m.pidNS] == m:
			return byPIDNSInit
		case s.isEntry(m):
			return byEntry
		}
		return byOldest
	})
}

// pickBy is pickInit with the rule of each member given by ruleOf.
func (s *scanner) pickBy(members []*proc, ruleOf func(*proc) initRule) (*proc, initRule) {
	var best *proc
	var bestRule initRule
	for _, m := range members {
		rule := ruleOf(m)
		if best == nil || rule < bestRule || (rule == bestRule && s.beats(m, best, rule)) {
			best, bestRule = m, rule
		}
	}
	return best, bestRule
}

// beats reports whether a is a better init than b under the same rule.
func (s *scanner) beats(a, b *proc, rule initRule) bool {
	if rule == byOldest && a.start == b.start {
		if ao, bo := s.parentOutside(a), s.parentOutside(b); ao != bo {
			return ao
		}
	}
	return older(a, b)
}

// parentOutside reports whether p's parent is in another mount namespace
// (or was not loaded, which means the same).
func (s *scanner) parentOutside(p *proc) bool {
	parent := s.procs[p.ppid]
	return parent == nil || parent.mntNS != p.mntNS
}

// groups returns the loaded processes outside the host's mount namespace,
// grouped by mount namespace.
func (s *scanner) groups() map[uint64][]*proc {
	g := map[uint64][]*proc{}
	for _, p := range s.procs {
		if p.mntNS != s.hostMnt {
			g[p.mntNS] = append(g[p.mntNS], p)
		}
	}
	return g
}

// container builds the Container whose init is p, with p's cgroups and the
// runtime records that matched p. It returns nil and no error if p exited.
func (s *scanner) container(p *proc, recs []record, store *nameStore) (*Container, error) {
	path := filepath.Join(s.root, strconv.Itoa(p.pid), "cgroup")
	v1, v2, err := cgroups.ParseCgroupFileUnified(path)
	if err != nil {
		if isGone(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("cgroups of pid %d: %s: %w", p.pid, path, err)
	}
	c := &Container{
		InitPID:   p.pid,
		InitStart: p.start,
		MountNS:   p.mntNS,
		PIDNS:     p.pidNS,
		CgroupV1:  v1,
		CgroupV2:  v2,
	}
	applyRecords(c, recs, store)
	return c, nil
}

// Scan returns every container of the host seen through opts.ProcRoot,
// ordered by the start time of their init, with what the runtime state
// directories in opts.Sources say about them. A process that exits during
// the scan is left out; a runtime state that is missing, unreadable or does
// not match a live process is ignored. Errors are those of the procfs: the
// host's namespaces unreadable, a process's files unreadable for another
// reason than its exit, a line that does not parse.
func Scan(opts Options) ([]Container, error) {
	s, err := newScanner(opts.procRoot())
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", opts.procRoot(), err)
	}
	if err := s.load(0); err != nil {
		return nil, fmt.Errorf("scan %s: %w", s.root, err)
	}
	end := opts.Cache.begin()
	defer end()
	recorded, err := s.match(readSources(opts.sources(), opts.Cache))
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", s.root, err)
	}
	inits, err := s.pidNSInits()
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", s.root, err)
	}
	store := newNameStore(opts.Cache)
	var out []Container
	for _, members := range s.groups() {
		init, rule := s.pickInit(members, inits, recorded)
		if rule == byOldest {
			continue // no pid namespace entered from outside, no runtime record
		}
		c, err := s.container(init, recorded[init.pid], store)
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", s.root, err)
		}
		if c != nil {
			out = append(out, *c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].InitStart != out[j].InitStart {
			return out[i].InitStart < out[j].InitStart
		}
		return out[i].InitPID < out[j].InitPID
	})
	return out, nil
}

// Resolve returns the container that process pid (any process of it, given
// as a PID of opts.ProcRoot) belongs to: the one Scan reports for pid's
// mount namespace. A process in its own mount namespace that Scan would not
// report (the host's pid namespace and no runtime record, or a namespace
// made inside a container by one of its processes) still resolves: to a
// Container whose InitPID is the oldest process of that mount namespace.
//
// Errors: the process does not exist (errors.Is ErrNoProcess), it is in the
// host's mount namespace (ErrNotContainer), or the procfs cannot be read.
// Each names pid.
//
// Cost: one readlink of ns/mnt per process of the host, then a few reads
// per process of pid's mount namespace (see resolveMembers); the full
// load that Scan does is only needed when a member of the namespace
// entered a pid namespace whose init is elsewhere (a pod sharing its pid
// namespace) or the kernel has no NSpid line.
func Resolve(opts Options, pid int) (Container, error) {
	s, target, err := resolveTarget(opts, pid)
	if err != nil {
		return Container{}, err
	}
	c, ok, err := resolveMembers(opts, s, target)
	if err != nil || ok {
		return c, err
	}
	s.procs = map[int]*proc{}
	return resolveFull(opts, s, target)
}

// resolveTarget reads pid for Resolve: a scanner, and the process, which
// must exist and be outside the host's mount namespace.
func resolveTarget(opts Options, pid int) (*scanner, *proc, error) {
	s, err := newScanner(opts.procRoot())
	if err != nil {
		return nil, nil, fmt.Errorf("resolve pid %d: %w", pid, err)
	}
	target, err := s.readProc(pid)
	if err != nil {
		return nil, nil, fmt.Errorf("resolve: %w", err)
	}
	if target == nil {
		return nil, nil, fmt.Errorf("resolve pid %d: %w", pid, ErrNoProcess)
	}
	if target.mntNS == s.hostMnt {
		return nil, nil, fmt.Errorf("resolve pid %d: %w (mnt:[%d])", pid, ErrNotContainer, target.mntNS)
	}
	return s, target, nil
}

// resolveFull is Resolve by Scan's rules over every process outside the
// host's pid namespace: what resolveMembers cannot decide alone.
func resolveFull(opts Options, s *scanner, target *proc) (Container, error) {
	pid := target.pid
	if err := s.load(target.mntNS); err != nil {
		return Container{}, fmt.Errorf("resolve pid %d: %w", pid, err)
	}
	if _, ok := s.procs[pid]; !ok {
		// Exited between readProc and load: report it as gone, not as a
		// container of which it is no longer part.
		return Container{}, fmt.Errorf("resolve pid %d: %w", pid, ErrNoProcess)
	}
	end := opts.Cache.begin()
	defer end()
	recorded, err := s.match(readSources(opts.sources(), opts.Cache))
	if err != nil {
		return Container{}, fmt.Errorf("resolve pid %d: %w", pid, err)
	}
	inits, err := s.pidNSInits()
	if err != nil {
		return Container{}, fmt.Errorf("resolve pid %d: %w", pid, err)
	}
	init, _ := s.pickInit(s.groups()[target.mntNS], inits, recorded)
	return s.resolved(opts, pid, target.mntNS, init, recorded[init.pid])
}

// resolved builds Resolve's answer once init is chosen.
func (s *scanner) resolved(opts Options, pid int, mntNS uint64, init *proc, recs []record) (Container, error) {
	c, err := s.container(init, recs, newNameStore(opts.Cache))
	if err != nil {
		return Container{}, fmt.Errorf("resolve pid %d: %w", pid, err)
	}
	if c == nil {
		return Container{}, fmt.Errorf("resolve pid %d: init %d of its mount namespace mnt:[%d] exited: %w",
			pid, init.pid, mntNS, ErrNoProcess)
	}
	return *c, nil
}
