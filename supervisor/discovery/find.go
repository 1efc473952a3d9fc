package discovery

import (
	"fmt"
	"path/filepath"
	"strconv"
)

// The functions of this file serve a caller that learns of processes one
// at a time (an exec event) and asks, for each, whether it is a new
// container: cheap questions first (which mount namespace), the answer
// Scan would give last.

// HostMountNS returns the inode number of the host's mount namespace: the
// one of PID 1 of opts.ProcRoot, as Scan and Resolve take it.
func HostMountNS(opts Options) (uint64, error) {
	_, mntNS, err := hostNamespaces(opts.procRoot())
	if err != nil {
		return 0, fmt.Errorf("host mount namespace of %s: %w", opts.procRoot(), err)
	}
	return mntNS, nil
}

// Namespace returns the inode number of process pid's namespace of the
// given kind ("mnt", "pid", as named in /proc/<pid>/ns): one readlink of
// <ProcRoot>/<pid>/ns/<kind>. A process that is gone (or a zombie, which
// has no namespaces left) wraps ErrNoProcess.
func Namespace(opts Options, pid int, kind string) (uint64, error) {
	ns, err := readNS(filepath.Join(opts.procRoot(), strconv.Itoa(pid)), kind)
	if err != nil {
		if isGone(err) {
			return 0, fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
		}
		return 0, fmt.Errorf("pid %d: %w", pid, err)
	}
	return ns, nil
}

// Find is Resolve with Scan's verdict: the Container Resolve returns for
// process pid, and whether Scan would report that mount namespace as a
// container (the package documentation's rules 1 to 3: its init is the
// PID a runtime recorded, or entered a pid namespace other than the
// host's from outside). ok is false for what Resolve resolves anyway,
// such as a systemd service with PrivateTmp= or a mount namespace made
// by a process inside a container; Container then names its oldest
// process. Errors are Resolve's.
//
// Resolve chooses the init by the strongest rule any process of the
// namespace satisfies, so the namespace satisfies one exactly when the
// init does: that is what Find checks, on the init alone.
func Find(opts Options, pid int) (c Container, ok bool, err error) {
	c, err = Resolve(opts, pid)
	if err != nil {
		return c, false, err
	}
	s, err := newScanner(opts.procRoot())
	if err != nil {
		return c, false, fmt.Errorf("find pid %d: %w", pid, err)
	}
	init, err := s.readProc(c.InitPID)
	if err != nil {
		return c, false, fmt.Errorf("find pid %d: %w", pid, err)
	}
	if init == nil || init.start != c.InitStart {
		return c, false, fmt.Errorf("find pid %d: init %d of its mount namespace exited: %w", pid, c.InitPID, ErrNoProcess)
	}
	if s.enteredFromOutside(init) {
		return c, true, nil // rules 2 and 3
	}
	// Rule 1: a runtime recorded this very process (same PID and start
	// time; match checks that).
	end := opts.Cache.begin()
	defer end()
	var mine []record
	for _, r := range readSources(opts.sources(), opts.Cache) {
		if r.pid == init.pid {
			mine = append(mine, r)
		}
	}
	s.procs[init.pid] = init
	recorded, err := s.match(mine)
	if err != nil {
		return c, false, fmt.Errorf("find pid %d: %w", pid, err)
	}
	return c, len(recorded[init.pid]) > 0, nil
}

// ResolveInit is Resolve for a process its runtime names as the
// container's init (the pid of an OCI hook's state): only that process is
// read, not the other processes of its mount namespace nor the runtimes'
// state, whose records are not written yet while the hooks run. The
// Container has no runtime identity (ID, Name, ...): the caller has the
// runtime's.
func ResolveInit(opts Options, pid int) (Container, error) {
	s, target, err := resolveTarget(opts, pid)
	if err != nil {
		return Container{}, err
	}
	return s.resolved(opts, pid, target.mntNS, target, nil)
}
