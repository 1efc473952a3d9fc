package seccompagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultGrace is how long the holder keeps calls waiting for a daemon
// before it lets them through with the host's values.
const DefaultGrace = 10 * time.Second

// HolderConfig configures RunHolder.
type HolderConfig struct {
	StateDir string
	// Grace is how long calls wait without a daemon (DefaultGrace if 0):
	// a daemon restart within it is invisible to the containers but for
	// the wait; past it, calls get the host's values until one connects.
	Grace time.Duration
	Log   *slog.Logger
}

// entry is one notify fd the holder keeps.
type entry struct {
	key    uint64
	state  []byte   // the runtime's ProcessState, as received
	notify *os.File // pollable
	memFD  int      // the in-flight record
	rec    *inflight

	// passing is set while the holder answers the fd itself (no daemon
	// past the grace period); done is closed when that loop returns.
	passing bool
	done    chan struct{}
}

// holder is the state of RunHolder.
type holder struct {
	cfg     HolderConfig
	log     *slog.Logger
	mu      sync.Mutex
	nextKey uint64
	entries map[uint64]*entry
	daemon  *net.UnixConn // the connected daemon, nil when none
	gone    time.Time     // when the last daemon left (zero: one is connected, or none came yet and the grace starts at start)
}

// RunHolder runs the fd holder until ctx ends or its listener socket is
// removed from the state directory (the directory was cleaned up). It
// exits at once, without error, when another holder holds the lock.
//
// It answers no call while a daemon is connected, and after the grace
// period without one only lets calls through (SECCOMP_USER_NOTIF_FLAG_CONTINUE):
// it never reads a cgroup and never fails a call.
func RunHolder(ctx context.Context, cfg HolderConfig) error {
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("seccomp holder: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(cfg.StateDir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("seccomp holder: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil // another holder runs
		}
		return fmt.Errorf("seccomp holder: lock: %w", err)
	}
	lpath, cpath := ListenerPath(cfg.StateDir), controlPath(cfg.StateDir)
	ln, err := listen("unix", lpath)
	if err != nil {
		return err
	}
	defer ln.Close()
	ctl, err := listen("unixpacket", cpath)
	if err != nil {
		return err
	}
	defer ctl.Close()
	lst, _ := os.Stat(lpath)
	h := &holder{cfg: cfg, log: cfg.Log, entries: map[uint64]*entry{}, gone: time.Now()}
	cfg.Log.Info("seccomp holder started", "pid", os.Getpid(), "listener", lpath, "grace", cfg.Grace)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go h.acceptRuntimes(ctx, ln)
	go h.acceptDaemons(ctx, ctl)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if st, err := os.Stat(lpath); err != nil || lst == nil || !os.SameFile(st, lst) {
			cfg.Log.Info("seccomp holder: listener socket removed; exiting", "listener", lpath)
			return nil
		}
		h.sweep()
	}
}

// listen listens on a unix socket at path, replacing a stale one.
func listen(network, path string) (*net.UnixListener, error) {
	os.Remove(path)
	l, err := net.ListenUnix(network, &net.UnixAddr{Name: path, Net: network})
	if err != nil {
		return nil, fmt.Errorf("seccomp holder: listen %s: %w", path, err)
	}
	l.SetUnlinkOnClose(false) // a next holder may already listen there
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("seccomp holder: %w", err)
	}
	return l, nil
}

// acceptRuntimes receives the notify fds runtimes send.
func (h *holder) acceptRuntimes(ctx context.Context, ln *net.UnixListener) {
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() == nil {
				h.log.Error("seccomp holder: accept", "error", err)
			}
			return
		}
		go h.receive(c)
	}
}

