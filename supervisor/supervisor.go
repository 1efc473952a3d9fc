package supervisor

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxmount/lxmount/mountns"
	"github.com/lxmount/lxmount/sources"
	"github.com/lxmount/lxmount/supervisor/discovery"
)

// Config is what a Supervisor needs to run.
type Config struct {
	StateDir   string       // state file and FUSE mountpoints live here
	Socket     string       // control socket path (reported in status)
	Version    string       // lxmount version (reported in status)
	Host       sources.Host // host /proc and /sys
	FusectlDir string       // where fusectl is mounted in the daemon's namespace, "" if not
	Readers    int          // most FUSE readers per container (0: vfs.Options' default)
	// Spares keeps one FUSE instance mounted ahead of need (spare.go), so
	// an attach does not wait for a mount; the daemon sets it.
	Spares   bool
	Policies Policies // decides files and options per container
	// Reload, when set, reloads the policies; every reconcile calls it
	// first. On error the last good policies stay and status reports it.
	Reload func() (Policies, error)
	Log    *slog.Logger
	// CallTimeout bounds each call into a container's mount namespace
	// (0: DefaultCallTimeout); one given up quarantines the container
	// (quarantine.go).
	CallTimeout time.Duration
	// StopTimeout bounds Close's detaching (0: DefaultStopTimeout); what
	// is still attached then is left for the next daemon to heal.
	StopTimeout time.Duration
}

// Defaults of Config's bounds. An attach takes milliseconds
// (docs/benchmarks.md); a call into a namespace that takes seconds waits
// for something a container controls.
const (
	DefaultCallTimeout = 5 * time.Second
	DefaultStopTimeout = 7 * time.Second
)

// Supervisor is the registry of attached containers. Its methods are safe
// for concurrent use.
type Supervisor struct {
	cfg     Config
	log     *slog.Logger
	hier    Hierarchies
	started time.Time
	disc    discovery.Options

	mu   sync.Mutex
	pols Policies // current policies; replaced on reload
	byID map[string]*attachment
	byNS map[uint64]*attachment
	// byCgroup holds the attachment of each container cgroup (cgroupKey):
	// one binding per cgroup.
	byCgroup map[string]*attachment
	// stuck are the quarantined mount namespaces (quarantine.go).
	stuck  map[uint64]*mountns.Namespace
	closed bool
	me     self // the daemon, never attached (self.go)

	// saveMu serialises state file writes, so that the last one written
	// is the last one taken, and guards the attachments' encodings.
	saveMu sync.Mutex

	previous      previousState // what the previous daemon had attached (recover.go)
	lastReconcile *LastReconcile
	policyError   string
	hooks         HookStats // attaches asked for by OCI hooks, but Unanswered
	spares        sparePool
	loads         loadStore // saved load averages (loadstate.go)
	// events counts event-driven discovery (events.go).
	events eventCounters
	// decisions changes whenever what decides to leave a container alone
	// may have changed (policies replaced, a reconcile): event discovery
	// then forgets the mount namespaces it decided to leave alone.
	decisions atomic.Uint64
	// attachMu serialises the host-wide passes (reconcile, recover): one
	// at a time. The work on one container takes that container's lock
	// (locks, lockKey), never a lock of all containers, so a container
	// that makes a call wait holds up only itself.
	attachMu sync.Mutex
	locks    nsLocks

	stop    chan struct{}
	closing sync.Once // Close detaches once
	wg      sync.WaitGroup
}

// New creates a Supervisor. It reads the host's cgroup hierarchies and boot
// time once; nothing is attached yet.
func New(cfg Config) (*Supervisor, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Policies == nil {
		cfg.Policies = DefaultPolicies()
	}
	if cfg.Host == (sources.Host{}) {
		cfg.Host = sources.DefaultHost()
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	hier, err := ReadHierarchies()
	if err != nil {
		return nil, err
	}
	me, err := readSelf()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "mnt"), 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	s := &Supervisor{
		cfg:      cfg,
		log:      cfg.Log,
		hier:     hier,
		started:  time.Now(),
		disc:     discovery.Options{ProcRoot: cfg.Host.ProcRoot, Cache: &discovery.Cache{}},
		pols:     cfg.Policies,
		previous: readPrevious(cfg.StateDir),
		byID:     map[string]*attachment{},
		byNS:     map[uint64]*attachment{},
		byCgroup: map[string]*attachment{},
		stuck:    map[uint64]*mountns.Namespace{},
		me:       me,
		stop:     make(chan struct{}),
	}
	s.wg.Add(1)
	go s.sampleLoad()
	if cfg.Spares {
		s.fillSpare()
	}
	return s, nil
}

// userHZ is the unit of /proc/<pid>/stat start times (USER_HZ, 100 on every
// Linux architecture: see man 5 proc, "starttime").
const userHZ = 100

// wallStart turns a start time in clock ticks since boot into wall time.
// It measures back from CLOCK_BOOTTIME (what starttime counts in) rather
// than adding to /proc/stat's btime, which is truncated to whole seconds
// and would make uptime up to a second too long.
func (s *Supervisor) wallStart(ticks uint64) time.Time { return wallStart(ticks) }

func wallStart(ticks uint64) time.Time {
	var ts unix.Timespec
	now := time.Now()
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return time.Time{} // unknown: renderers then use the host's uptime
	}
	since := time.Duration(ts.Nano()) - time.Duration(ticks)*time.Second/userHZ
	return now.Add(-since)
}

