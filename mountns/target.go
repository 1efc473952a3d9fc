package mountns

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// targetKind says which kernel file system a target natively lives on. It
// follows from the target's path: /proc/... is procfs, /sys/... is sysfs.
type targetKind int

const (
	kindNone targetKind = iota // neither: lxmount never mounts there
	kindProc
	kindSys
)

// kindOf classifies a target by its clean absolute path.
func kindOf(target string) targetKind {
	if path.Clean(target) != target {
		return kindNone
	}
	switch {
	case strings.HasPrefix(target, "/proc/"):
		return kindProc
	case strings.HasPrefix(target, "/sys/"):
		return kindSys
	}
	return kindNone
}

// native reports whether magic is the kind's own file system.
func (k targetKind) native(magic Magic) bool {
	switch k {
	case kindProc:
		return magic == unix.PROC_SUPER_MAGIC
	case kindSys:
		return magic == unix.SYSFS_MAGIC
	}
	return false
}

// errWrongFS is the sentinel for a target of this kind on another file system.
func (k targetKind) errWrongFS() error {
	if k == kindSys {
		return ErrTargetNotSysfs
	}
	return ErrTargetNotProcfs
}

// TargetState is what Probe finds on a target file.
type TargetState int

const (
	// StateMissing: the target does not exist.
	StateMissing TargetState = iota + 1
	// StateNative: the kernel's own file, a regular file on procfs for
	// /proc/... or on sysfs for /sys/...; Inject would accept it.
	StateNative
	// StateOwned: the top mount on the target has the owned file system
	// magic (FUSEMagic for the daemon) and answers statfs and stat.
	StateOwned
	// StateBroken: the target answers ENOTCONN or ECONNABORTED, the
	// signature of a FUSE mount whose server died. Unmount removes it.
	StateBroken
	// StateOther: anything else: a symlink, a directory, a file on a
	// foreign file system, or an error other than the above.
	StateOther
)

// String returns the state's lower-case name.
func (s TargetState) String() string {
	switch s {
	case StateMissing:
		return "missing"
	case StateNative:
		return "native"
	case StateOwned:
		return "owned"
	case StateBroken:
		return "broken"
	case StateOther:
		return "other"
	}
	return fmt.Sprintf("TargetState(%d)", int(s))
}

// disconnected reports whether err is what a FUSE mount with a dead server
// answers: ENOTCONN once the connection is aborted (fs/fuse/dev.c), or
// ECONNABORTED from a connection aborted through fusectl.
func disconnected(err error) bool {
	return errors.Is(err, unix.ENOTCONN) || errors.Is(err, unix.ECONNABORTED)
}

// openTarget opens target, an absolute path inside the file system tree
// rooted at root ("/" or "" for the namespace's root), with O_PATH|O_NOFOLLOW
// and openat2's RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS:
// no component may be a symlink or climb out of root, so a container
// cannot redirect a mount through a link to a host-visible directory. A
// symlink in the last component is opened as itself (the callers then
// refuse it as not a regular file); one in an earlier component fails
// with ErrTargetSymlink. Later checks and the mount act on the opened
// object even if the container renames things in between.
func openTarget(root, target string) (int, error) {
	if root == "" {
		root = "/"
	}
	dfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(dfd)
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	rel := strings.TrimPrefix(target, "/")
	for range 8 {
		fd, err := unix.Openat2(dfd, rel, &how)
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			continue // a concurrent rename in the tree (see openat2(2)): retry
		case errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV):
			return -1, fmt.Errorf("target %s: %w", target, ErrTargetSymlink)
		default:
			return -1, &os.PathError{Op: "openat2", Path: target, Err: err}
		}
	}
	return -1, &os.PathError{Op: "openat2", Path: target, Err: unix.EAGAIN}
}

// statTarget returns the file type bits and the file system magic of an
// opened target. statfs comes first: it is the cheaper question and the
// one every caller needs.
func statTarget(fd int, target string) (mode uint32, magic Magic, err error) {
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return 0, 0, &os.PathError{Op: "fstatfs", Path: target, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, Magic(sfs.Type), &os.PathError{Op: "fstat", Path: target, Err: err}
	}
	return st.Mode & unix.S_IFMT, Magic(sfs.Type), nil
}

// fileType names the file type bits for error messages.
func fileType(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFREG:
		return "regular file"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFSOCK:
		return "socket"
	}
	return fmt.Sprintf("mode %#o", mode)
}

// probe classifies one target; it runs inside the namespace.
func probe(target string, owned Magic) TargetState {
	fd, err := openTarget("/", target)
	switch {
	case errors.Is(err, unix.ENOENT):
		return StateMissing
	case disconnected(err):
		return StateBroken
	case err != nil:
		return StateOther
	}
	defer unix.Close(fd)
	mode, magic, err := statTarget(fd, target)
	switch {
	case disconnected(err):
		return StateBroken
	case err != nil:
		return StateOther
	case magic == owned:
		return StateOwned
	case (mode == unix.S_IFREG || mode == unix.S_IFDIR) && kindOf(target).native(magic):
		return StateNative
	}
	return StateOther
}

// Probe reports, from inside the namespace, what sits on each target. owned
// is the magic of the file system whose mounts the caller owns (FUSEMagic
// for the daemon). A target is checked with statfs and stat only, no read;
// note that both block if a FUSE server is alive but does not answer. The
// error is about entering the namespace; per-target problems are states.
func (ns *Namespace) Probe(targets []string, owned Magic) (map[string]TargetState, error) {
	states := make(map[string]TargetState, len(targets))
	err := ns.Do(func() error {
		for _, t := range targets {
			states[t] = probe(t, owned)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("probe in %v: %w", ns, err)
	}
	return states, nil
}

// maxStack bounds how many mounts Unmount takes off one target, so a
// target that keeps answering "owned" cannot loop forever.
const maxStack = 16

// Unmount lazily unmounts (umount2 with MNT_DETACH|UMOUNT_NOFOLLOW) every
// mount the caller owns from the targets, inside the namespace. A target is
// unmounted while its top mount has the owned magic (StateOwned) or is a
// dead FUSE mount (StateBroken, the healing case); stacked copies are all
// removed. Anything else, the native file or somebody else's mount, is left
// alone, and so is a missing target. Errors name the target and are
// joined; the remaining targets are still processed.
func (ns *Namespace) Unmount(targets []string, owned Magic) error {
	var errs []error
	err := ns.Do(func() error {
		for _, t := range targets {
			if err := unmountOne(t, owned); err != nil {
				errs = append(errs, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("unmount in %v: %w", ns, err)
	}
	return errors.Join(errs...)
}

// unmountOne takes the owned or broken mounts off one target.
func unmountOne(target string, owned Magic) error {
	for range maxStack {
		switch probe(target, owned) {
		case StateOwned, StateBroken:
		default:
			return nil
		}
		if err := unix.Unmount(target, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW); err != nil {
			return &os.PathError{Op: "umount2", Path: target, Err: err}
		}
	}
	return fmt.Errorf("target %s: still mounted after %d unmounts", target, maxStack)
}
