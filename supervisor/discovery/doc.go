// Package discovery finds the containers on a host by looking at /proc
// alone, and adds what container runtimes left in their state directories
// (id, name, OCI bundle, annotations) when it is there. It needs no
// runtime API, no socket and no daemon: a container started by runc, crun,
// containerd, Docker, Podman, CRI-O or by hand with unshare(1) is found the
// same way.
//
// # What a container is
//
// The host is what PID 1 of the scanned procfs (Options.ProcRoot) sees: its
// pid and mount namespaces. A container is one mount namespace other than
// the host's that holds a process which entered a pid namespace other than
// the host's from outside: the init of that pid namespace, or a process a
// runtime started into an existing pid namespace (a Kubernetes pod with
// shareProcessNamespace, docker run --pid=container:X). One Container is
// reported per mount namespace; its InitPID is, in this order,
//
//  1. the init PID a runtime recorded in its state directory, if that
//     process (same PID and same start time) is in the mount namespace;
//  2. else the oldest process of the mount namespace that is the init of a
//     pid namespace;
//  3. else the oldest process of the mount namespace whose parent is in
//     another pid namespace.
//
// Rule 1 also finds containers that share the host's pid namespace
// (docker run --pid=host): without a runtime record such a process cannot
// be told from a systemd service with PrivateTmp=yes, so those are not
// reported. Processes in their own mount namespace whose parent is in the
// same pid namespace (a service with PrivateTmp= inside a system
// container) are not reported either: they belong to the container that
// holds their pid namespace.
//
// # Cost
//
// Scan lists ProcRoot once and reads the link /proc/<pid>/ns/pid of every
// process. Only for processes outside the host's pid namespace it reads
// ns/mnt and the one-line /proc/<pid>/stat (parent and start time);
// /proc/<pid>/status is read only to break a tie between two processes
// that entered one pid namespace within the same clock tick. Then it reads
// /proc/<init>/cgroup once per container and each runtime state directory
// once. Measured on a 2-CPU VM (BenchmarkScan): 0.7 ms with 20 containers,
// 5.5 ms with 200; runc's state.json adds about 60 µs per container (0.7 ms
// for a Podman container's 100 kB one), which an Options.Cache kept between
// Scans saves for files that did not change.
//
// Resolve reads the link ns/mnt of every process, and the rest only for
// the processes of the target's mount namespace, which is enough to apply
// the rules above exactly (see resolveMembers); it reads everything Scan
// reads only when a member of that mount namespace entered a pid namespace
// whose init is elsewhere (a pod sharing its sandbox's pid namespace).
// BenchmarkResolve with 1,000 minimal containers (~1,080 processes): 2.4
// ms, against 21 ms for the full load.
//
// # When not to use it
//
// The package reads only; it never asks a runtime anything, never enters a
// namespace and never changes the host. It cannot name a container whose
// runtime keeps names only in its own database (plain ctr): Name is the ID
// there. Docker's names are read from its data root, found through the
// /etc/hostname bind mount of each container (dockerContainersDir). Its answer is a snapshot: a container may exit, and its
// PID be reused, right after Scan returns, which is why every Container
// carries InitStart. It needs root (reading another user's
// /proc/<pid>/ns links needs ptrace access) and Linux 4.1+ for NSpid.
package discovery
