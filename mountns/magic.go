package mountns

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Magic is a file system type as statfs(2) reports it in f_type.
type Magic int64

// FUSEMagic is the statfs type of every FUSE file system, lxmount's
// included (FUSE_SUPER_MAGIC, fs/fuse/inode.c). The daemon passes it to
// Probe and Unmount as the magic of the mounts it owns.
const FUSEMagic Magic = unix.FUSE_SUPER_MAGIC

// String formats the magic as hex with the file system's name when known,
// e.g. "0x65735546, fuse".
func (m Magic) String() string {
	if name := m.name(); name != "" {
		return fmt.Sprintf("%#x, %s", int64(m), name)
	}
	return fmt.Sprintf("%#x", int64(m))
}

// name names the file systems likely to sit on a /proc or /sys file
// (include/uapi/linux/magic.h), or returns "".
func (m Magic) name() string {
	switch m {
	case unix.PROC_SUPER_MAGIC:
		return "procfs"
	case unix.SYSFS_MAGIC:
		return "sysfs"
	case unix.FUSE_SUPER_MAGIC:
		return "fuse"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.NSFS_MAGIC:
		return "nsfs"
	}
	return ""
}
