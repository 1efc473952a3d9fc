// Package mountns works inside other processes' mount namespaces: it enters
// a namespace on a locked OS thread, injects prepared mount trees over
// /proc and /sys files, checks what sits on those files, takes lxmount's
// mounts down again and lists a process's mounts.
//
// Everything that touches another namespace goes through Namespace.Do: a
// fresh goroutine locks its OS thread, calls unshare(CLONE_FS) (setns into
// a mount namespace is refused while the fs_struct is shared with other
// threads, see setns(2)) and setns(CLONE_NEWNS), runs the callback and
// exits without unlocking, so the Go runtime terminates the thread instead
// of handing it to another goroutine. That thread is never the process's
// main thread: the runtime cannot terminate the main thread, and since
// /proc/self is the main thread, a main thread left in a container's
// namespace would make the whole daemon's /proc/self/mountinfo, ns/mnt and
// root point into the container. This works in an ordinary multithreaded Go
// process; no helper process is started.
//
// Mounts are injected the way the new mount API allows: CloneTree calls
// open_tree(OPEN_TREE_CLONE) in the daemon's own namespace, giving a
// detached copy of the source mount; Namespace.Inject moves it with
// move_mount(2) onto the target inside the container's namespace. Every
// target is checked first (a regular file, not a symlink, on procfs for
// /proc/... and on sysfs for /sys/..., on a mount that does not propagate
// to peers), so lxmount never stacks a second mount over its own or over
// anything somebody else mounted, and no mount leaves the namespace.
//
// A container controls what its namespace holds, FUSE servers included,
// and a request to a server that never answers waits in the kernel for
// good. So the checks ask a FUSE mount nothing unless it is lxmount's (or
// plain "fuse", to tell a dead one), and every call can be bounded
// (Namespace.SetTimeout): a call given up leaves its thread behind, and
// the namespace refuses new calls (ErrStuck) until that thread returns.
//
// ReexecInPrivateNamespace is the one process-wide helper: called first
// thing in main, it re-executes the daemon inside a private mount namespace
// of its own so that its FUSE mounts never show up in the host's mount
// table.
//
// When not to use it: the package does not mount FUSE file systems, does
// not find containers or resolve their PIDs, and does not change anything
// but the listed target files. It needs CAP_SYS_ADMIN (and CAP_SYS_CHROOT
// for setns) in the target namespace's owning user namespace; in practice
// it runs as root. It is Linux only and needs open_tree/move_mount (5.2+).
package mountns
