package supervisor

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/lxmount/lxmount/sources"
)

// LoadFile holds the containers' load averages in the state dir, so that
// a restarted daemon, or a heal, carries them on (sources/loadseed.go).
// It is rewritten at every load sample, by rename and without fsync: a
// machine that crashed has no container left to carry averages on for.
const LoadFile = "loadavg.json"

// keepLoad is how long the averages of a container no longer attached
// are kept in LoadFile for its next attach: after 15 minutes the saved
// values would have decayed to a fifth, and a re-attach after a crash
// comes within seconds.
const keepLoad = 15 * time.Minute

// savedLoad is one container's entry of LoadFile.
type savedLoad struct {
	Avg sources.LoadAverage `json:"avg"` // fixed point, 11 fractional bits
	At  time.Time           `json:"at"`  // when the last sample was folded
}

// loadStore is what the daemon knows of saved averages: LoadFile as last
// read or written, keyed by loadKey.
type loadStore struct {
	mu     sync.Mutex
	read   bool
	saved  map[string]savedLoad
	failed bool // the last write failed (logged once)
}

// loadKey names a container across daemons: its cgroup and its init's
// identity (PID and start time: a new container in the same cgroup
// starts afresh).
func loadKey(a *attachment) string {
	return cgroupPath(a.c) + "@" + strconv.Itoa(a.c.InitPID) + "." + strconv.FormatUint(a.c.InitStart, 10)
}

// startLoad gives a newly bound container its first load averages: the
// saved ones of an earlier binding, else an estimate from its CPU time
// (sources.Container.SeedLoad), then folds a first sample.
func (s *Supervisor) startLoad(a *attachment, now time.Time) {
	s.loads.mu.Lock()
	s.readLoads()
	saved, ok := s.loads.saved[loadKey(a)]
	s.loads.mu.Unlock()
	switch {
	case ok && now.Sub(saved.At) < keepLoad:
		a.src.RestoreLoad(saved.Avg, saved.At)
	default:
		if err := a.src.SeedLoad(now); err != nil {
			s.log.Debug("seed load average", "id", a.id, "error", err)
		}
	}
	_ = a.src.SampleLoad(now)
}

// readLoads reads LoadFile once; s.loads.mu is held. A missing or bad
// file means nothing saved.
func (s *Supervisor) readLoads() {
	if s.loads.read {
		return
	}
	s.loads.read = true
	s.loads.saved = map[string]savedLoad{}
	b, err := os.ReadFile(filepath.Join(s.cfg.StateDir, LoadFile))
	if err != nil {
		return
	}
	if err := json.Unmarshal(b, &s.loads.saved); err != nil {
		s.log.Warn("read saved load averages", "error", err)
		s.loads.saved = map[string]savedLoad{}
	}
}

// saveLoads writes the load averages of the attached containers to
// LoadFile, with the saved ones of containers not attached (yet: a
// restarted daemon re-attaches one by one) for keepLoad.
func (s *Supervisor) saveLoads(now time.Time) {
	s.loads.mu.Lock()
	defer s.loads.mu.Unlock()
	s.readLoads()
	next := map[string]savedLoad{}
	for k, v := range s.loads.saved {
		if now.Sub(v.At) < keepLoad {
			next[k] = v
		}
	}
	for _, a := range s.list() {
		if !a.sampleLoad {
			continue
		}
		if avg, at := a.src.Load(); !at.IsZero() {
			next[loadKey(a)] = savedLoad{Avg: avg, At: at}
		}
	}
	s.loads.saved = next
	b, err := json.Marshal(next)
	if err == nil {
		err = writeAtomic(filepath.Join(s.cfg.StateDir, LoadFile), append(b, '\n'), func(*os.File) error { return nil })
	}
	if err != nil && !s.loads.failed {
		s.log.Warn("save load averages", "error", err)
	}
	s.loads.failed = err != nil
}
