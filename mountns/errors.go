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
)
