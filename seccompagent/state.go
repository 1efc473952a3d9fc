package seccompagent

import (
	"encoding/json"
	"fmt"

	"github.com/lxmount/lxmount/oci"
)

// ProcessState is what runc and crun send the listener with a notify fd
// (runtime-spec config-linux.md, "The Container Process State"):
//
//	{"ociVersion": "1.0.2", "fds": ["seccompFd"], "pid": 4242,
//	 "metadata": "...", "state": {"id": "web", "pid": 4242, "bundle": "...", ...}}
//
// pid is the process the filter was installed for (the container's init,
// or the process of a `runc exec`); state.pid is the container's init.
type ProcessState struct {
	Version  string    `json:"ociVersion"`
	FDs      []string  `json:"fds"`
	PID      int       `json:"pid"`
	Metadata string    `json:"metadata,omitempty"`
	State    oci.State `json:"state"`
}

// ParseProcessState decodes a runtime's message and finds the index of
// the notify fd among the fds sent with it.
func ParseProcessState(b []byte, nfds int) (ProcessState, int, error) {
	var ps ProcessState
	if err := json.Unmarshal(b, &ps); err != nil {
		return ps, -1, fmt.Errorf("container process state: %w", err)
	}
	idx := -1
	for i, name := range ps.FDs {
		if name == "seccompFd" {
			idx = i
		}
	}
	if idx < 0 && len(ps.FDs) == 0 && nfds == 1 {
		idx = 0 // an older runtime that names no fd
	}
	if idx < 0 || idx >= nfds {
		return ps, -1, fmt.Errorf("container process state of %q: fds %q, %d received: no seccompFd", ps.State.ID, ps.FDs, nfds)
	}
	if ps.State.PID <= 0 {
		return ps, -1, fmt.Errorf("container process state of %q: no init pid", ps.State.ID)
	}
	return ps, idx, nil
}
