// Command lxmount-bench measures lxmount against native procfs, LXCFS and
// a trivial file served by the same FUSE loop, on a real kernel, as root.
// `make bench` builds and runs it; docs/benchmarks.md records its results.
//
//	lxmount-bench run [flags]     the whole benchmark (default command)
//	lxmount-bench read [flags]    one reader process (run starts these)
//	lxmount-bench serve-trivial   the trivial FUSE server (run starts it)
//
// run works in a private mount namespace of its own (it re-executes itself
// there, like the lxmount daemon), so the LXCFS and trivial mounts never
// show on the host; it creates its cgroups under /lxmount-bench-<random>
// in each v1 controller, starts throwaway "containers" (unshare -m -p -f
// --mount-proc sleep, each in its own cgroup), its own lxmount daemons
// (private socket, state dir and config whose policy matches only its
// cgroups) and its own LXCFS (private mount point and pidfile), and stops
// and removes all of them by PID and path when it ends, also on SIGINT.
//
// The phases:
//
//   - throughput: for every virtual file, open/read-until-EOF/close in a
//     loop with 1 and 4 concurrent readers, for native procfs (the
//     ceiling), LXCFS, lxmount, and a trivial file of the same size served
//     by vfs with a constant renderer (the ceiling of any FUSE design).
//     Rounds of the four back-ends are interleaved so noise of the shared
//     machine hits all of them alike; the ratios are what to compare
//     between runs, not the absolute figures.
//   - scale: one daemon attaches 100 then 500 idle containers; daemon RSS,
//     threads, goroutines and fds per container, attach latency, the time
//     of a no-op `lxmount reconcile` and of the reconcile that heals all
//     of them after `kill -9` of the daemon.
//   - noisy: container B reads at a steady pace while container A reads
//     flat out with 4 readers; B's latency with and without A (controls:
//     native procfs, and B reading the trivial FUSE server while A reads
//     lxmount).
//   - events: a daemon whose event watch alone attaches (events = true,
//     no reconcile loop, no attach call); from a container init's exec
//     (the kernel's timestamp, from the bench's own proc connector
//     subscription) to all its files mounted, one container at a time,
//     with none and with -events-idle (500) idle containers attached.
//
// The report ends with the targets of docs/benchmarks.md, met or not.
// -baseline adds a second lxmount build to the throughput and noisy
// phases, measured alike in the same run: how before/after figures are
// made; -baseline-env gives the baseline daemon its own environment, so
// the same build can be compared with itself under another setting.
//
// A reader is a separate process in the container's cgroup (LXCFS decides
// by the reader's cgroup); for lxmount each of its threads joins the
// container's mount namespace first. It reports its count and latency
// percentiles as JSON.
//
// Not a test: nothing here runs in `go test`.
package main
