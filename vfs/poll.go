package vfs

import (
	"errors"
	"fmt"
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
// poller while a reader waits there (pollRequest), which wakes the reader
// when the device becomes readable (fuse_dev_poll). Without the
// descriptor, readers block in read(2).
//
// The duplicate is registered only while a reader waits in the poller:
// registered, every request queued on the device is an event of the
// runtime's epoll instance, which wakes whichever thread sleeps in
// epoll_wait for the runtime's next timer (any pending timer, such as the
// supervisor's load ticker, keeps one there) for nothing while a hot
// reader takes the requests in ppoll(2). That wasted wake-up per request
// cost a third of the throughput of a busy file (docs/benchmarks.md).
type device struct {
	conn *fuse.Conn
	fd   int // bazil's descriptor, non-blocking; -1: blocking reads only
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
	d := &device{conn: conn, fd: -1}
	f := connFile(conn)
	if f == nil {
		return d
	}
	// Fd does not change the mode of a file os.NewFile got in blocking
	// mode, which is how bazil opens the device. O_NONBLOCK is a flag of
	// the open file description, shared by every duplicate.
	fd := int(f.Fd())
	if err := unix.SetNonblock(fd, true); err != nil {
		return d
	}
	d.fd = fd
	return d
}

// pollable reports whether waiting readers are parked in the poller.
func (d *device) pollable() bool { return d.fd >= 0 }

// readRequest returns the next request, waiting for one in the poller if
// the device is pollable, else in read(2).
func (d *device) readRequest() (fuse.Request, error) {
	if d.fd < 0 {
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

// pollRequest waits for the next request in the Go poller, through a
// duplicate of the descriptor registered for this wait only.
func (d *device) pollRequest() (fuse.Request, error) {
	for {
		req, err := d.conn.ReadRequest()
		if err == nil || !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EINTR) {
			return req, err
		}
		if errors.Is(err, syscall.EAGAIN) {
			break
		}
	}
	dup, err := unix.FcntlInt(uintptr(d.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicate fuse device: %w", err)
	}
	// os.NewFile registers a non-blocking descriptor with the poller;
	// Close removes it.
	p := os.NewFile(uintptr(dup), "/dev/fuse")
	defer p.Close()
	rc, err := p.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("poll fuse device: %w", err)
	}
	var req fuse.Request
	var rerr error
	// RawConn.Read calls the function at once, then again each time the
	// poller reports the device readable, until it returns true.
	perr := rc.Read(func(uintptr) bool {
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

// close has nothing to release: each wait in the poller closes its own
// duplicate, and the Conn closes its descriptor.
func (d *device) close() error { return nil }

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