// Status returns the daemon's state.
func (s *Supervisor) Status() Status {
	st := Status{Daemon: s.daemonInfo(), Containers: []ContainerInfo{}}
	for _, a := range s.list() {
		a.refreshHealth()
		st.Containers = append(st.Containers, a.info())
	}
	return st
}

// daemonInfo returns the daemon part of Status.
func (s *Supervisor) daemonInfo() DaemonInfo {
	d := DaemonInfo{
		PID:       os.Getpid(),
		Version:   s.cfg.Version,
		StartedAt: s.started,
		Socket:    s.cfg.Socket,
		StateDir:  s.cfg.StateDir,

		Goroutines: runtime.NumGoroutine(),
		Threads:    countEntries("/proc/self/task"),
		FDs:        countFDs(),
	}
	s.mu.Lock()
	d.LastReconcile = s.lastReconcile
	d.PolicyError = s.policyError
	d.Hooks = s.hooks
	s.mu.Unlock()
	d.Spares = s.readySpares()
	d.Events = s.EventStats()
	d.Hooks.Unanswered = countLines(filepath.Join(s.cfg.StateDir, HookFailuresFile))
	return d
}

// countFDs counts the daemon's open file descriptors, as many as a
// listing of /proc/self/fd shows (the listing's own descriptor included).
// Since Linux 6.2 the size stat reports for that directory is the number
// of open descriptors, which costs nothing per descriptor; listing them
// costs about 0.65 ms with 500 containers (4 fds each). Older kernels
// report 0, and the directory is listed.
func countFDs() int {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/fd", &st); err == nil && st.Size > 0 {
		return int(st.Size) + 1
	}
	return countEntries("/proc/self/fd")
}

// HookFailuresFile, in the state directory, is where `lxmount oci-hook`
// appends one line for each container it let start without an answer from
// a daemon.
const HookFailuresFile = "hook-failures.log"

// countLines counts the lines of a file; 0 if it cannot be read.
func countLines(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return uint64(bytes.Count(b, []byte{'\n'}))
}

// countEntries counts the entries of a directory without sorting them as
// os.ReadDir would.
func countEntries(dir string) int {
	f, err := os.Open(dir)
	if err != nil {
		return 0
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	return len(names)
}

// policies returns the current policies.
func (s *Supervisor) policies() Policies {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pols
}

// SetPolicies replaces the policies (a reload). The next reconcile applies
// them to attached containers.
func (s *Supervisor) SetPolicies(p Policies) {
	s.mu.Lock()
	s.pols = p
	s.policyError = ""
	s.mu.Unlock()
	s.decisions.Add(1)
}

// PolicyError records a failed reload: the last good policies stay.
func (s *Supervisor) PolicyError(err error) {
	s.mu.Lock()
	s.policyError = errString(err)
	s.mu.Unlock()
}

func (s *Supervisor) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// list returns the attachments sorted by attach time.
func (s *Supervisor) list() []*attachment {
	s.mu.Lock()
	out := make([]*attachment, 0, len(s.byID))
	for _, a := range s.byID {
		out = append(out, a)
	}
	s.mu.Unlock()
	sortAttachments(out)
	return out
}

// Close detaches every container, so they see the host's files again, and
// stops the supervisor's goroutines, within Config.StopTimeout whatever
// containers do: detaches run side by side, each bounded by CallTimeout,
// and what is not detached by then is left (its mounts answer ENOTCONN
// until the next daemon heals them).
func (s *Supervisor) Close() (err error) {
	s.beginStop()
	s.closing.Do(func() { err = s.detachAll() })
	return err
}

// detachAll is Close's work.
func (s *Supervisor) detachAll() error {
	s.closeSpares()
	deadline := time.NewTimer(s.cfg.StopTimeout)
	defer deadline.Stop()
	as := s.list()
	errs := make(chan error, len(as))
	sem := make(chan struct{}, 8)
	for _, a := range as {
		go func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs <- s.guard(a.id, "detach", func() error {
				unlock := s.locks.lock(lockKey(a.c))
				defer unlock()
				return s.detach(a, "daemon stopping")
			})
		}()
	}
	var all []error
	for range as {
		select {
		case err := <-errs:
			all = append(all, err)
		case <-deadline.C:
			left := len(s.list())
			s.log.Error("stop: giving up on containers still attached", "left", left, "after", s.cfg.StopTimeout)
			return errors.Join(append(all, fmt.Errorf("stop: %d containers still attached after %v", left, s.cfg.StopTimeout))...)
		}
	}
	waited := make(chan struct{})
	go func() { s.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-deadline.C:
	}
	return errors.Join(all...)
}

// beginStop marks the supervisor as stopping: new work is refused, and
// reconciles under way stop at the next container. It reports false if it
// was stopping already.
func (s *Supervisor) beginStop() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.closed = true
	close(s.stop)
	return true
}

// sampleLoad feeds every attached container's load average from one
// goroutine: no per-container timers.
func (s *Supervisor) sampleLoad() {
	defer s.wg.Done()
	t := time.NewTicker(sources.LoadPeriod)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			for _, a := range s.list() {
				if a.sampleLoad {
					// A vanished cgroup shows in health; a failed
					// sample just leaves the averages alone.
					_ = s.guard(a.id, "sample load", func() error { return a.src.SampleLoad(now) })
				}
			}
			s.saveLoads(now)
		}
	}
}
