package seccompagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxmount/lxmount/sources"
)

// View is what the agent asks the daemon for each call.
type View interface {
	// Sysinfo returns the sysinfo values of the container whose init is
	// initPID; ok is false when it is not attached (the call then gets
	// the host's values).
	Sysinfo(initPID int, now time.Time) (v sources.Sysinfo, ok bool)
}

// CPUView is a View that can also answer sched_getaffinity(2).
type CPUView interface {
	// CPUs returns the CPUs the container whose init is initPID sees,
	// when it is attached and its policy asks for the affinity answer.
	CPUs(initPID int) (cpus []int, ok bool)
}

// Config configures an Agent.
type Config struct {
	StateDir string
	View     View
	// HolderArgv starts the fd holder when none runs (`lxmount
	// seccomp-holder --state-dir DIR`).
	HolderArgv []string
	Log        *slog.Logger
}

// Agent answers the calls of every notify fd the holder keeps.
type Agent struct {
	cfg   Config
	log   *slog.Logger
	calls atomic.Uint64 // answered with the container's values
	passd atomic.Uint64 // let through (host's values)
	fds   atomic.Int64  // notify fds being served
}

// Stats are the agent's counters.
type Stats struct {
	Answered, Passed uint64
	FDs              int64
}

// New makes an Agent.
func New(cfg Config) *Agent {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Agent{cfg: cfg, log: cfg.Log}
}

// Stats returns the counters.
func (a *Agent) Stats() Stats {
	return Stats{Answered: a.calls.Load(), Passed: a.passd.Load(), FDs: a.fds.Load()}
}

// Run connects to the holder (starting one if none runs), takes over
// every notify fd it keeps and every one it receives later, and answers
// their calls until ctx ends. A holder that goes away is reconnected to
// (its fds, and the filters' pending calls, went with it).
func (a *Agent) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		err := a.session(ctx)
		if ctx.Err() != nil {
			break
		}
		a.log.Warn("seccomp agent: holder connection ended; reconnecting", "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

// session is one connection to the holder.
func (a *Agent) session(ctx context.Context) error {
	if err := EnsureHolder(a.cfg.StateDir, a.cfg.HolderArgv); err != nil {
		return err
	}
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: controlPath(a.cfg.StateDir), Net: "unixpacket"})
	if err != nil {
		return fmt.Errorf("connect seccomp holder: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	a.log.Info("seccomp agent: connected to the holder", "socket", controlPath(a.cfg.StateDir))
	var wg sync.WaitGroup
	defer wg.Wait()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	buf, oob := make([]byte, maxMessage), make([]byte, unix.CmsgSpace(2*4))
	for {
		m, fds, err := recvEntry(c, buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return err
			}
			var ne *net.OpError
			if errors.As(err, &ne) {
				return err
			}
			a.log.Error("seccomp agent", "error", err)
			continue
		}
		var ps ProcessState
		if err := json.Unmarshal(m.State, &ps); err != nil {
			closeAll(fds)
			a.log.Error("seccomp agent: process state", "key", m.Key, "error", err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.serve(sctx, ps, fds[0], fds[1])
		}()
	}
}

// serve answers notify fd nfd's calls until its filter is gone or ctx
// ends, then closes it (the holder keeps its own copy).
func (a *Agent) serve(ctx context.Context, ps ProcessState, nfd, memFD int) {
	rec, err := mapInflight(memFD)
	unix.Close(memFD)
	if err != nil {
		unix.Close(nfd)
		a.log.Error("seccomp agent", "id", ps.State.ID, "error", err)
		return
	}
	defer rec.close()
	f, err := notifyFile(nfd, "seccomp-notify:"+ps.State.ID)
	if err != nil {
		unix.Close(nfd)
		a.log.Error("seccomp agent", "id", ps.State.ID, "error", err)
		return
	}
	defer f.Close()
	a.fds.Add(1)
	defer a.fds.Add(-1)
	syncWakeUp(nfd)
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Now()) })
	defer stop()
	s := &server{a: a, fd: nfd, initPID: ps.State.PID, id: ps.State.ID}
	if n, ok := rec.pending(); ok {
		// A previous daemon died answering n; answer it now if its
		// caller still waits.
		if idValid(nfd, n.ID) {
			s.handle(n)
		}
		rec.end()
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	for {
		n, err := next(rc)
		if err != nil {
			if !errors.Is(err, errHangup) && !errors.Is(err, os.ErrDeadlineExceeded) {
				a.log.Error("seccomp agent: receive", "id", ps.State.ID, "error", err)
			}
			return
		}
		rec.begin(n)
		s.handle(n)
		rec.end()
	}
}

// server answers the calls of one notify fd.
type server struct {
	a       *Agent
	fd      int
	initPID int
	id      string
}

// handle answers n: with the container's values when it is a native
// sysinfo (or sched_getaffinity, when asked for) of an attached
// container, else by letting it through. No failure of lxmount's fails
// the call: it is let through instead.
func (s *server) handle(n notif) {
	var errno unix.Errno
	var val int64
	var err error
	answered := false
	if n.Arch == nativeArch {
		switch int(n.Nr) {
		case unix.SYS_SYSINFO:
			answered, errno, err = s.sysinfo(n)
		case unix.SYS_SCHED_GETAFFINITY:
			answered, val, errno, err = s.affinity(n)
		}
	}
	switch {
	case errors.Is(err, errGone):
		return
	case err != nil:
		s.a.log.Warn("seccomp agent: letting a call through", "id", s.id, "nr", n.Nr, "error", err)
		answered = false
	}
	if !answered {
		s.a.passd.Add(1)
		_ = pass(s.fd, n.ID)
		return
	}
	s.a.calls.Add(1)
	_ = respond(s.fd, n.ID, val, errno)
}

// sysinfo writes the container's struct sysinfo at the caller's pointer.
func (s *server) sysinfo(n notif) (bool, unix.Errno, error) {
	v, ok := s.a.cfg.View.Sysinfo(s.initPID, time.Now())
	if !ok {
		return false, 0, nil
	}
	var host unix.Sysinfo_t
	if err := unix.Sysinfo(&host); err != nil {
		return false, 0, err
	}
	si := sysinfoOf(host, v)
	errno, err := writeCaller(s.fd, n, n.Args[0], sysinfoBytes(&si))
	return err == nil, errno, err
}
