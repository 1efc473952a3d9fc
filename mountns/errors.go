package mountns

import "errors"

// Sentinel errors. Errors returned by this package wrap them together with
// the PID or target path they concern; test with errors.Is.
var (
	// ErrNoProcess means the process is gone (or its namespace files
	// are no longer reachable because it exited).
	ErrNoProcess = errors.New("no such process")

	// ErrNotMountNamespace means a path handed to OpenPath is not a
	// mount namespace file (nsfs, type CLONE_NEWNS).
	ErrNotMountNamespace = errors.New("not a mount namespace")

	// ErrTargetOutside means a target is neither below /proc/ nor below
	// /sys/, the only places lxmount injects mounts.
	ErrTargetOutside = errors.New("neither below /proc/ nor below /sys/")

	// ErrTargetMissing means the target does not exist in the namespace.
	ErrTargetMissing = errors.New("does not exist")

	// ErrTargetNotRegular means the target is a symlink, a directory or
	// anything else but a regular file.
	ErrTargetNotRegular = errors.New("not a regular file")

	// ErrTargetSymlink means a component of the target's path before the
	// last is a symlink (or the path leaves the container's root): lxmount
	// resolves targets with no symlink, so that a mount cannot be
	// redirected to a host-visible place.
	ErrTargetSymlink = errors.New("a component of its path is a symlink")

	// ErrTargetNotProcfs means a /proc/... target is not on procfs;
	// usually something (often lxmount itself) is already mounted on it.
	ErrTargetNotProcfs = errors.New("not on procfs")

	// ErrTargetNotSysfs means a /sys/... target is not on sysfs.
	ErrTargetNotSysfs = errors.New("not on sysfs")

	// ErrTargetShared means the mount a target is on has shared
	// propagation (mountinfo "shared:N"): a mount there would propagate
	// to every peer of its group, which may lie outside the container's
	// namespace (a host procfs bound with shared propagation), so it is
	// refused. Runtimes make a container's mounts private or slaves.
	ErrTargetShared = errors.New("its mount has shared propagation")

	// ErrCovered means an owned mount is still on a target, beneath a
	// mount somebody else stacked over it: Unmount cannot reach it by
	// path, so it is left there and reported.
	ErrCovered = errors.New("an owned mount is covered by another mount")

	// ErrTimeout means a call into a namespace did not return within the
	// namespace's timeout (SetTimeout) and was given up.
	ErrTimeout = errors.New("call into the mount namespace did not return in time; given up")

	// ErrStuck means an earlier call into the namespace was given up and
	// has still not returned: no new call is started until it has.
	ErrStuck = errors.New("an earlier call into the mount namespace is still stuck")
)