// receive reads one runtime connection: the process state and the fds,
// until the runtime closes it.
func (h *holder) receive(c *net.UnixConn) {
	defer c.Close()
	defer func() {
		// The holder outlives daemons so that no call fails: a bad
		// message must not end it.
		if p := recover(); p != nil {
			h.log.Error("seccomp holder: runtime message", "panic", p)
		}
	}()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var data []byte
	var fds []int
	buf, oob := make([]byte, 64<<10), make([]byte, unix.CmsgSpace(4*8))
	for len(data) <= maxMessage {
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if oobn > 0 {
			if msgs, perr := unix.ParseSocketControlMessage(oob[:oobn]); perr == nil {
				for _, m := range msgs {
					if f, perr := unix.ParseUnixRights(&m); perr == nil {
						fds = append(fds, f...)
					}
				}
			}
		}
		if n > 0 {
			data = append(data, buf[:n]...)
		}
		if err != nil || n <= 0 {
			break
		}
		if len(fds) > 0 && json.Valid(data) {
			// Complete: runc keeps the connection open after sending,
			// and the container's first call already waits.
			break
		}
	}
	if len(data) == 0 && len(fds) == 0 {
		return // a probe (EnsureHolder)
	}
	ps, idx, err := ParseProcessState(data, len(fds))
	if err != nil {
		closeAll(fds)
		h.log.Error("seccomp holder: runtime message", "error", err)
		return
	}
	nfd := fds[idx]
	for i, fd := range fds {
		if i != idx {
			unix.Close(fd)
		}
	}
	if err := h.add(nfd, data); err != nil {
		h.log.Error("seccomp holder: keep notify fd", "id", ps.State.ID, "pid", ps.PID, "error", err)
		return
	}
	h.log.Debug("seccomp holder: notify fd", "id", ps.State.ID, "pid", ps.PID, "init_pid", ps.State.PID)
}

// add keeps notify fd nfd with its state and hands it to the daemon.
func (h *holder) add(nfd int, state []byte) error {
	memFD, err := newInflightFD()
	if err != nil {
		unix.Close(nfd)
		return err
	}
	rec, err := mapInflight(memFD)
	if err != nil {
		unix.Close(nfd)
		unix.Close(memFD)
		return err
	}
	f, err := notifyFile(nfd, "seccomp-notify")
	if err != nil {
		unix.Close(nfd)
		unix.Close(memFD)
		rec.close()
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextKey++
	e := &entry{key: h.nextKey, state: state, notify: f, memFD: memFD, rec: rec}
	h.entries[e.key] = e
	if h.daemon != nil {
		if err := sendEntry(h.daemon, e.key, e.state, nfd, memFD); err != nil {
			h.dropDaemonLocked(err)
		}
	}
	if h.daemon == nil && !h.gone.IsZero() && time.Since(h.gone) >= h.cfg.Grace {
		h.startPassingLocked(e)
	}
	return nil
}

// acceptDaemons serves daemon connections, one at a time: a new daemon
// replaces the one connected.
func (h *holder) acceptDaemons(ctx context.Context, ctl *net.UnixListener) {
	for {
		c, err := ctl.AcceptUnix()
		if err != nil {
			if ctx.Err() == nil {
				h.log.Error("seccomp holder: accept daemon", "error", err)
			}
			return
		}
		h.connect(c)
		go h.watchDaemon(c)
	}
}

// connect makes c the daemon: the holder stops answering, then sends it
// every fd it keeps.
func (h *holder) connect(c *net.UnixConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.daemon != nil {
		h.daemon.Close()
	}
	h.daemon, h.gone = c, time.Time{}
	for _, e := range h.entries {
		h.stopPassingLocked(e)
	}
	n := 0
	for _, e := range h.entries {
		if err := sendEntry(c, e.key, e.state, int(e.notify.Fd()), e.memFD); err != nil {
			h.dropDaemonLocked(err)
			return
		}
		n++
	}
	h.log.Info("seccomp holder: daemon connected", "fds", n)
}

// watchDaemon waits for daemon c to go (it sends nothing).
func (h *holder) watchDaemon(c *net.UnixConn) {
	buf := make([]byte, 64)
	for {
		if _, err := c.Read(buf); err != nil {
			break
		}
	}
	h.mu.Lock()
	if h.daemon == c {
		h.dropDaemonLocked(errors.New("daemon disconnected"))
	}
	h.mu.Unlock()
}

// dropDaemonLocked forgets the daemon; the grace period starts.
func (h *holder) dropDaemonLocked(why error) {
	if h.daemon == nil {
		return
	}
	h.daemon.Close()
	h.daemon, h.gone = nil, time.Now()
	h.log.Warn("seccomp holder: no daemon; calls wait", "reason", why, "grace", h.cfg.Grace)
}

// sweep forgets the fds whose filter is gone and, past the grace period
// without a daemon, starts letting calls through.
func (h *holder) sweep() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, e := range h.entries {
		pfd := []unix.PollFd{{Fd: int32(e.notify.Fd()), Events: unix.POLLIN}}
		if n, _ := unix.Poll(pfd, 0); n > 0 && pfd[0].Revents&unix.POLLHUP != 0 {
			h.stopPassingLocked(e)
			e.notify.Close()
			unix.Close(e.memFD)
			e.rec.close()
			delete(h.entries, k)
		}
	}
	if h.daemon == nil && !h.gone.IsZero() && time.Since(h.gone) >= h.cfg.Grace {
		started := 0
		for _, e := range h.entries {
			if !e.passing {
				h.startPassingLocked(e)
				started++
			}
		}
		if started > 0 {
			h.log.Warn("seccomp holder: no daemon within the grace period; containers get the host's values", "fds", started)
		}
	}
}

