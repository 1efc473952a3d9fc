package sources

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// TaskStates counts a cgroup's tasks by scheduler state.
type TaskStates struct {
	Total   int // every task (thread) in the cgroup
	Running int // state R
	// Uninterruptible is the tasks in state D, or, counted by the
	// kernel per cgroup (cgroupStats), those blocked: exactly
	// TASK_UNINTERRUPTIBLE or in I/O wait.
	Uninterruptible int
}

// readTaskStates counts the tasks of the container's cgroup by state, from
// the cgroup's task list and the host's /proc/<tid>/stat.
//
// The task list is the v1 "tasks" file of the pids controller (else cpu,
// cpuacct or memory, whichever the container is bound to) or the v2
// "cgroup.threads" file. Child cgroups are counted too, like lxcfs's
// calc_pid (proc_loadavg.c) does: a container running systemd keeps no task
// in its top cgroup. TIDs in those files are in lxmount's PID namespace, so
// h.ProcRoot must be lxmount's own /proc.
//
// A task that exits between listing and reading is skipped. A missing top
// cgroup is an error that wraps fs.ErrNotExist (see isVanished).
func readTaskStates(h Host, cg Cgroup) (TaskStates, error) {
	return pathReader().taskStates(h, cg)
}

// taskStates is readTaskStates reading through r.
func (r *fileReader) taskStates(h Host, cg Cgroup) (TaskStates, error) {
	dir, name, err := taskList(cg)
	if err != nil {
		return TaskStates{}, err
	}
	var ts TaskStates
	var scratch [taskStatPrefix]byte
	if r.tasks != nil {
		r.tasks.begin()
		defer r.tasks.end()
	}
	if r.counts != nil {
		// Totals from the task lists, running and blocked from one
		// request per cgroup; Uninterruptible is then cgroupStats's
		// blocked count.
		err := r.walkTaskLists(dir, name, true, func(dir string, list []byte) error {
			n := bytes.Count(list, []byte{'\n'})
			ts.Total += n
			if n == 0 { // an empty cgroup (a systemd container's top one) needs no request
				return nil
			}
			c, err := r.counts(dir)
			if err != nil {
				return fmt.Errorf("count tasks of %s: %w", dir, err)
			}
			ts.Running += int(c.Running)
			ts.Uninterruptible += int(c.Blocked)
			return nil
		})
		switch {
		case err == nil:
			if ts.Running > ts.Total { // a task started between list and count
				ts.Running = ts.Total
			}
			return ts, nil
		case isVanished(err):
			return TaskStates{}, err
		}
		// The kernel cannot count (cgroup2, no taskstats) or the request
		// failed: count task by task.
		ts = TaskStates{}
	}
	err = r.walkTaskLists(dir, name, true, func(dir string, list []byte) error {
		return r.countTaskList(h.ProcRoot, filepath.Join(dir, name), list, &ts, scratch[:])
	})
	if err != nil {
		return TaskStates{}, err
	}
	return ts, nil
}

// taskList returns the cgroup directory and the name of the file listing
// its threads.
func taskList(cg Cgroup) (dir, name string, err error) {
	for _, ctrl := range [...]string{"pids", "cpu", "cpuacct", "memory"} {
		if d := cg.Controller(ctrl); d != "" {
			return d, "tasks", nil
		}
	}
	if cg.V2 != "" {
		return cg.V2, "cgroup.threads", nil
	}
	return "", "", fmt.Errorf("list tasks: no pids, cpu, cpuacct, memory or v2 cgroup: %w", fs.ErrNotExist)
}

