package seccompagent

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// affinity answers sched_getaffinity(pid, len, mask) for the calling
// thread (pid 0) with the container's visible CPUs, intersected with the
// thread's real mask (never a CPU it may not run on); other pids, a
// length the kernel would refuse and an empty intersection are let
// through. The kernel accepts any len that is a multiple of a long and
// holds nr_cpu_ids bits, writes min(len, cpumask size) bytes and returns
// that count (kernel/sched/core.c, sys_sched_getaffinity): glibc's
// callers pass 128 bytes, CPython's os.sched_getaffinity 8, where the
// kernel's cpumask may be 32. The daemon asks the kernel with the
// caller's len, so it refuses and counts as it would for the caller.
func (s *server) affinity(n notif) (bool, int64, unix.Errno, error) {
	cv, ok := s.a.cfg.View.(CPUView)
	if !ok || n.Args[0] != 0 {
		return false, 0, 0, nil
	}
	cpus, ok := cv.CPUs(s.initPID)
	if !ok {
		return false, 0, 0, nil
	}
	var real unix.CPUSet
	ln := n.Args[1]
	if ln > uint64(unsafe.Sizeof(real)) {
		// More than the daemon's mask holds (1024 CPUs): the kernel's
		// answer is then its whole cpumask, which fits unless the
		// kernel has more CPUs than that (then let it answer).
		ln = uint64(unsafe.Sizeof(real))
	}
	r, _, e := unix.RawSyscall(unix.SYS_SCHED_GETAFFINITY, uintptr(n.PID), uintptr(ln), uintptr(unsafe.Pointer(&real)))
	if e != 0 || r == 0 || r > uintptr(ln) || ln < n.Args[1] && r == uintptr(ln) {
		// A length the kernel refuses (let it say so), or a cpumask
		// larger than the daemon's.
		return false, 0, 0, nil
	}
	var set unix.CPUSet
	for _, c := range cpus {
		if real.IsSet(c) {
			set.Set(c)
		}
	}
	if set.Count() == 0 {
		return false, 0, 0, nil
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&set)), r)
	errno, err := writeCaller(s.fd, n, n.Args[2], b)
	return err == nil, int64(r), errno, err
}
