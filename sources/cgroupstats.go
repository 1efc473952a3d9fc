package sources

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// cgroupStats asks the kernel how many of a v1 cgroup's tasks are running,
// with one taskstats netlink request (CGROUPSTATS_CMD_GET, the request of
// getdelays -C): about 2 µs whatever the number of tasks, where reading
// every task's /proc/<tid>/stat costs 1.3 µs a task. The kernel
// (cgroupstats_build, kernel/cgroup/cgroup-v1.c) walks the tasks of that
// one cgroup, not its children, under cgroup_mutex, and counts them by
// their exact scheduler state:
//
//   - running: TASK_RUNNING, exactly what /proc/<tid>/stat shows as R;
//   - uninterruptible: exactly TASK_UNINTERRUPTIBLE, so not the killable
//     (TASK_KILLABLE) or freezable sleeps that /proc shows as D;
//   - io_wait: the other sleeps of a task in io_schedule.
//
// So it serves the running counts of /proc/loadavg and /proc/stat, and
// procs_blocked (the kernel's own counts tasks in I/O wait) as
// uninterruptible plus io_wait; the load averages, which count every D
// task as the kernel's do, keep reading the task states (SampleLoad).
//
// Only cgroup v1 directories are accepted (EINVAL for cgroup2, and for
// anything not a cgroup directory); the kernel needs CONFIG_TASKSTATS.
// Without either, callers count the tasks one by one.
//
// A cgroupStats is one netlink socket with its request and reply buffers:
// not safe for concurrent use, no allocation per request.
type cgroupStats struct {
	fd     int // -1 until opened
	family uint16
	seq    uint32
	buf    [256]byte
}

// errNoCgroupStats means the kernel cannot answer: no taskstats family, or
// the directory is not a cgroup v1 one.
var errNoCgroupStats = errors.New("cgroupstats not available")

// taskCounts is what cgroupStats returns for one cgroup.
type taskCounts struct {
	Running uint64
	Blocked uint64 // uninterruptible plus in I/O wait
}

// count returns the task counts of the v1 cgroup whose directory is open
// as dirfd. errNoCgroupStats (wrapped) when the kernel cannot tell;
// unix.ENOENT when the cgroup was removed.
func (s *cgroupStats) count(dirfd int) (taskCounts, error) {
	if s.fd < 0 {
		if err := s.open(); err != nil {
			return taskCounts{}, err
		}
	}
	var fd [4]byte
	binary.NativeEndian.PutUint32(fd[:], uint32(dirfd))
	reply, err := s.request(s.family, unix.CGROUPSTATS_CMD_GET, unix.CGROUPSTATS_CMD_ATTR_FD, fd[:])
	if err == unix.EINVAL {
		return taskCounts{}, fmt.Errorf("%w: not a cgroup v1 directory", errNoCgroupStats)
	}
	if err != nil {
		return taskCounts{}, err
	}
	v, ok := findAttr(reply, unix.CGROUPSTATS_TYPE_CGROUP_STATS)
	if !ok || len(v) < 40 {
		return taskCounts{}, fmt.Errorf("cgroupstats: reply without statistics")
	}
	u := func(i int) uint64 { return binary.NativeEndian.Uint64(v[8*i:]) }
	// struct cgroupstats: nr_sleeping, nr_running, nr_stopped,
	// nr_uninterruptible, nr_io_wait.
	return taskCounts{Running: u(1), Blocked: u(3) + u(4)}, nil
}

// open opens the socket and looks up the taskstats family.
func (s *cgroupStats) open() error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	if err != nil {
		return fmt.Errorf("cgroupstats: netlink socket: %w", err)
	}
	s.fd = fd
	name := []byte(unix.TASKSTATS_GENL_NAME + "\x00")
	reply, err := s.request(unix.GENL_ID_CTRL, unix.CTRL_CMD_GETFAMILY, unix.CTRL_ATTR_FAMILY_NAME, name)
	if err == nil {
		if v, ok := findAttr(reply, unix.CTRL_ATTR_FAMILY_ID); ok && len(v) >= 2 {
			s.family = binary.NativeEndian.Uint16(v)
			return nil
		}
		err = errors.New("no family id in the reply")
	}
	s.close()
	if err == unix.ENOENT {
		return fmt.Errorf("%w: no taskstats netlink family (CONFIG_TASKSTATS)", errNoCgroupStats)
	}
	return fmt.Errorf("cgroupstats: look up the taskstats family: %w", err)
}

