package vfs

import (
	"errors"
	"os"
	"reflect"
	"syscall"
	"time"
	"unsafe"

	"bazil.org/fuse"
	"golang.org/x/sys/unix"
)

// device reads requests from a FUSE connection. When the device could be
// made non-blocking, a reader waiting for a request is parked in the Go
// runtime's poller (epoll) and holds no OS thread: an idle container
// costs a parked goroutine, not a thread blocked in read(2).
//
// bazil.org/fuse reads the device with syscall.Read on its own file
// descriptor and exposes neither the descriptor nor a way to wait. So the
// descriptor is taken from the Conn (field dev, found by name and type,
// see connFile), its open file description is made O_NONBLOCK, which
// makes Conn.ReadRequest fail with EAGAIN when no request is queued
// (fs/fuse/dev.c fuse_dev_do_read), and a duplicate of it is handed to the
// poller, which wakes a reader when the device becomes readable
// (fuse_dev_poll). Without the descriptor, readers block in read(2).
type device struct {
	conn *fuse.Conn
	poll *os.File        // the duplicate registered with the poller; nil: blocking
	rc   syscall.RawConn // poll's
	fd   int             // poll's descriptor, for ppoll (poll.Fd would make it blocking)
}

// hotWindow is how long after a request a reader keeps waiting for the
// next one in ppoll(2) on its thread (Server.reader) rather than in the Go
// poller.
//
// Why not always the poller: it is slower for a busy container and, under
// load, unfair to the others. With one container read flat out, another
// read 200 times a second saw a p99 of 13.8 ms waiting in the poller
// against 0.98 ms waiting on its thread (docs/benchmarks.md, noisy
// neighbour): a goroutine readied by the poller queues behind the busy
// container's goroutine in the Go scheduler, where a thread woken by the
// kernel is scheduled by the kernel. Why not always a thread: idle
// containers would each hold one. The window keeps containers read
// steadily (10 times a second or more) on threads and lets idle ones cost
// none; the first request after an idle spell comes through the poller.
const hotWindow = 100 * time.Millisecond

// newDevice prepares conn for polling, or falls back to blocking reads.
func newDevice(conn *fuse.Conn) *device {
	d := &device{conn: conn}
	f := connFile(conn)
	if f == nil {
		return d
	}
	// Fd does not change the mode of a file os.NewFile got in blocking
	// mode, which is how bazil opens the device.
	fd := int(f.Fd())
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return d
	}
	// O_NONBLOCK is a flag of the open file description: set through the
	// duplicate, it applies to bazil's descriptor too.
	if err := unix.SetNonblock(dup, true); err != nil {
		unix.Close(dup)
		return d
	}
	// os.NewFile registers a non-blocking descriptor with the poller.
	p := os.NewFile(uintptr(dup), "/dev/fuse")
	rc, err := p.SyscallConn()
	if err != nil {
		_ = unix.SetNonblock(dup, false)
		p.Close()
		return d
	}
	d.poll, d.rc, d.fd = p, rc, dup
	return d
}

// pollable reports whether waiting readers are parked in the poller.
func (d *device) pollable() bool { return d.poll != nil }

// readRequest returns the next request, waiting for one in the poller if
// the device is pollable, else in read(2).
func (d *device) readRequest() (fuse.Request, error) {
	if d.rc == nil {
		return d.conn.ReadRequest()
	}
	return d.pollRequest()
}

// hotRequest waits for the next request in ppoll(2) on the calling thread
// until deadline; ok is false when none came (or ppoll failed: the
// caller then waits in the poller). Pollable devices only.
func (d *device) hotRequest(deadline time.Time) (req fuse.Request, ok bool, err error) {
	for {
		wait := time.Until(deadline)
		if wait <= 0 {
			return nil, false, nil
		}
		ts := unix.NsecToTimespec(int64(wait))
		n, err := unix.Ppoll([]unix.PollFd{{Fd: int32(d.fd), Events: unix.POLLIN}}, &ts, nil)
		if err == unix.EINTR || err == nil && n == 0 {
			continue
		}
		if err != nil {
			// Unexpected: let the poller wait, and report what it finds.
			return nil, false, nil
		}
		req, err := d.conn.ReadRequest()
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR) {
			continue // another reader took it
		}
		return req, true, err
	}
}

// pollRequest waits for the next request in the Go poller.
func (d *device) pollRequest() (fuse.Request, error) {
	var req fuse.Request
	var rerr error
	// RawConn.Read calls the function at once, then again each time the
	// poller reports the device readable, until it returns true. It holds
	// the descriptor's read lock meanwhile: one reader waits in the poller.
	perr := d.rc.Read(func(uintptr) bool {
		for {
			req, rerr = d.conn.ReadRequest()
			switch {
			case rerr == nil:
				return true
			case errors.Is(rerr, syscall.EINTR):
				continue
			case errors.Is(rerr, syscall.EAGAIN):
				return false
			}
			return true
		}
	})
	if perr != nil {
		return nil, perr
	}
	return req, rerr
}

// close releases the poller's duplicate; the Conn closes its own.
func (d *device) close() error {
	if d.poll == nil {
		return nil
	}
	return d.poll.Close()
}

// connFile returns the *os.File a fuse.Conn reads and writes, or nil if
// this version of bazil.org/fuse does not keep one in a field named dev.
// A test checks it on the pinned version.
func connFile(conn *fuse.Conn) *os.File {
	v := reflect.ValueOf(conn).Elem().FieldByName("dev")
	if !v.IsValid() || v.Type() != reflect.TypeFor[*os.File]() {
		return nil
	}
	return *(**os.File)(unsafe.Pointer(v.UnsafeAddr()))
}
