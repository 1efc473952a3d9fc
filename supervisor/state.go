package supervisor

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// StateFile is the name of the daemon's state file in the state dir. It is
// what a restarted daemon (or reconcile) reads to learn what was attached
// before a crash. Its content is Status.
const StateFile = "state.json"

// PIDFile holds the daemon's PID, in the state dir.
const PIDFile = "daemon.pid"

// saveState writes the state file atomically (write a temp file, rename).
// A failure is logged: the registry in memory stays the truth.
func (s *Supervisor) saveState() {
	if err := writeFileAtomic(filepath.Join(s.cfg.StateDir, StateFile), s.Status()); err != nil {
		s.log.Warn("save state", "error", err)
	}
}

// writeFileAtomic writes v as indented JSON to path via a temp file and
// rename, so readers never see a half-written file.
func writeFileAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WritePIDFile records the daemon's PID in the state dir, atomically.
func WritePIDFile(stateDir string) error {
	return writeFileAtomic(filepath.Join(stateDir, PIDFile), os.Getpid())
}
