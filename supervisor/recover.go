package supervisor

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/lxmount/lxmount/supervisor/discovery"
)

// readPrevious reads the state file a previous daemon left (after a crash
// or a restart): what it had attached.
func readPrevious(stateDir string) []ContainerInfo {
	b, err := os.ReadFile(filepath.Join(stateDir, StateFile))
	if err != nil {
		return nil
	}
	var st Status
	if json.Unmarshal(b, &st) != nil {
		return nil
	}
	return st.Containers
}

// Recover re-attaches what the previous daemon had attached, when the
// container still runs (same init PID and start time), with the same
// policy when it still exists. Broken mounts the crash left are replaced.
// It returns how many containers were re-attached.
func (s *Supervisor) Recover() int {
	s.attachMu.Lock()
	defer s.attachMu.Unlock()
	n := 0
	if len(s.previous) == 0 {
		return 0
	}
	// One pass over /proc for all of them: Resolve per container would
	// rescan it each time.
	found, err := discovery.Scan(s.disc)
	if err != nil {
		s.log.Warn("recover: scan", "error", err)
		return 0
	}
	byNS := make(map[uint64]discovery.Container, len(found))
	for _, c := range found {
		byNS[c.MountNS] = c
	}
	defer s.saveState()
	for _, prev := range s.previous {
		c, ok := byNS[prev.MountNS]
		if !ok {
			// Attach also takes what Scan leaves out (a private mount
			// namespace in the host's PID namespace): ask for it alone.
			if c, err = discovery.Resolve(s.disc, prev.InitPID); err != nil || c.MountNS != prev.MountNS {
				continue // that container is gone
			}
		}
		if c.InitPID != prev.InitPID || c.InitStart != prev.InitStart {
			continue // that container is gone
		}
		s.mu.Lock()
		attached := s.byNS[c.MountNS] != nil
		s.mu.Unlock()
		if attached {
			continue
		}
		pols := s.policies()
		choice, ok, _, err := pols.Choose(c, prev.Policy)
		if err != nil {
			choice, ok, _, err = pols.Choose(c, "")
		}
		if err != nil || !ok {
			continue
		}
		if _, err := s.attach(c, choice); err != nil {
			s.log.Warn("recover", "init_pid", prev.InitPID, "id", prev.ID, "error", err)
			continue
		}
		n++
	}
	s.previous = nil
	if n > 0 {
		s.log.Info("recovered attachments of the previous daemon", "count", n)
	}
	return n
}

// ReconcileEvery reconciles at once and then every interval until ctx is
// done. Results are kept for status; failures are logged.
func (s *Supervisor) ReconcileEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := s.Reconcile(false)
		s.noteReconcile(res, err)
		if err != nil {
			s.log.Warn("reconcile", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// noteReconcile records the last reconcile for status.
func (s *Supervisor) noteReconcile(res ReconcileResult, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.lastReconcile = &LastReconcile{At: now, Summary: res.Summary, Took: res.Took, Error: errString(err)}
}
