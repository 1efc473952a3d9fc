package supervisor

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/lxmount/lxmount/sources"
	"github.com/lxmount/lxmount/vfs"
)

// A spare is a FUSE instance mounted before any container needs it, so the
// attach an OCI hook waits for does not also wait for a mount (fusermount3
// and the FUSE handshake are most of an attach: docs/benchmarks.md). It
// serves every known file through a binding that is empty until a
// container takes it; the container's policy then decides which of its
// files are injected, as with an instance mounted for it. One spare is
// kept; taking it starts mounting the next.
type spare struct {
	server *vfs.Server
	bind   *lateBinding
}

// lateBinding is the container a spare serves, set once when it is taken.
type lateBinding struct {
	src atomic.Pointer[sources.Container]
}

// errUnbound is what a spare's file answers before a container took it;
// nothing outside the daemon's own mount namespace can reach it then.
var errUnbound = errors.New("spare instance not bound to a container")

// container is the container b is bound to, errUnbound before.
func (b *lateBinding) container() (*sources.Container, error) {
	if src := b.src.Load(); src != nil {
		return src, nil
	}
	return nil, errUnbound
}

// sparePool holds at most one ready spare.
type sparePool struct {
	mu      sync.Mutex
	ready   *spare
	filling bool
	closed  bool
	n       int // spares mounted so far, for their directory names
}

// takeSpare returns the ready spare, bound to src, or nil when there is
// none (spares off, or still mounting); either way it starts mounting the
// next one.
func (s *Supervisor) takeSpare(src *sources.Container) *vfs.Server {
	if !s.cfg.Spares {
		return nil
	}
	p := &s.spares
	p.mu.Lock()
	sp := p.ready
	p.ready = nil
	p.mu.Unlock()
	s.fillSpare()
	if sp == nil {
		return nil
	}
	sp.bind.src.Store(src)
	return sp.server
}

// fillSpare mounts a spare in the background unless one is ready or being
// mounted. A failed mount is logged; the next take tries again.
func (s *Supervisor) fillSpare() {
	p := &s.spares
	p.mu.Lock()
	if p.closed || p.ready != nil || p.filling {
		p.mu.Unlock()
		return
	}
	p.filling = true
	p.n++
	dir := filepath.Join(s.cfg.StateDir, "mnt", "spare-"+strconv.Itoa(p.n))
	p.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		sp, err := s.mountSpare(dir)
		p.mu.Lock()
		p.filling = false
		if err == nil && p.closed {
			p.mu.Unlock()
			closeSpare(sp)
			return
		}
		if err == nil {
			p.ready = sp
		}
		p.mu.Unlock()
		if err != nil {
			s.log.Warn("mount a spare FUSE instance", "dir", dir, "error", err)
		}
	}()
}

// mountSpare mounts a spare serving every known file on dir.
func (s *Supervisor) mountSpare(dir string) (*spare, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	b := &lateBinding{}
	files := sources.Files()
	entries := make([]vfs.Entry, len(files))
	for i, f := range files {
		entries[i] = entryFor(f, b.container)
	}
	server, err := vfs.Mount(dir, entries, vfs.Options{Readers: s.cfg.Readers, FusectlDir: s.cfg.FusectlDir, Name: "lxmount"})
	if err != nil {
		os.Remove(dir)
		return nil, err
	}
	return &spare{server: server, bind: b}, nil
}

// readySpares is how many spares are ready (0 or 1).
func (s *Supervisor) readySpares() int {
	p := &s.spares
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ready != nil {
		return 1
	}
	return 0
}

// closeSpares unmounts the ready spare and keeps new ones from being
// mounted (the daemon is stopping).
func (s *Supervisor) closeSpares() {
	p := &s.spares
	p.mu.Lock()
	p.closed = true
	sp := p.ready
	p.ready = nil
	p.mu.Unlock()
	if sp != nil {
		closeSpare(sp)
	}
}

func closeSpare(sp *spare) {
	sp.server.Close()
	os.Remove(sp.server.Dir())
}
