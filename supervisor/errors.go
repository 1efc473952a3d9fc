package supervisor

import "errors"

// Sentinel errors of the supervisor; the control API maps them to HTTP
// statuses and the CLI prints their messages.
var (
	// ErrNotAttached: no attached container matches the given PID or id.
	ErrNotAttached = errors.New("not attached")
	// ErrNothingMounted: every file of the container was refused.
	ErrNothingMounted = errors.New("no file could be mounted")
	// ErrNoPolicy: no policy matches the container to attach.
	ErrNoPolicy = errors.New("no policy matches this container")
	// ErrHookDeadline: an OCI hook's attach passed the hook's deadline
	// before anything was mounted, and was given up.
	ErrHookDeadline = errors.New("the hook's deadline passed before the files were mounted")
	// ErrUnknownPolicy: attach named a policy that does not exist.
	ErrUnknownPolicy = errors.New("unknown policy")
	// ErrClosed: the supervisor is shutting down.
	ErrClosed = errors.New("supervisor is shutting down")
	// ErrSelf: the container is the daemon's own mount namespace or runs
	// lxmount; it is never attached.
	ErrSelf = errors.New("refusing to attach lxmount itself")
	// ErrQuarantined: a call into the container's mount namespace was
	// given up and has not returned yet; nothing more is tried there
	// until it has.
	ErrQuarantined = errors.New("left alone while a call into its mount namespace is stuck")
)
