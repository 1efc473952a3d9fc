package seccompagent

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// affinity answers sched_getaffinity(pid, len, mask) for the calling
// thread (pid 0) with the container's visible CPUs, intersected with the
// thread's real mask (never a CPU it may not run on); other pids, a
// length the kernel would refuse and an empty intersection are let
// through. The kernel writes min(len, cpumask size) bytes and returns
// that count (kernel/sched/core.c, sys_sched_getaffinity); so does this.
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
	// The raw call returns the kernel's cpumask size, which is what the
	// caller must get back.
	r, _, e := unix.RawSyscall(unix.SYS_SCHED_GETAFFINITY, uintptr(n.PID), unsafe.Sizeof(real), uintptr(unsafe.Pointer(&real)))
	if e != 0 || r == 0 || r > unsafe.Sizeof(real) {
		return false, 0, 0, nil
	}
	var set unix.CPUSet
	for _, c := range cpus {
		if real.IsSet(c) {
			set.Set(c)
		}
	}
	size := uint64(r)
	ln := n.Args[1]
	if set.Count() == 0 || ln < size || ln%8 != 0 {
		// A length the kernel refuses: let it say so.
		return false, 0, 0, nil
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&set)), size)
	errno, err := writeCaller(s.fd, n, n.Args[2], b)
	return err == nil, int64(size), errno, err
}
