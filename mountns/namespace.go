package mountns

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Namespace is an open handle on a mount namespace (an nsfs file such as
// /proc/<pid>/ns/mnt). Holding it keeps the namespace alive even after the
// process that owned it exits. A Namespace may be used by several
// goroutines at once; Close must not race with other calls.
type Namespace struct {
	f   *os.File
	dev uint64 // device of the nsfs file; the same for all namespaces
	ino uint64 // inode number: the namespace's identity, as in "mnt:[ino]"
	// timeout bounds each call into the namespace (0: none); see
	// SetTimeout.
	timeout time.Duration

	mu sync.Mutex
	// stuck counts the calls that overran the timeout and have not
	// returned yet; stuckSince is when the oldest of them was given up.
	stuck      int
	stuckSince time.Time
}

// Open opens the mount namespace of process pid through /proc/<pid>/ns/mnt.
// If the process is gone the error wraps ErrNoProcess and names the pid.
func Open(pid int) (*Namespace, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/ns/mnt"
	ns, err := OpenPath(path)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
			return nil, fmt.Errorf("mount namespace of pid %d: %w (%w)", pid, ErrNoProcess, err)
		}
		return nil, fmt.Errorf("mount namespace of pid %d: %w", pid, err)
	}
	return ns, nil
}

// OpenPath opens a mount namespace file: /proc/<pid>/ns/mnt,
// /proc/<pid>/task/<tid>/ns/mnt or a bind mount of one. It refuses other
// namespace types and other files with ErrNotMountNamespace.
func OpenPath(path string) (*Namespace, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	ns, err := newNamespace(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return ns, nil
}

// newNamespace checks that f is a mount namespace and records its identity.
func newNamespace(f *os.File) (*Namespace, error) {
	fd := int(f.Fd())
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return nil, &os.PathError{Op: "fstatfs", Path: f.Name(), Err: err}
	}
	if Magic(sfs.Type) != unix.NSFS_MAGIC {
		return nil, fmt.Errorf("%s: %w (filesystem magic %v)", f.Name(), ErrNotMountNamespace, Magic(sfs.Type))
	}
	// NS_GET_NSTYPE, see ioctl_ns(2).
	typ, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err != nil {
		return nil, &os.PathError{Op: "ioctl(NS_GET_NSTYPE)", Path: f.Name(), Err: err}
	}
	if typ != unix.CLONE_NEWNS {
		return nil, fmt.Errorf("%s: %w (namespace type %#x)", f.Name(), ErrNotMountNamespace, typ)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	return &Namespace{f: f, dev: uint64(st.Dev), ino: st.Ino}, nil
}

// ID returns the namespace's inode number, the number shown by
// readlink /proc/<pid>/ns/mnt as "mnt:[ID]".
func (ns *Namespace) ID() uint64 { return ns.ino }

// String returns the namespace as readlink shows it, e.g. "mnt:[4026531841]".
func (ns *Namespace) String() string { return "mnt:[" + strconv.FormatUint(ns.ino, 10) + "]" }

// Same reports whether ns and other are the same mount namespace.
func (ns *Namespace) Same(other *Namespace) bool {
	return ns.dev == other.dev && ns.ino == other.ino
}

// Close releases the handle. The namespace itself lives on as long as a
// process or mount uses it.
func (ns *Namespace) Close() error { return ns.f.Close() }

// SetTimeout bounds every later call into the namespace (Do, Inject,
// InjectUnder, Probe, Unmount): a call still running after d is given up
// and returns an error wrapping ErrTimeout. Its thread cannot be stopped
// (it may sleep in the kernel, say on a request to a FUSE server of the
// container that never answers) and goes on alone: when it wakes it takes
// no further step that changes the namespace, and ends. Until it has
// ended, every call fails at once with ErrStuck, so a namespace never
// holds more than one abandoned thread per concurrent caller. Call it
// before the handle is shared; d <= 0 waits forever (the default).
func (ns *Namespace) SetTimeout(d time.Duration) { ns.timeout = d }

// Stuck reports whether a call that overran the timeout has not returned
// yet, and since when it was given up.
func (ns *Namespace) Stuck() (since time.Time, stuck bool) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.stuckSince, ns.stuck > 0
}

