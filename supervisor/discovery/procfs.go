package discovery

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// procStat is what discovery needs from /proc/<pid>/stat.
type procStat struct {
	PPID  int    // field 4
	Start uint64 // field 22, starttime: clock ticks since boot
}

// parseStat parses the one line of /proc/<pid>/stat (proc(5);
// fs/proc/array.c do_task_stat):
//
//	1234 (my prog) S 1200 1234 1234 0 -1 4194560 ... 20 0 1 0 106237 ...
//	(1)  (2)       (3) (4)                             (18)     (22)
//
// Field 2 is the command name in parentheses; it may itself hold spaces and
// ')' (a process may name itself anything up to 15 bytes), so the fields
// after it are counted from the last ')'.
func parseStat(r io.Reader) (procStat, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return procStat{}, err
	}
	line := string(bytes.TrimSpace(b))
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("stat line %q: no ')' after the command name", line)
	}
	f := strings.Fields(line[i+1:]) // f[0] is field 3
	const (
		ppidField  = 4
		startField = 22
		first      = 3
	)
	if len(f) <= startField-first {
		return procStat{}, fmt.Errorf("stat line %q: %d fields after the command name, want at least %d", line, len(f), startField-first+1)
	}
	ppid, err := strconv.Atoi(f[ppidField-first])
	if err != nil {
		return procStat{}, fmt.Errorf("stat line %q: ppid (field %d): %w", line, ppidField, err)
	}
	start, err := strconv.ParseUint(f[startField-first], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("stat line %q: starttime (field %d): %w", line, startField, err)
	}
	return procStat{PPID: ppid, Start: start}, nil
}

// readStat reads and parses path, a /proc/<pid>/stat.
func readStat(path string) (procStat, error) {
	f, err := os.Open(path)
	if err != nil {
		return procStat{}, err
	}
	defer f.Close()
	st, err := parseStat(f)
	if err != nil {
		return procStat{}, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// parseNSpid returns the PIDs of the NSpid line of /proc/<pid>/status
// (Linux 4.1+), from the outermost pid namespace the reader can see to the
// process's own:
//
//	NSpid:	16632	1
//
// The last value is 1 exactly when the process is the init of its pid
// namespace. A status without an NSpid line (older kernels) returns nil and
// no error.
func parseNSpid(r io.Reader) ([]int, error) {
	s := bufio.NewScanner(r)
	for s.Scan() {
		rest, ok := strings.CutPrefix(s.Text(), "NSpid:")
		if !ok {
			continue
		}
		var pids []int
		for _, v := range strings.Fields(rest) {
			pid, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("line %q: %w", s.Text(), err)
			}
			pids = append(pids, pid)
		}
		if len(pids) == 0 {
			return nil, fmt.Errorf("line %q: no pid", s.Text())
		}
		return pids, nil
	}
	return nil, s.Err()
}

// readNSpid reads and parses path, a /proc/<pid>/status.
func readNSpid(path string) ([]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pids, err := parseNSpid(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pids, nil
}

// parseNSLink returns the inode number in link, the target of a
// /proc/<pid>/ns/<kind> symlink: "<kind>:[<inode>]", e.g. "mnt:[4026531841]"
// (fs/nsfs.c ns_get_name).
func parseNSLink(kind, link string) (uint64, error) {
	rest, ok := strings.CutPrefix(link, kind+":[")
	if !ok || !strings.HasSuffix(rest, "]") {
		return 0, fmt.Errorf("namespace link %q: want %s:[<inode>]", link, kind)
	}
	ino, err := strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("namespace link %q: %w", link, err)
	}
	return ino, nil
}

// readNS returns the inode number of the namespace of the given kind ("pid",
// "mnt") of the process whose directory is dir (<procRoot>/<pid>). Reading
// the link costs no file open; on a fixture tree it is an ordinary symlink
// with the same text.
func readNS(dir, kind string) (uint64, error) {
	p := filepath.Join(dir, "ns", kind)
	link, err := os.Readlink(p)
	if err != nil {
		return 0, err
	}
	ino, err := parseNSLink(kind, link)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p, err)
	}
	return ino, nil
}

// isGone reports whether err means that the process has exited (or become a
// zombie, whose ns/mnt link is gone) between listing /proc and reading its
// files: ENOENT, or ESRCH from a few procfs files.
func isGone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// listPIDs returns the numeric entries of procRoot: every process (thread
// group) the procfs shows. Threads are not listed there, only under
// /proc/<pid>/task.
func listPIDs(procRoot string) ([]int, error) {
	d, err := os.Open(procRoot)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", procRoot, err)
	}
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if n == "" || n[0] < '0' || n[0] > '9' {
			continue
		}
		if pid, err := strconv.Atoi(n); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// StartTime returns process pid's start time in clock ticks since boot
// (field 22 of <ProcRoot>/<pid>/stat), the value Container.InitStart
// holds: a cheap check that a PID still names the same process. A gone
// process wraps ErrNoProcess.
func StartTime(opts Options, pid int) (uint64, error) {
	st, err := readStat(filepath.Join(opts.procRoot(), strconv.Itoa(pid), "stat"))
	if err != nil {
		if isGone(err) {
			return 0, fmt.Errorf("process %d: %w", pid, ErrNoProcess)
		}
		return 0, err
	}
	return st.Start, nil
}
