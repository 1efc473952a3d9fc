package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
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

// writeBytesAtomic writes b to path (mode 0600) via a temp file, fsync
// and rename, then fsyncs the directory: after a crash, even of the
// machine, path holds either the old content or b, never a truncated file.
func writeBytesAtomic(path string, b []byte) error {
	return writeAtomic(path, b, (*os.File).Sync)
}

// writeAtomic is writeBytesAtomic with the fsync of the temp file and of
// the directory done by sync (tests record the order).
func writeAtomic(path string, b []byte, sync func(*os.File) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	err = writeSynced(tmp, b, sync)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path), sync); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeSynced writes b to f, sets mode 0600 and syncs f.
func writeSynced(f *os.File, b []byte, sync func(*os.File) error) error {
	if _, err := f.Write(b); err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	return sync(f)
}

// syncDir syncs directory dir, so that a rename in it is durable.
func syncDir(dir string, sync func(*os.File) error) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return sync(d)
}

// WritePIDFile records the daemon's PID in the state dir, atomically.
func WritePIDFile(stateDir string) error {
	return writeFileAtomic(filepath.Join(stateDir, PIDFile), os.Getpid())
}

// LockFile, in the state dir, is flocked by the running daemon for its
// whole life: two daemons never share a state dir (its state file and
// mountpoints).
const LockFile = "daemon.lock"

// LockStateDir takes the state dir's daemon lock without waiting. The
// lock is held until the returned file is closed (or the process ends).
// When another daemon holds it, the error says so in one line, with that
// daemon's PID when its pid file tells.
func LockStateDir(stateDir string) (*os.File, error) {
	path := filepath.Join(stateDir, LockFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if err == nil {
		return f, nil
	}
	f.Close()
	if errors.Is(err, unix.EWOULDBLOCK) {
		return nil, fmt.Errorf("%w: another daemon%s holds %s (stop it, or give another --state-dir)", ErrStateDirLocked, holder(stateDir), path)
	}
	return nil, fmt.Errorf("lock state dir: flock %s: %w", path, err)
}

// ErrStateDirLocked: another daemon runs on the state dir.
var ErrStateDirLocked = errors.New("state dir in use")

// holder returns " (pid N)" from the state dir's pid file, or "".
func holder(stateDir string) string {
	b, err := os.ReadFile(filepath.Join(stateDir, PIDFile))
	if err != nil {
		return ""
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return ""
	}
	return fmt.Sprintf(" (pid %d)", pid)
}
