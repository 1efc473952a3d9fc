// Package procevents subscribes to the kernel's process events connector
// (the proc connector: NETLINK_CONNECTOR, CN_IDX_PROC, see
// drivers/connector/cn_proc.c and include/uapi/linux/cn_proc.h) and
// reports every successful execve(2) on the host: which process, on which
// CPU, at what CLOCK_MONOTONIC time. It is the one job of the package; it
// does not look at the process it reports.
//
// The kernel multicasts one datagram per event to every listener, so a
// listener that falls behind loses events: the socket's receive buffer
// overruns and the next read fails with ENOBUFS, which Read reports as
// ErrOverrun. A caller that needs every event (a daemon attaching
// containers) then looks at the whole host once and carries on reading.
//
// Since Linux 6.6 a listener can ask for some event kinds only; Open asks
// for exec events. Older kernels ignore that request and send every kind
// (fork, exit, uid, comm...), which Read drops.
//
// # When not to use it
//
// It needs CONFIG_PROC_EVENTS, root (CAP_NET_ADMIN before Linux 6.6), and
// the initial user and pid namespaces: the kernel ignores a subscription
// from anywhere else, and every PID it reports is one of the initial pid
// namespace. Inside a container, or for the events of one process tree
// only, use pidfds, ptrace or the runtime's own hooks instead. The events
// say nothing about namespaces or cgroups: the reader looks those up in
// /proc, racing with the process, which may already have exited.
package procevents