// startPassingLocked lets e's calls through until stopPassingLocked.
func (h *holder) startPassingLocked(e *entry) {
	if e.passing {
		return
	}
	e.passing, e.done = true, make(chan struct{})
	e.notify.SetReadDeadline(time.Time{})
	go func() {
		defer close(e.done)
		fd := int(e.notify.Fd())
		if n, ok := e.rec.pending(); ok {
			// The daemon died answering it.
			_ = pass(fd, n.ID)
			e.rec.end()
		}
		rc, err := e.notify.SyscallConn()
		if err != nil {
			return
		}
		for {
			n, err := next(rc)
			if err != nil {
				return
			}
			_ = pass(fd, n.ID)
		}
	}()
}

// stopPassingLocked stops e's pass-through loop and waits for it.
func (h *holder) stopPassingLocked(e *entry) {
	if !e.passing {
		return
	}
	e.notify.SetReadDeadline(time.Now())
	<-e.done
	e.passing = false
	e.notify.SetReadDeadline(time.Time{})
}

// EnsureHolder starts a holder for stateDir with argv (detached: its own
// session, stdio on HolderLogFile) unless one runs, and waits until its
// listener accepts connections.
func EnsureHolder(stateDir string, argv []string) error {
	if Probe(stateDir) {
		return nil
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(stateDir, HolderLogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devnull.Close()
	p, err := os.StartProcess(argv[0], argv, &os.ProcAttr{
		Files: []*os.File{devnull, logf, logf},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return fmt.Errorf("start seccomp holder: %w", err)
	}
	done := make(chan struct{})
	go func() { p.Wait(); close(done) }() // reaps a holder that lost the lock race
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if Probe(stateDir) {
			return nil
		}
		select {
		case <-done:
			// It exited: it lost the lock to a holder that is just
			// starting, or failed.
			if Probe(stateDir) {
				return nil
			}
			time.Sleep(50 * time.Millisecond)
			if Probe(stateDir) {
				return nil
			}
			return fmt.Errorf("seccomp holder %v exited without listening on %s (see %s)", argv, ListenerPath(stateDir), filepath.Join(stateDir, HolderLogFile))
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fmt.Errorf("seccomp holder %v did not listen on %s within 3s (see %s)", argv, ListenerPath(stateDir), filepath.Join(stateDir, HolderLogFile))
}

// Probe reports whether a holder listens on stateDir's listener socket.
func Probe(stateDir string) bool {
	c, err := net.DialTimeout("unix", ListenerPath(stateDir), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
