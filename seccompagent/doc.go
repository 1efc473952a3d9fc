// Package seccompagent answers sysinfo(2) (and, when asked,
// sched_getaffinity(2)) for containers through seccomp user notification
// (seccomp_unotify(2)), so that busybox free and uptime, glibc's
// sysconf(_SC_PHYS_PAGES) and getloadavg-style callers see the container's
// memory, uptime and load, as its /proc files do.
//
// Three parts, each in its own file:
//
//   - holder.go: a minimal long-lived process (`lxmount seccomp-holder`)
//     that owns the listener socket runc and crun send each container's
//     notify fd to (linux.seccomp.listenerPath), keeps every fd open and
//     hands them all to the daemon. A daemon that crashes takes no fd with
//     it: the kernel keeps the filters' notifications pending while any
//     copy of the fd is open, so a container's sysinfo waits for the next
//     daemon instead of failing with ENOSYS. After a grace period without
//     a daemon the holder lets the calls through (the host's values).
//   - agent.go: the daemon's side: one goroutine per notify fd, parked in
//     the Go poller (no OS thread per container), that receives each call
//     and answers it from a View.
//   - notify.go and sysinfo.go: the ioctls and the answer itself, written
//     into the caller's memory by the rules of seccomp_unotify(2).
//
// It does not decide which containers get the notify rule (package oci and
// lxmount-runc do) nor compute the values (package sources does).
package seccompagent