// close closes the socket; the next count opens a new one.
func (s *cgroupStats) close() {
	if s.fd >= 0 {
		unix.Close(s.fd)
	}
	s.fd = -1
}

// request sends one generic netlink request with one attribute and returns
// the attributes of its reply (in s.buf), or the kernel's error as an
// errno. Generic netlink runs the request in sendmsg and queues the reply
// before it returns, so the receive does not wait (MSG_DONTWAIT); replies
// of an older sequence number (a request that failed half-way) are
// skipped.
func (s *cgroupStats) request(family uint16, cmd uint8, attrType uint16, attr []byte) ([]byte, error) {
	const hdr = unix.NLMSG_HDRLEN + unix.GENL_HDRLEN
	alen := unix.NLA_HDRLEN + len(attr)
	n := hdr + (alen+unix.NLA_ALIGNTO-1)&^(unix.NLA_ALIGNTO-1)
	if n > len(s.buf) {
		return nil, fmt.Errorf("cgroupstats: request of %d bytes", n)
	}
	b := s.buf[:n]
	clear(b)
	s.seq++
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(n))
	ne.PutUint16(b[4:], family)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(b[8:], s.seq)
	b[unix.NLMSG_HDRLEN] = cmd
	b[unix.NLMSG_HDRLEN+1] = unix.TASKSTATS_GENL_VERSION
	ne.PutUint16(b[hdr:], uint16(alen))
	ne.PutUint16(b[hdr+2:], attrType)
	copy(b[hdr+unix.NLA_HDRLEN:], attr)
	if err := s.send(b); err != nil {
		return nil, err
	}
	for {
		m, err := s.recv()
		if err != nil {
			return nil, err
		}
		if len(m) < unix.NLMSG_HDRLEN || ne.Uint32(m[8:]) != s.seq {
			continue
		}
		switch ne.Uint16(m[4:]) {
		case unix.NLMSG_ERROR:
			if len(m) < unix.NLMSG_HDRLEN+4 {
				return nil, errors.New("cgroupstats: short error reply")
			}
			if e := int32(ne.Uint32(m[unix.NLMSG_HDRLEN:])); e < 0 {
				return nil, unix.Errno(-e)
			}
			return nil, errors.New("cgroupstats: acknowledgement without reply")
		}
		if len(m) < hdr {
			return nil, errors.New("cgroupstats: short reply")
		}
		return m[hdr:], nil
	}
}

// send sends one request.
func (s *cgroupStats) send(b []byte) error {
	for {
		_, err := unix.Write(s.fd, b)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return fmt.Errorf("cgroupstats: send: %w", err)
		}
		return nil
	}
}

// recv returns the next message, truncated to its length.
func (s *cgroupStats) recv() ([]byte, error) {
	for {
		n, _, err := unix.Recvfrom(s.fd, s.buf[:], unix.MSG_DONTWAIT)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("cgroupstats: receive: %w", err)
		}
		if n < unix.NLMSG_HDRLEN {
			return nil, errors.New("cgroupstats: short message")
		}
		if l := int(binary.NativeEndian.Uint32(s.buf[0:])); l < n {
			n = l
		}
		return s.buf[:n], nil
	}
}

// findAttr returns the value of the first netlink attribute of type t.
func findAttr(attrs []byte, t uint16) ([]byte, bool) {
	for len(attrs) >= unix.NLA_HDRLEN {
		l := int(binary.NativeEndian.Uint16(attrs))
		if l < unix.NLA_HDRLEN || l > len(attrs) {
			return nil, false
		}
		if binary.NativeEndian.Uint16(attrs[2:])&^(unix.NLA_F_NESTED|unix.NLA_F_NET_BYTEORDER) == t {
			return attrs[unix.NLA_HDRLEN:l], true
		}
		attrs = attrs[min(len(attrs), (l+unix.NLA_ALIGNTO-1)&^(unix.NLA_ALIGNTO-1)):]
	}
	return nil, false
}
