package discovery

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// loadMembers reads every process of mount namespace mntNS into s.procs
// and returns them: one readlink of ns/mnt per process of the host (see
// mntMembers), the pid namespace and stat only for the members. Processes
// are skipped and errors returned as load does.
func (s *scanner) loadMembers(mntNS uint64) ([]*proc, error) {
	pids, err := listPIDs(s.root)
	if err != nil {
		return nil, err
	}
	candidates, err := mntMembers(s.root, pids, mntNS)
	if err != nil {
		return nil, err
	}
	var members []*proc
	for _, pid := range candidates {
		p, err := s.readProc(pid)
		if errors.Is(err, fs.ErrPermission) {
			continue // see load
		}
		if err != nil {
			return nil, err
		}
		if p == nil || p.mntNS != mntNS {
			continue // gone, or left the namespace meanwhile
		}
		s.procs[pid] = p
		members = append(members, p)
	}
	return members, nil
}

// mntMembers returns those of pids whose ns/mnt link under root names
// mount namespace mntNS, in the order of pids. A process that is gone, or
// whose link the caller may not read, is left out (see load); another
// error is returned. It reads the links relative to one descriptor of
// root with a reused buffer: this is the part of Resolve that grows with
// the host's processes.
func mntMembers(root string, pids []int, mntNS uint64) ([]int, error) {
	dir, err := os.Open(root)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	dfd := int(dir.Fd())
	want := "mnt:[" + strconv.FormatUint(mntNS, 10) + "]"
	var out []int
	var buf [64]byte
	name := make([]byte, 0, 32)
	for _, pid := range pids {
		name = append(strconv.AppendInt(name[:0], int64(pid), 10), "/ns/mnt"...)
		n, err := unix.Readlinkat(dfd, string(name), buf[:])
		for err == unix.EINTR {
			n, err = unix.Readlinkat(dfd, string(name), buf[:])
		}
		if err != nil {
			if errors.Is(err, fs.ErrPermission) || isGone(err) {
				continue
			}
			return nil, fmt.Errorf("pid %d: %w", pid, &os.PathError{Op: "readlink", Path: filepath.Join(root, string(name)), Err: err})
		}
		if n < len(buf) && string(buf[:n]) == want {
			out = append(out, pid)
		}
	}
	return out, nil
}

// resolveMembers is Resolve from the processes of target's mount namespace
// alone, with the answer Scan's rules give (see the package
// documentation). It needs no other process because of what the kernel
// guarantees about pid namespaces: the first process created in one is
// its PID 1 (NSpid ends in 1), its parent is outside it, and every other
// process of it started no earlier. So a member whose NSpid ends in 1 is
// the init pidNSInits picks for its pid namespace, and a member that
// entered a pid namespace whose PID 1 is also a member is not. (The
// kernel stamps the start time after it allocates the PID, so a second
// process forked into a new pid namespace at the very moment its PID 1
// is could show a start time one tick earlier; Scan would take that one.)
//
// TestResolveMatchesFullLoad checks the answer against resolveFull on
// random hosts.
//
// ok is false, with no error, when that does not decide: a member entered
// a pid namespace whose PID 1 is not in this mount namespace (a pod
// sharing the sandbox's pid namespace) and no runtime recorded a member,
// or NSpid is missing or unreadable. The caller then loads every process.
func resolveMembers(opts Options, s *scanner, target *proc) (_ Container, ok bool, _ error) {
	pid := target.pid
	members, err := s.loadMembers(target.mntNS)
	if err != nil {
		return Container{}, true, fmt.Errorf("resolve pid %d: %w", pid, err)
	}
	if _, ok := s.procs[pid]; !ok {
		// Exited (or left its mount namespace) since readProc.
		return Container{}, true, fmt.Errorf("resolve pid %d: %w", pid, ErrNoProcess)
	}
	end := opts.Cache.begin()
	defer end()
	// A record only counts for a process of this mount namespace: match
	// checks the others against procfs to no end here.
	var mine []record
	for _, r := range readSources(opts.sources(), opts.Cache) {
		if s.procs[r.pid] != nil {
			mine = append(mine, r)
		}
	}
	recorded, err := s.match(mine)
	if err != nil {
		return Container{}, true, fmt.Errorf("resolve pid %d: %w", pid, err)
	}
	rules := make(map[*proc]initRule, len(members))
	if len(recorded) == 0 {
		// Which members are the PID 1 of their pid namespace.
		pid1 := map[uint64]bool{}
		var entries []*proc
		for _, m := range members {
			if !s.enteredFromOutside(m) {
				rules[m] = byOldest
				continue
			}
			nspid, err := readNSpid(filepath.Join(s.root, strconv.Itoa(m.pid), "status"))
			if err != nil || len(nspid) == 0 {
				return Container{}, false, nil
			}
			if len(nspid) > 1 && nspid[len(nspid)-1] == 1 {
				rules[m] = byPIDNSInit
				pid1[m.pidNS] = true
				continue
			}
			entries = append(entries, m)
		}
		for _, m := range entries {
			if !pid1[m.pidNS] {
				return Container{}, false, nil // its pid namespace's init is elsewhere
			}
			rules[m] = byEntry
		}
	}
	init, _ := s.pickBy(members, func(m *proc) initRule {
		if len(recorded[m.pid]) > 0 {
			return byRuntime
		}
		if r, ok := rules[m]; ok {
			return r
		}
		return byOldest // only reached when a record decides anyway
	})
	c, err := s.resolved(opts, pid, target.mntNS, init, recorded[init.pid])
	return c, true, err
}

// enteredFromOutside is isEntry for a scanner that loaded only one mount
// namespace: a parent that was not loaded is read here, and counts as
// outside when load would have left it out (gone, a zombie, unreadable).
func (s *scanner) enteredFromOutside(p *proc) bool {
	if p.pidNS == s.hostPID {
		return false
	}
	parent := s.procs[p.ppid]
	if parent == nil {
		var err error
		if parent, err = s.readProc(p.ppid); err != nil || parent == nil {
			return true
		}
	}
	return parent.pidNS != p.pidNS
}
