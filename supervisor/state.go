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
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	b, err := s.encodeState()
	if err == nil {
		err = writeBytesAtomic(filepath.Join(s.cfg.StateDir, StateFile), b)
	}
	if err != nil {
		s.log.Warn("save state", "error", err)
	}
}

// encodeState returns the state file's content: Status() as
// json.MarshalIndent(Status(), "", "  ") writes it, plus a newline,
// assembled from the containers' cached entries (attachment.encoded), so
// that a save re-encodes only the containers whose counters or health
// changed. The caller holds s.saveMu.
func (s *Supervisor) encodeState() ([]byte, error) {
	daemon, err := json.MarshalIndent(s.daemonInfo(), "  ", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode state: %w", err)
	}
	as := s.list()
	entries := make([][]byte, len(as))
	for i, a := range as {
		if entries[i], err = a.encoded(); err != nil {
			return nil, fmt.Errorf("encode state: %w", err)
		}
	}
	return assembleState(daemon, entries), nil
}

// encodeEntry encodes one container as json.MarshalIndent(Status, "",
// "  ") does inside the containers array.
func encodeEntry(ci ContainerInfo) ([]byte, error) {
	return json.MarshalIndent(ci, "    ", "  ")
}

// assembleState puts the daemon's and the containers' encodings
// (json.MarshalIndent with prefix "  " and "    ") together as
// json.MarshalIndent(Status, "", "  ") would, plus a newline.
func assembleState(daemon []byte, entries [][]byte) []byte {
	size := len(daemon) + 32
	for _, e := range entries {
		size += len(e) + 6
	}
	b := make([]byte, 0, size)
	b = append(b, "{\n  \"daemon\": "...)
	b = append(b, daemon...)
	b = append(b, ",\n  \"containers\": ["...)
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n    "...)
		b = append(b, e...)
	}
	if len(entries) > 0 {
		b = append(b, "\n  "...)
	}
	return append(b, "]\n}\n"...)
}

// writeFileAtomic writes v as indented JSON to path via a temp file and
// rename, so readers never see a half-written file.
func writeFileAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return writeBytesAtomic(path, append(b, '\n'))
}

// writeBytesAtomic writes b to path (mode 0600) via a temp file and rename.
func writeBytesAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
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
