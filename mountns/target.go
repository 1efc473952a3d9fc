package mountns

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/moby/sys/mountinfo"
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

// targetInfo is what the checks of an opened target found.
type targetInfo struct {
	mode  uint32          // file type bits
	magic Magic           // file system magic (statfs f_type)
	mnt   *mountinfo.Info // the mount it is on; nil if unknown
}

// statTarget returns the file type, the file system magic and the mount
// of an opened target without sending a request to a FUSE server that is
// not known to answer: the type comes from statx(AT_STATX_DONT_SYNC), the
// mount from the namespace's mountinfo (through the daemon's procfs, see
// call.proc); statfs is asked only of a file system that is no FUSE, or
// whose FUSE type ask accepts (nil: none). A container's own FUSE server
// that never answers would otherwise hold the thread in the kernel.
func statTarget(c *call, fd int, target string, ask func(fstype string) bool) (targetInfo, error) {
	var stx unix.Statx_t
	err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_DONT_SYNC, unix.STATX_TYPE|unix.STATX_MNT_ID, &stx)
	if err != nil {
		return targetInfo{}, &os.PathError{Op: "statx", Path: target, Err: err}
	}
	ti := targetInfo{mode: uint32(stx.Mode) & unix.S_IFMT}
	if stx.Mask&unix.STATX_MNT_ID != 0 {
		ti.mnt = mountByID(c, stx.Mnt_id)
	}
	if ti.mnt != nil && isFUSE(ti.mnt.FSType) && (ask == nil || !ask(ti.mnt.FSType)) {
		ti.magic = FUSEMagic
		return ti, nil
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return ti, &os.PathError{Op: "fstatfs", Path: target, Err: err}
	}
	ti.magic = Magic(sfs.Type)
	return ti, nil
}

// isFUSE reports whether a mountinfo file system type is FUSE's.
func isFUSE(fstype string) bool {
	return fstype == "fuse" || fstype == "fuseblk" || strings.HasPrefix(fstype, "fuse.") || strings.HasPrefix(fstype, "fuseblk.")
}

// askLiveness accepts the FUSE types whose statfs tells a dead lxmount
// mount (ENOTCONN) from a live one: lxmount's own, and plain "fuse".
func askLiveness(fstype string) bool { return fstype == "fuse" || fstype == "fuse.lxmount" }

// threadMounts lists the mounts of the namespace the calling thread is in
// (proc/thread-self/mountinfo of the daemon's procfs); filter may be nil.
func threadMounts(c *call, filter mountinfo.FilterFunc) ([]*mountinfo.Info, error) {
	if c.proc < 0 {
		return nil, errors.New("mountinfo: the daemon's procfs is not open")
	}
	fd, err := unix.Openat(c.proc, "thread-self/mountinfo", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/proc/thread-self/mountinfo", Err: err}
	}
	f := os.NewFile(uintptr(fd), "/proc/thread-self/mountinfo")
	defer f.Close()
	return mountinfo.GetMountsFromReader(f, filter)
}

// mountByID returns the mountinfo entry of mount id in the calling
// thread's namespace, nil if it cannot be read. The call keeps the last
// listing: a target's mount existed before the call's own changes, so it
// is read again only when id is not in it.
func mountByID(c *call, id uint64) *mountinfo.Info {
	for _, fresh := range []bool{false, true} {
		if fresh || c.mounts == nil {
			ms, err := threadMounts(c, nil)
			if err != nil {
				return nil
			}
			c.mounts = ms
		}
		for _, m := range c.mounts {
			if uint64(m.ID) == id {
				return m
			}
		}
	}
	return nil
}

// sharedPeerGroup returns the "shared:N" tag of a mount's optional
// mountinfo fields, "" when it does not propagate to peers.
func sharedPeerGroup(m *mountinfo.Info) string {
	for _, f := range strings.Fields(m.Optional) {
		if strings.HasPrefix(f, "shared:") {
			return f
		}
	}
	return ""
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

// probe classifies one target; it runs inside the namespace. A FUSE
// mount of another type than lxmount's or plain "fuse" is not asked
// anything (StateOther): its server may never answer.
func probe(c *call, target string, owned Magic) TargetState {
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
	ti, err := statTarget(c, fd, target, askLiveness)
	switch {
	case disconnected(err):
		return StateBroken
	case err != nil:
		return StateOther
	case ti.mnt != nil && isFUSE(ti.mnt.FSType) && !askLiveness(ti.mnt.FSType):
		return StateOther
	case ti.magic == owned:
		return StateOwned
	case ti.mode == unix.S_IFREG && kindOf(target).native(ti.magic):
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
	err := ns.do(func(c *call) error {
		for _, t := range targets {
			states[t] = probe(c, t, owned)
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
// alone, and so is a missing target. An owned mount left beneath somebody
// else's mount stacked over the target cannot be reached by path: it is
// left there and reported (ErrCovered; owned mounts are recognised in the
// namespace's mountinfo by file system type, FUSE for FUSEMagic). Errors
// name the target and are joined; the remaining targets are still
// processed.
func (ns *Namespace) Unmount(targets []string, owned Magic) error {
	var errs []error
	err := ns.do(func(c *call) error {
		for _, t := range targets {
			if c.abandoned.Load() {
				break
			}
			if err := unmountOne(c, t, owned); err != nil {
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

// unmountOne takes the owned or broken mounts off one target, then checks
// that none is left beneath another mount.
func unmountOne(c *call, target string, owned Magic) error {
	for range maxStack {
		switch probe(c, target, owned) {
		case StateOwned, StateBroken:
		default:
			return covered(c, target, owned)
		}
		if err := unix.Unmount(target, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW); err != nil {
			return &os.PathError{Op: "umount2", Path: target, Err: err}
		}
	}
	return fmt.Errorf("target %s: still mounted after %d unmounts", target, maxStack)
}

// covered reports owned mounts still on target beneath a mount of
// another file system (ErrCovered), from the namespace's mountinfo.
func covered(c *call, target string, owned Magic) error {
	ms, err := threadMounts(c, func(m *mountinfo.Info) (skip, stop bool) { return m.Mountpoint != target, false })
	if err != nil || len(ms) == 0 {
		return nil // no mountinfo, or nothing mounted there
	}
	var under []string
	top := topMount(ms)
	for _, m := range ms {
		if m != top && fsTypeOf(owned, m.FSType) {
			under = append(under, fmt.Sprintf("%s %d:%d", m.FSType, m.Major, m.Minor))
		}
	}
	if len(under) == 0 {
		return nil
	}
	return fmt.Errorf("target %s: %w: %s beneath %s (%s): remove that mount, then unmount again",
		target, ErrCovered, strings.Join(under, ", "), top.FSType, top.Source)
}

// topMount returns the mount on top of a stack of mounts on one
// mountpoint: the one no other of them is mounted on.
func topMount(ms []*mountinfo.Info) *mountinfo.Info {
	parents := map[int]bool{}
	for _, m := range ms {
		parents[m.Parent] = true
	}
	for _, m := range ms {
		if !parents[m.ID] {
			return m
		}
	}
	return ms[len(ms)-1]
}

// fsTypeOf reports whether a mountinfo file system type has the magic.
func fsTypeOf(magic Magic, fstype string) bool {
	switch magic {
	case FUSEMagic:
		return isFUSE(fstype)
	case unix.TMPFS_MAGIC:
		return fstype == "tmpfs"
	case unix.PROC_SUPER_MAGIC:
		return fstype == "proc"
	case unix.SYSFS_MAGIC:
		return fstype == "sysfs"
	}
	return false
}
