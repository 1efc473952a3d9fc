// Package sources renders lxmount's virtual files.
//
// Each virtual file has one renderer: a pure function from typed readings
// (a cgroup snapshot, the host's /proc text, the time) to the bytes a
// container sees. Readers turn cgroup and /proc files into those typed
// snapshots first; renderers never open files. Roots are injectable (see
// Host and Cgroup), so the same code runs on fixture trees in tests and on
// the real kernel.
//
// The package does not mount, serve or resolve PIDs: a Container is a static
// binding handed in by the supervisor.
package sources
