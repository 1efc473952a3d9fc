package supervisor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/lxmount/lxmount/sources"
	"github.com/lxmount/lxmount/supervisor/discovery"
)

// previousState is what the state file of a previous daemon (after a
// crash or a restart) says it had attached.
type previousState struct {
	containers []ContainerInfo
	// err is why the state file could not be used (truncated, garbage);
	// nil when it was read or there was none.
	err error
}

// readPrevious reads the state file a previous daemon left.
func readPrevious(stateDir string) previousState {
	path := filepath.Join(stateDir, StateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return previousState{}
	}
	if err != nil {
		return previousState{err: err}
	}
	st, err := decodeState(b)
	if err != nil {
		return previousState{err: fmt.Errorf("%s: %w", path, err)}
	}
	return previousState{containers: st.Containers}
}

// decodeState decodes a state file: one Status object and nothing else.
func decodeState(b []byte) (Status, error) {
	var st Status
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&st); err != nil {
		return Status{}, fmt.Errorf("not a state file: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Status{}, errors.New("not a state file: data after the status object")
	}
	return st, nil
}

// Recover re-attaches what the previous daemon had attached, when the
// container still runs (same init PID and start time), with the same
// policy when it still exists. Broken mounts the crash left are replaced.
// When the state file is unusable it says so in one log line and
// rediscovers at once: the containers that carry lxmount mounts (dead
// ones, after a crash) are the ones the previous daemon had attached.
// Then the empty mountpoint directories a previous daemon left in
// <state-dir>/mnt are removed. It returns how many containers were
// re-attached.
func (s *Supervisor) Recover() int {
	s.attachMu.Lock()
	defer s.attachMu.Unlock()
	prev := s.previous
	s.previous = previousState{}
	n := 0
	switch {
	case prev.err != nil:
		s.log.Warn("state file unusable: rediscovering the containers that carry lxmount mounts", "error", prev.err)
		n = s.recoverFromScan(s.rediscover)
	case len(prev.containers) > 0:
		n = s.recoverFromScan(func([]discovery.Container) []ContainerInfo { return prev.containers })
	}
	s.removeStaleMountpoints()
	return n
}

// recoverFromScan scans /proc once and re-attaches the containers that
// want returns from what the scan found. The caller holds attachMu.
func (s *Supervisor) recoverFromScan(want func([]discovery.Container) []ContainerInfo) int {
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
	n := 0
	for _, prev := range want(found) {
		if s.recoverOne(prev, byNS) {
			n++
		}
	}
	if n > 0 {
		s.log.Info("recovered attachments of the previous daemon", "count", n)
	}
	return n
}

// recoverOne re-attaches one container of the previous daemon, if it
// still runs and is not attached; it reports whether it attached it.
func (s *Supervisor) recoverOne(prev ContainerInfo, byNS map[uint64]discovery.Container) bool {
	c, ok := byNS[prev.MountNS]
	if !ok {
		// Attach also takes what Scan leaves out (a private mount
		// namespace in the host's PID namespace): ask for it alone.
		var err error
		if c, err = discovery.Resolve(s.disc, prev.InitPID); err != nil || c.MountNS != prev.MountNS {
			return false // that container is gone
		}
	}
	if c.InitPID != prev.InitPID || c.InitStart != prev.InitStart {
		return false // that container is gone
	}
	s.mu.Lock()
	attached := s.byNS[c.MountNS] != nil
	s.mu.Unlock()
	if attached {
		return false
	}
	pols := s.policies()
	choice, ok, _, err := pols.Choose(c, prev.Policy)
	if err != nil {
		choice, ok, _, err = pols.Choose(c, "")
	}
	if err != nil || !ok {
		return false
	}
	if choice.Options.Uptime == sources.UptimeAuto && prev.Uptime != "" {
		choice.Options.Uptime = sources.UptimeSource(prev.Uptime) // as resolved at its first attach
	}
	if _, err := s.attach(c, choice); err != nil {
		s.log.Warn("recover", "init_pid", prev.InitPID, "id", prev.ID, "error", err)
		return false
	}
	return true
}

// lxmountFSType is the type mountinfo shows for lxmount's FUSE instances
// (fuse.Subtype("lxmount") in vfs.Mount).
const lxmountFSType = "fuse.lxmount"

// rediscover stands in for an unusable state file: of the containers
// found, those whose mount namespace shows an lxmount mount, as the
// state file would have listed them (with no policy name: the policies
// decide again). Reading mountinfo never touches the mounts, so dead
// ones do not block it.
func (s *Supervisor) rediscover(found []discovery.Container) []ContainerInfo {
	root := s.disc.ProcRoot
	if root == "" {
		root = "/proc"
	}
	var out []ContainerInfo
	for _, c := range found {
		f, err := os.Open(filepath.Join(root, strconv.Itoa(c.InitPID), "mountinfo"))
		if err != nil {
			continue // gone meanwhile
		}
		has, err := hasLxmountMount(f)
		f.Close()
		if err != nil {
			s.log.Debug("rediscover: mountinfo", "init_pid", c.InitPID, "error", err)
		}
		if has {
			out = append(out, ContainerInfo{ID: c.ID, InitPID: c.InitPID, InitStart: c.InitStart, MountNS: c.MountNS})
		}
	}
	return out
}

// hasLxmountMount reports whether the mountinfo read from r shows a mount
// of lxmount's file system type. A malformed line is an error; what was
// found before it still counts.
func hasLxmountMount(r io.Reader) (bool, error) {
	ms, err := mountinfo.GetMountsFromReader(r, func(m *mountinfo.Info) (skip, stop bool) {
		return m.FSType != lxmountFSType, m.FSType == lxmountFSType
	})
	return len(ms) > 0, err
}

// staleMargin: a directory in mnt/ whose inode changed less than this
// before the daemon started may be one it is making now (the kernel's
// file times come from a coarse clock, a tick behind time.Now).
const staleMargin = time.Second

// removeStaleMountpoints removes the directories of <state-dir>/mnt a
// previous daemon left (its mount namespace, and its mounts, died with
// it): only empty directories that are not mountpoints and that existed
// before this daemon started; never a file, a symlink or what is below
// a directory. The caller holds attachMu.
func (s *Supervisor) removeStaleMountpoints() {
	dir := filepath.Join(s.cfg.StateDir, "mnt")
	var parent unix.Stat_t
	if err := unix.Lstat(dir, &parent); err != nil {
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		s.log.Warn("remove stale mountpoints", "dir", dir, "error", err)
		return
	}
	removed := 0
	for _, e := range entries {
		if s.removeStale(filepath.Join(dir, e.Name()), parent.Dev) {
			removed++
		}
	}
	if removed > 0 {
		s.log.Info("removed the empty mountpoint directories of a previous daemon", "dir", dir, "count", removed)
	}
}

// removeStale removes path if it is a stale mountpoint directory (see
// removeStaleMountpoints) on device dev, and reports whether it did.
func (s *Supervisor) removeStale(path string, dev uint64) bool {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Dev != dev {
		return false // not a directory, or something is mounted on it
	}
	if time.Unix(st.Ctim.Unix()).After(s.started.Add(-staleMargin)) {
		return false // made by this daemon
	}
	// rmdir(2) fails on a non-empty directory and on a mountpoint.
	return unix.Rmdir(path) == nil
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