// Do runs fn on a fresh goroutine whose OS thread is locked and has joined
// the namespace (unshare(CLONE_FS), then setns(CLONE_NEWNS)), and waits for
// it (at most the timeout, see SetTimeout). Inside fn, paths resolve in
// the namespace: its root, its mounts, its /proc (where the daemon's own
// threads are not visible). The thread is never unlocked: when the
// goroutine returns, the Go runtime terminates it, so no other goroutine
// ever runs in the namespace by accident. It is never the process's main
// thread, which the runtime cannot terminate.
//
// fn must not start goroutines that expect to be in the namespace (they
// run on other threads) and must not call runtime.UnlockOSThread. File
// descriptors are shared with the rest of the process (CLONE_FILES is not
// unshared), so descriptors opened outside, such as a CloneTree result, can
// be used inside. A panic in fn is re-raised in the caller's goroutine
// (dropped if the call was given up).
func (ns *Namespace) Do(fn func() error) error {
	return ns.do(func(*call) error { return fn() })
}

// call is what a function run by do gets to know of its call.
type call struct {
	// proc is the daemon's own procfs (O_PATH), opened before entering,
	// or -1: inside, "/proc" is the container's, where the thread is
	// not visible, and proc/thread-self/mountinfo lists the mounts of
	// the namespace the thread is in.
	proc int
	// abandoned is set when the caller gave up waiting: fn then makes
	// no further change.
	abandoned atomic.Bool
	// mounts is the namespace's mountinfo as last read (mountByID).
	mounts []*mountinfo.Info
}

// do is Do for this package's calls, which need to know their call.
func (ns *Namespace) do(fn func(c *call) error) error {
	if since, stuck := ns.Stuck(); stuck {
		return fmt.Errorf("%v: %w (given up %s ago)", ns, ErrStuck, time.Since(since).Round(time.Millisecond))
	}
	c := &call{proc: -1}
	if fd, err := unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
		c.proc = fd
	}
	var (
		err      error
		panicked bool
		panicVal any
	)
	done := startThrowaway(func() {
		defer func() {
			if p := recover(); p != nil {
				panicked, panicVal = true, p
			}
		}()
		err = ns.enter()
		if err == nil {
			err = fn(c)
		}
	})
	if !ns.wait(done) {
		c.abandoned.Store(true)
		ns.giveUp(done, c)
		return fmt.Errorf("%v: %w after %v", ns, ErrTimeout, ns.timeout)
	}
	c.close()
	if panicked {
		panic(panicVal)
	}
	return err
}

// wait waits for done, at most the timeout; false if it passed.
func (ns *Namespace) wait(done <-chan struct{}) bool {
	if ns.timeout <= 0 {
		<-done
		return true
	}
	t := time.NewTimer(ns.timeout)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// giveUp counts an abandoned call as stuck until it returns.
func (ns *Namespace) giveUp(done <-chan struct{}, c *call) {
	ns.mu.Lock()
	if ns.stuck == 0 {
		ns.stuckSince = time.Now()
	}
	ns.stuck++
	ns.mu.Unlock()
	go func() {
		<-done
		c.close()
		ns.mu.Lock()
		ns.stuck--
		ns.mu.Unlock()
	}()
}

// close releases what the call opened.
func (c *call) close() {
	if c.proc >= 0 {
		unix.Close(c.proc)
		c.proc = -1
	}
}

// enter moves the calling, locked thread into the namespace.
func (ns *Namespace) enter() error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return os.NewSyscallError("unshare(CLONE_FS)", err)
	}
	rc, err := ns.f.SyscallConn()
	if err != nil {
		return fmt.Errorf("enter %v: %w", ns, err)
	}
	var serr error
	// Control keeps the descriptor from being closed while setns uses
	// it; it fails only when the descriptor is already closed.
	if err := rc.Control(func(fd uintptr) { serr = unix.Setns(int(fd), unix.CLONE_NEWNS) }); err != nil {
		return fmt.Errorf("enter %v: %w", ns, os.ErrClosed)
	}
	if serr != nil {
		return &os.PathError{Op: "setns(CLONE_NEWNS)", Path: ns.f.Name(), Err: serr}
	}
	return nil
}
