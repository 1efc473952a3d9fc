package seccompagent

import "path/filepath"

// Files in the state directory.
const (
	// ListenerFile is the socket runc and crun send notify fds to: the
	// linux.seccomp.listenerPath lxmount-runc writes.
	ListenerFile = "seccomp.sock"
	// controlFile is the holder's socket for the daemon.
	controlFile = "seccomp-holder.sock"
	// lockFile is held (flock) by the running holder.
	lockFile = "seccomp-holder.lock"
	// HolderLogFile is the holder's stderr when it was started detached.
	HolderLogFile = "seccomp-holder.log"
)

// ListenerPath is the listenerPath of containers whose daemon keeps its
// state in stateDir.
func ListenerPath(stateDir string) string { return filepath.Join(stateDir, ListenerFile) }

func controlPath(stateDir string) string { return filepath.Join(stateDir, controlFile) }
