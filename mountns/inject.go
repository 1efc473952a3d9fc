package mountns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// CloneTree returns a detached copy of the mount at path, made with
// open_tree(OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC) in the calling thread's
// mount namespace (the daemon's own). path is usually a file inside
// lxmount's FUSE mount; the copy is a bind mount of just that file.
//
// The result can be attached once, by Inject. Closing it before that
// discards the copy; closing it after that leaves the mount in place.
func CloneTree(path string) (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, &os.PathError{Op: "open_tree", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// Injection asks Inject to mount Tree on Target.
type Injection struct {
	// Tree is a detached mount from CloneTree.
	Tree *os.File
	// Target is an absolute, clean path inside the namespace below
	// /proc/ (must be a regular file on procfs) or below /sys/ (must be
	// a regular file on sysfs), e.g. "/proc/meminfo"; a directory
	// instead when Tree is one (e.g. "/sys/devices/system/cpu").
	Target string
}

// Inject mounts each injection's tree over its target inside the
// namespace, all in one Do call. Before mounting, a target is opened with
// O_PATH|O_NOFOLLOW and must be a regular file (ErrTargetNotRegular; a
// symlink such as /proc/mounts is refused, not followed) on its native file
// system (ErrTargetNotProcfs, ErrTargetNotSysfs: typically something is
// already mounted there; a FUSE mount is recognised from mountinfo and
// never asked anything), on a mount without shared propagation
// (ErrTargetShared); a missing target gives ErrTargetMissing, a path
// outside /proc/ and /sys/ ErrTargetOutside. The tree is then moved onto
// that very opened file with move_mount(2). A call given up at the
// namespace's timeout mounts nothing more.
//
// The result has one entry per injection, in order: nil when the tree was
// mounted, otherwise why not. A refused target does not stop the others.
// If the namespace cannot be entered, every entry carries that error.
func (ns *Namespace) Inject(injs []Injection) []error {
	return ns.InjectUnder("/", injs)
}

// InjectUnder is Inject for a container whose root file system is still
// mounted at root inside the namespace: an OCI runtime's createRuntime
// hook runs after the runtime mounted /proc and /sys into the rootfs and
// before pivot_root, so "/proc/meminfo" is then root+"/proc/meminfo", and
// pivot_root carries the mounts to where the container sees them. Every
// target is resolved beneath root with no symlink (see ErrTargetSymlink);
// root itself is the runtime's path and is trusted. "/" is Inject.
func (ns *Namespace) InjectUnder(root string, injs []Injection) []error {
	if root == "" || !filepath.IsAbs(root) {
		errs := make([]error, len(injs))
		for i := range errs {
			errs[i] = fmt.Errorf("root %q: not an absolute path", root)
		}
		return errs
	}
	errs := make([]error, len(injs))
	pending := false
	for i, inj := range injs {
		switch {
		case kindOf(inj.Target) == kindNone:
			errs[i] = fmt.Errorf("target %s: %w", inj.Target, ErrTargetOutside)
		case inj.Tree == nil:
			errs[i] = fmt.Errorf("target %s: no tree to mount", inj.Target)
		default:
			pending = true
		}
	}
	if !pending {
		return errs
	}
	err := ns.do(func(c *call) error {
		for i, inj := range injs {
			if errs[i] == nil && !c.abandoned.Load() {
				errs[i] = injectOne(c, root, inj)
			}
		}
		return nil
	})
	runtime.KeepAlive(injs)
	if err != nil {
		err = fmt.Errorf("inject into %v: %w", ns, err)
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	return errs
}

// injectOne checks one target and moves the tree onto it; it runs inside
// the namespace. A FUSE file system on the target is refused without
// asking its server anything; so is a target on a mount with shared
// propagation (ErrTargetShared), where the new mount would propagate to
// the mount's peers, possibly outside the namespace.
func injectOne(c *call, root string, inj Injection) error {
	target := inj.Target
	fd, err := openTarget(root, target)
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("target %s: %w", target, ErrTargetMissing)
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ti, err := statTarget(c, fd, target, nil)
	if err != nil {
		return err
	}
	if want := treeType(inj.Tree); ti.mode != want {
		return fmt.Errorf("target %s: %w (%s)", target, ErrTargetNotRegular, fileType(ti.mode))
	}
	if !kindOf(target).native(ti.magic) {
		return errorForMagic(target, ti.magic)
	}
	if ti.mnt == nil {
		return fmt.Errorf("target %s: its mount is not in the namespace's mountinfo: propagation unknown", target)
	}
	if group := sharedPeerGroup(ti.mnt); group != "" {
		return fmt.Errorf("target %s: %w (%s mounted on %s, %s): a mount there would propagate to its peers, maybe outside the container",
			target, ErrTargetShared, ti.mnt.FSType, ti.mnt.Mountpoint, group)
	}
	if c.abandoned.Load() {
		return fmt.Errorf("target %s: %w", target, ErrTimeout)
	}
	err = unix.MoveMount(int(inj.Tree.Fd()), "", fd, "",
		unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	if err != nil {
		return &os.PathError{Op: "move_mount", Path: target, Err: err}
	}
	return nil
}

// errorForMagic explains why a target on the file system magic is refused.
func errorForMagic(target string, magic Magic) error {
	hint := ""
	if magic == FUSEMagic {
		hint = ": already mounted?"
	}
	return fmt.Errorf("target %s: %w (filesystem magic %v%s)", target, kindOf(target).errWrongFS(), magic, hint)
}

// treeType is the file type bits of the root of a detached tree: a file,
// or a directory (a FUSE directory served over a sysfs directory such as
// /sys/devices/system/cpu); S_IFREG if it cannot be told.
func treeType(tree *os.File) uint32 {
	var st unix.Stat_t
	if err := unix.Fstat(int(tree.Fd()), &st); err != nil {
		return unix.S_IFREG
	}
	return st.Mode & unix.S_IFMT
}