// walkTaskLists calls visit with the task list dir/name of dir and of
// every cgroup below it; the list is valid during the call only (the walk
// reuses r's buffer). A child cgroup removed while walking is skipped: its
// list or directory missing, or visit failing with an error for which
// isVanished is true. The top one missing is an error.
func (r *fileReader) walkTaskLists(dir, name string, top bool, visit func(dir string, list []byte) error) error {
	data, err := r.file(dir, name)
	if err != nil {
		if !top && isVanished(err) {
			return nil
		}
		return fmt.Errorf("read %s: %w", filepath.Join(dir, name), err)
	}
	if err := visit(dir, data); err != nil {
		if !top && isVanished(err) {
			return nil
		}
		return err
	}
	children, err := r.subdirs(dir)
	if err != nil {
		if isVanished(err) {
			if top {
				return fmt.Errorf("open %s: %w", dir, err)
			}
			return nil
		}
		return fmt.Errorf("read dir %s: %w", dir, err)
	}
	for _, child := range children {
		if err := r.walkTaskLists(filepath.Join(dir, child), name, false, visit); err != nil {
			return err
		}
	}
	return nil
}

// countTaskList adds the tasks of one task list (one TID a line, as in v1
// "tasks" and v2 "cgroup.threads") to ts. path is for error messages.
func (r *fileReader) countTaskList(procRoot, path string, data []byte, ts *TaskStates, scratch []byte) error {
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		if len(line) == 0 {
			continue
		}
		tid, err := strconv.Atoi(string(line))
		if err != nil || tid <= 0 {
			return fmt.Errorf("parse %s: bad tid %q", path, line)
		}
		var state byte
		if r.tasks != nil {
			state, err = r.tasks.state(procRoot, tid, scratch)
		} else {
			state, err = readTaskState(procRoot, tid, scratch)
		}
		if err != nil {
			if isVanished(err) {
				continue // exited since the list was read
			}
			return err
		}
		ts.Total++
		switch state {
		case 'R':
			ts.Running++
		case 'D':
			ts.Uninterruptible++
		}
	}
	return nil
}

// taskStatPrefix is how much of /proc/<tid>/stat readTaskState reads. The
// state follows "pid (comm) ", and comm is at most 63 bytes (a kworker's
// name, fs/proc/array.c proc_task_name; TASK_COMM_LEN is 16 otherwise), so
// the state is always within the first 80 bytes.
const taskStatPrefix = 256

// readTaskState returns the state letter of task tid from
// procRoot/<tid>/stat. It reads only the start of the file into scratch
// and skips os.File (no fstat, no poller registration): it runs once per
// task per /proc/loadavg and /proc/stat read. An exited task gives an error
// for which isVanished is true (ENOENT on open, ESRCH on read).
func readTaskState(procRoot string, tid int, scratch []byte) (byte, error) {
	path := procRoot + "/" + strconv.Itoa(tid) + "/stat"
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	n, err := unix.Read(fd, scratch)
	unix.Close(fd)
	if err == nil && n == 0 {
		err = syscall.ESRCH // reaped between open and read
	}
	if err != nil {
		return 0, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	return parseTaskStateAt(procRoot, tid, scratch[:n])
}

// parseTaskStateAt is parseTaskState with procRoot/<tid>/stat named in
// its error.
func parseTaskStateAt(procRoot string, tid int, stat []byte) (byte, error) {
	state, err := parseTaskState(stat)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", procRoot+"/"+strconv.Itoa(tid)+"/stat", err)
	}
	return state, nil
}

// parseTaskState returns the state letter (field 3) of a /proc/<tid>/stat
// line, or of its start:
//
//	4242 (my (odd) comm) S 1 4242 ...
//	   1  2              3
//
// comm may hold spaces, parentheses and ") (" sequences, so the state is
// found after the last ')': no later field contains one.
func parseTaskState(stat []byte) (byte, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) || stat[i+1] != ' ' || stat[i+2] == ' ' {
		return 0, fmt.Errorf("no state after comm in %q", stat)
	}
	return stat[i+2], nil
}

// isVanished reports whether err means that a file, its cgroup or its task
// is not there: never created (controller not bound), removed meanwhile
// (kernfs answers ENODEV for an open file of a removed cgroup) or, for
// /proc/<tid>, the task exited (ENOENT on open, ESRCH on read).
func isVanished(err error) bool {
	return errors.Is(err, fs.ErrNotExist) ||
		errors.Is(err, syscall.ENODEV) ||
		errors.Is(err, syscall.ESRCH)
}
