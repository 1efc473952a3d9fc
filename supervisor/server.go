package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxmount/lxmount/supervisor/discovery"
)

// Listen opens the control socket at path (mode 0600, parent dirs 0700). A
// stale socket nobody answers on is replaced; a live one is an error, and
// so is anything at path that is not a socket: it is never removed.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	if err := removeStale(path); err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	return &rootOnlyListener{Listener: l, slots: make(chan struct{}, MaxConns), log: slog.Default()}, nil
}

// removeStale removes a socket at path that nobody answers on. Nothing
// there is fine; a live socket, or a file of any other type, is an error.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket (%s); refusing to replace it (remove it, or use --socket)", path, fi.Mode().Type())
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return errors.New("a daemon already answers there (stop it, or use --socket)")
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	return nil
}

// Control server bounds: at most MaxConns connections are open at once
// (more wait in the listen backlog), a request must arrive whole within
// readTimeout, and an idle keep-alive connection is closed after
// idleTimeout; a failed accept (EMFILE: out of descriptors) is retried
// after a pause that doubles up to maxAcceptBackoff, so the loop never
// spins.
const (
	MaxConns         = 64
	readTimeout      = 10 * time.Second
	idleTimeout      = 5 * time.Second
	maxAcceptBackoff = time.Second
)

// rootOnlyListener accepts only peers with uid 0 (SO_PEERCRED); the mode of
// the socket already keeps others out, this holds even if it is changed.
// It holds a slot per open connection (at most MaxConns) and backs off
// when accept fails for want of descriptors.
type rootOnlyListener struct {
	net.Listener
	slots chan struct{}
	log   *slog.Logger
}

func (l *rootOnlyListener) Accept() (net.Conn, error) {
	backoff := 5 * time.Millisecond
	for {
		l.slots <- struct{}{}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.slots
			if !isTransient(err) {
				return nil, err
			}
			if backoff == 5*time.Millisecond {
				l.log.Warn("control socket: accept failed; backing off", "error", err)
			}
			time.Sleep(backoff)
			backoff = min(2*backoff, maxAcceptBackoff)
			continue
		}
		backoff = 5 * time.Millisecond
		if !rootPeer(c) {
			c.Close()
			<-l.slots
			continue
		}
		return &slotConn{Conn: c, release: func() { <-l.slots }}, nil
	}
}

// isTransient reports whether a failed accept may succeed later: out of
// descriptors or memory, or a connection that went away meanwhile.
func isTransient(err error) bool {
	for _, e := range []error{unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM, unix.ECONNABORTED, unix.EINTR, unix.EAGAIN} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// rootPeer reports whether the peer of c has uid 0.
func rootPeer(c net.Conn) bool {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return false
	}
	var cred *unix.Ucred
	var cerr error
	_ = raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	return cerr == nil && cred.Uid == 0
}

// slotConn gives its listener slot back when closed.
type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// shutdownWait is how long Serve waits for answers under way when it
// stops; every call they wait for is bounded (Config.CallTimeout).
const shutdownWait = 2 * time.Second

// Handler is the control API (see api.go).
func (s *Supervisor) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Status())
	})
	mux.HandleFunc("POST /v1/attach", func(w http.ResponseWriter, r *http.Request) {
		var req Attach
		if !readJSON(w, r, &req) {
			return
		}
		if req.PID <= 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("attach: pid %d is not a process id", req.PID))
			return
		}
		info, already, err := s.AttachRequest(req)
		if err != nil {
			writeError(w, statusOf(err), err)
			return
		}
		writeJSON(w, http.StatusOK, AttachResult{Container: info, Already: already})
	})
	mux.HandleFunc("POST /v1/detach", func(w http.ResponseWriter, r *http.Request) {
		var req Detach
		if !readJSON(w, r, &req) {
			return
		}
		id, err := s.Detach(strings.TrimSpace(req.Target))
		if err != nil {
			writeError(w, statusOf(err), err)
			return
		}
		writeJSON(w, http.StatusOK, DetachResult{ID: id})
	})
	mux.HandleFunc("POST /v1/reconcile", func(w http.ResponseWriter, r *http.Request) {
		var req Reconcile
		if !readJSON(w, r, &req) {
			return
		}
		res, err := s.Reconcile(req.DryRun)
		if err != nil {
			writeError(w, statusOf(err), err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	return mux
}

// statusOf maps supervisor errors to HTTP statuses.
func statusOf(err error) int {
	switch {
	case errors.Is(err, discovery.ErrNoProcess), errors.Is(err, ErrNotAttached), errors.Is(err, syscall.ESRCH):
		return http.StatusNotFound
	case errors.Is(err, discovery.ErrNotContainer), errors.Is(err, ErrUnknownPolicy), errors.Is(err, ErrNothingMounted), errors.Is(err, ErrSelf):
		return http.StatusUnprocessableEntity
	case errors.Is(err, ErrQuarantined):
		return http.StatusConflict
	case errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad request body: %w", err))
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, Error{Error: err.Error()})
}

// Serve answers the control API on l until ctx is done. Then it stops the
// supervisor's work first (a reconcile under way ends at its next
// container), and waits at most shutdownWait for answers under way.
func (s *Supervisor) Serve(ctx context.Context, l net.Listener) error {
	if rl, ok := l.(*rootOnlyListener); ok {
		rl.log = s.log
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	go func() {
		<-ctx.Done()
		s.beginStop()
		sctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
	}()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
