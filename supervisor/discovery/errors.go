package discovery

import "errors"

// Sentinel errors. Errors returned by Resolve wrap them together with the
// PID they concern; test with errors.Is.
var (
	// ErrNoProcess means the PID does not exist (any more) in the scanned
	// procfs.
	ErrNoProcess = errors.New("no such process")

	// ErrNotContainer means the process is in the host's mount namespace,
	// so there is no container to resolve it to.
	ErrNotContainer = errors.New("in the host's mount namespace, not in a container")
)
