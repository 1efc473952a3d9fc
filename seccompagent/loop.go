package seccompagent

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// errHangup ends a loop: the filter has no task left (the container, or
// the process the fd was made for and its children, exited).
var errHangup = errors.New("seccomp filter has no task left")

// notifyFile makes a pollable *os.File of notify fd, so that waiting for
// a notification parks a goroutine in the Go poller instead of an OS
// thread in ioctl. O_NONBLOCK is a flag of the open file, shared with the
// other processes holding it (all of lxmount's, all wanting it).
func notifyFile(fd int, name string) (*os.File, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, &os.PathError{Op: "set O_NONBLOCK", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// next waits for and receives the next notification on f. It returns
// errHangup when the filter is gone and os.ErrDeadlineExceeded when f's
// read deadline passes (how a loop is stopped).
func next(rc syscall.RawConn) (notif, error) {
	var n notif
	var err error
	rerr := rc.Read(func(fd uintptr) bool {
		for {
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			if k, perr := unix.Poll(pfd, 0); perr != nil || k == 0 {
				return false // nothing yet: wait in the poller
			}
			switch re := pfd[0].Revents; {
			case re&unix.POLLIN != 0:
			case re&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0:
				err = errHangup
				return true
			default:
				return false
			}
			// Pending: RECV does not block. ENOENT: the caller was
			// interrupted or killed meanwhile; look again.
			n, err = recv(int(fd))
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return true
		}
	})
	if rerr != nil {
		return n, rerr
	}
	return n, err
}
