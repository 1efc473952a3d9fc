package supervisor

import (
	"errors"
	"fmt"

	"github.com/lxmount/lxmount/supervisor/discovery"
)

// What the NRI plugin (package nriplugin) needs of the supervisor besides
// AttachRequest: the runtime names containers by its own id, not by a PID
// or the short id lxmount gives them.

// DetachRuntime detaches the attached container whose runtime id is id
// (NRI's StopContainer and RemoveContainer name it so), as Detach does.
// It returns the lxmount id of what it detached, "" when no attached
// container has that runtime id (never attached, or already forgotten):
// not an error.
func (s *Supervisor) DetachRuntime(id string) (string, error) {
	if id == "" {
		return "", nil
	}
	target := ""
	s.mu.Lock()
	for short, a := range s.byID {
		if a.c.ID == id {
			target = short
			break
		}
	}
	s.mu.Unlock()
	if target == "" {
		return "", nil
	}
	detached, err := s.Detach(target)
	if errors.Is(err, ErrNotAttached) {
		return "", nil // forgotten meanwhile (its init exited)
	}
	return detached, err
}

// RuntimePID returns the host PID of the init of the container whose
// runtime id is id, as discovery reads it from the runtimes' state (runc's
// state.json under containerd's, CRI-O's or runc's root): for a runtime
// that does not say the PID itself. It scans /proc, so it is the slow way
// (tens of milliseconds on a busy node).
func (s *Supervisor) RuntimePID(id string) (int, error) {
	cs, err := discovery.Scan(s.disc)
	if err != nil {
		return 0, fmt.Errorf("find the process of container %s: %w", id, err)
	}
	for _, c := range cs {
		if c.ID == id && id != "" {
			return c.InitPID, nil
		}
	}
	return 0, fmt.Errorf("find the process of container %s: no runtime state names it: %w", id, discovery.ErrNoProcess)
}
