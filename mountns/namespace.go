package mountns

import (
	"errors"
	"fmt"
	"os"
	"strconv"

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

// Do runs fn on a fresh goroutine whose OS thread is locked and has joined
// the namespace (unshare(CLONE_FS), then setns(CLONE_NEWNS)), and waits for
// it. Inside fn, paths resolve in the namespace: its root, its mounts,
// its /proc (where the daemon's own threads are not visible). The thread is
// never unlocked: when the goroutine returns, the Go runtime terminates it,
// so no other goroutine ever runs in the namespace by accident. It is
// never the process's main thread, which the runtime cannot terminate.
//
// fn must not start goroutines that expect to be in the namespace (they
// run on other threads) and must not call runtime.UnlockOSThread. File
// descriptors are shared with the rest of the process (CLONE_FILES is not
// unshared), so descriptors opened outside, such as a CloneTree result, can
// be used inside. A panic in fn is re-raised in the caller's goroutine.
func (ns *Namespace) Do(fn func() error) error {
	type result struct {
		err      error
		panicked bool
		panicVal any
	}
	var r result
	onThrowawayThread(func() {
		defer func() {
			if p := recover(); p != nil {
				r = result{panicked: true, panicVal: p}
			}
		}()
		r.err = ns.enter()
		if r.err == nil {
			r.err = fn()
		}
	})
	if r.panicked {
		panic(r.panicVal)
	}
	return r.err
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
