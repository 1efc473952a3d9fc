// Package supervisor is lxmount's daemon core: the registry of attached
// containers, the control API on a unix socket, and the lifecycle of each
// attachment.
//
// An attachment is a static binding made once, at attach time: the
// container's mount namespace, its init process (PID and start time), its
// cgroup directories and the policy that chose its files. From it the
// supervisor builds a sources.Container (what the renderers read), mounts a
// dedicated vfs.Server in the daemon's own private mount namespace, clones
// each file with open_tree and moves it over its target inside the
// container (mountns). No FUSE request ever looks up the caller's PID.
//
// The supervisor is the one place with lifecycle state. It notices a
// container's exit through a pidfd on its init process (parked in the Go
// poller, so an idle container costs no OS thread for it) and forgets the
// container, closing its FUSE instance.
package supervisor
