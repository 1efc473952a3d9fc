package supervisor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxmount/lxmount/mountns"
	"github.com/lxmount/lxmount/sources"
	"github.com/lxmount/lxmount/supervisor/discovery"
	"github.com/lxmount/lxmount/vfs"
)

// Attach attaches the container that pid belongs to (any process of it).
// Attaching an attached container changes nothing and reports already.
// policy names a policy to use instead of letting the policies decide.
func (s *Supervisor) Attach(pid int, policy string) (info ContainerInfo, already bool, err error) {
	s.attachMu.Lock()
	defer s.attachMu.Unlock()
	c, err := discovery.Resolve(s.disc, pid)
	if errors.Is(err, discovery.ErrNoProcess) {
		return ContainerInfo{}, false, fmt.Errorf("attach %d: process %d does not exist (%w)", pid, pid, discovery.ErrNoProcess)
	}
	if err != nil {
		return ContainerInfo{}, false, fmt.Errorf("attach %d: %w", pid, err)
	}
	s.mu.Lock()
	closed := s.closed
	existing := s.byNS[c.MountNS]
	s.mu.Unlock()
	if closed {
		return ContainerInfo{}, false, ErrClosed
	}
	if existing != nil {
		return existing.info(), true, nil
	}
	choice, ok, why, err := s.policies().Choose(c, policy)
	if err != nil {
		return ContainerInfo{}, false, fmt.Errorf("attach %d: %w", pid, err)
	}
	if !ok {
		return ContainerInfo{}, false, fmt.Errorf("attach %d: no policy matches this container (%s); name one with --policy", pid, why)
	}
	a, err := s.attach(c, choice)
	if err != nil {
		return ContainerInfo{}, false, fmt.Errorf("attach %d: %w", pid, err)
	}
	s.saveState()
	s.log.Info("attached", "id", a.id, "init_pid", c.InitPID, "cgroup", cgroupPath(c), "policy", choice.Policy, "files", a.files)
	return a.info(), false, nil
}

// attach builds the binding, mounts the FUSE instance and injects its files.
// On failure nothing is left behind. The caller saves the state file (once
// per batch: it is rewritten whole). Safe to call from several goroutines.
func (s *Supervisor) attach(c discovery.Container, choice Choice) (_ *attachment, err error) {
	ns, err := mountns.Open(c.InitPID)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			ns.Close()
		}
	}()
	if ns.ID() != c.MountNS {
		return nil, fmt.Errorf("init process %d changed its mount namespace while attaching; retry", c.InitPID)
	}
	// Open the pidfd before checking the start time: from then on the
	// pidfd pins this very process, whatever happens to the PID number.
	pidfd, err := openPidfd(c.InitPID)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			pidfd.Close()
		}
	}()
	if st, err := discovery.StartTime(s.disc, c.InitPID); err != nil || st != c.InitStart {
		return nil, fmt.Errorf("init process %d exited while attaching", c.InitPID)
	}

	cg := s.hier.Dirs(c.CgroupV1, c.CgroupV2)
	src := sources.NewContainer(s.cfg.Host, cg, s.wallStart(c.InitStart), choice.Options)
	a := &attachment{
		id:         s.newID(c),
		c:          c,
		cg:         cg,
		choice:     choice,
		src:        src,
		ns:         ns,
		pidfd:      pidfd,
		refused:    map[string]string{},
		attachedAt: time.Now(),
	}

	var entries []vfs.Entry
	var files []sources.File
	for _, name := range choice.Files {
		f, ok := sources.Lookup(name)
		if !ok {
			a.refused[name] = "unknown file"
			continue
		}
		if !f.Available(src) {
			a.refused[name] = "not available for this container"
			continue
		}
		files = append(files, f)
		entries = append(entries, vfs.Entry{Name: f.Name, Render: bindRender(src, f)})
	}
	if len(entries) == 0 {
		return nil, ErrNothingMounted
	}

	dir := filepath.Join(s.cfg.StateDir, "mnt", a.id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create mountpoint: %w", err)
	}
	server, err := vfs.Mount(dir, entries, vfs.Options{Readers: s.cfg.Readers, FusectlDir: s.cfg.FusectlDir, Name: "lxmount-" + a.id})
	if err != nil {
		os.Remove(dir)
		return nil, err
	}
	a.server = server
	defer func() {
		if err != nil {
			server.Close()
			os.Remove(dir)
		}
	}()

	injs := make([]mountns.Injection, 0, len(files))
	for _, f := range files {
		tree, err := mountns.CloneTree(server.Path(f.Name))
		if err != nil {
			for _, inj := range injs {
				inj.Tree.Close()
			}
			return nil, err
		}
		injs = append(injs, mountns.Injection{Tree: tree, Target: f.Target})
	}
	// Heal first: a dead lxmount mount left by a crashed daemon answers
	// ENOTCONN; take it off so the fresh instance goes on the real file.
	// A live FUSE mount (another instance) is left alone: Inject refuses it.
	targets := make([]string, len(files))
	for i, f := range files {
		targets[i] = f.Target
	}
	if states, err := ns.Probe(targets, mountns.FUSEMagic); err == nil {
		var dead []string
		for _, t := range targets {
			if states[t] == mountns.StateBroken {
				dead = append(dead, t)
			}
		}
		if len(dead) > 0 {
			if err := ns.Unmount(dead, mountns.FUSEMagic); err != nil {
				s.log.Warn("unmount dead mounts", "init_pid", c.InitPID, "targets", dead, "error", err)
			} else {
				s.log.Info("removed dead mounts", "init_pid", c.InitPID, "targets", dead)
			}
		}
	}
	results := ns.Inject(injs)
	for i, inj := range injs {
		inj.Tree.Close()
		if results[i] != nil {
			a.refused[files[i].Name] = results[i].Error()
			continue
		}
		a.files = append(a.files, files[i].Name)
		a.targets = append(a.targets, inj.Target)
		if files[i].Name == "loadavg" && choice.Loadavg {
			a.sampleLoad = true
		}
	}
	if len(a.files) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNothingMounted, joinRefused(a.refused))
	}
	if a.sampleLoad {
		_ = src.SampleLoad(time.Now())
	}
	a.setHealth("healthy")

	s.mu.Lock()
	s.byID[a.id] = a
	s.byNS[c.MountNS] = a
	s.mu.Unlock()
	s.wg.Add(1)
	go s.watch(a)
	return a, nil
}

// bindRender binds a virtual file's renderer to one container.
func bindRender(src *sources.Container, f sources.File) func(*bytes.Buffer) error {
	return func(b *bytes.Buffer) error { return src.Render(f, b) }
}

func joinRefused(m map[string]string) string {
	var parts []string
	for name, why := range m {
		parts = append(parts, name+": "+why)
	}
	return strings.Join(parts, "; ")
}

// Detach detaches the container named by target: a PID of it or its id.
func (s *Supervisor) Detach(target string) (string, error) {
	s.attachMu.Lock()
	defer s.attachMu.Unlock()
	a, err := s.find(target)
	if err != nil {
		return "", err
	}
	if err := s.detach(a, "detached on request"); err != nil {
		return a.id, err
	}
	return a.id, nil
}

// find resolves a detach target.
func (s *Supervisor) find(target string) (*attachment, error) {
	s.mu.Lock()
	a := s.byID[target]
	s.mu.Unlock()
	if a != nil {
		return a, nil
	}
	if pid, err := strconv.Atoi(target); err == nil && pid > 0 {
		ns, err := mountns.Open(pid)
		if err != nil {
			return nil, fmt.Errorf("detach %d: %w", pid, err)
		}
		id := ns.ID()
		ns.Close()
		s.mu.Lock()
		a = s.byNS[id]
		s.mu.Unlock()
		if a != nil {
			return a, nil
		}
		return nil, fmt.Errorf("detach %d: the container of process %d is %w (see lxmount status)", pid, pid, ErrNotAttached)
	}
	return nil, fmt.Errorf("detach %q: no attached container has this id: %w (see lxmount status)", target, ErrNotAttached)
}

// detach unmounts the files inside the container (if it still exists),
// closes the FUSE instance and forgets the container. Safe to call twice.
func (s *Supervisor) detach(a *attachment, reason string) error {
	s.mu.Lock()
	if s.byID[a.id] != a {
		s.mu.Unlock()
		return nil
	}
	delete(s.byID, a.id)
	delete(s.byNS, a.c.MountNS)
	s.mu.Unlock()

	var errs []error
	if err := a.ns.Unmount(a.targets, mountns.FUSEMagic); err != nil && !errors.Is(err, os.ErrClosed) {
		errs = append(errs, err)
	}
	a.ns.Close()
	a.pidfd.Close() // wakes the watcher
	if err := a.server.Close(); err != nil {
		errs = append(errs, err)
	}
	a.src.Close() // the cgroup files it keeps open
	os.Remove(a.server.Dir())
	s.saveState()
	err := errors.Join(errs...)
	s.log.Info("detached", "id", a.id, "reason", reason, "error", err)
	return err
}

// forget drops a container whose init exited: its mount namespace is gone
// (or going), so only the daemon's side is cleaned up.
func (s *Supervisor) forget(a *attachment, reason string) {
	s.mu.Lock()
	if s.byID[a.id] != a {
		s.mu.Unlock()
		return
	}
	delete(s.byID, a.id)
	delete(s.byNS, a.c.MountNS)
	s.mu.Unlock()
	a.ns.Close()
	a.pidfd.Close()
	if err := a.server.Close(); err != nil {
		s.log.Warn("close fuse instance", "id", a.id, "error", err)
	}
	a.src.Close()
	os.Remove(a.server.Dir())
	s.saveState()
	s.log.Info("forgot container", "id", a.id, "reason", reason)
}

// watch waits for the container's init to exit, or for its FUSE
// connection to end, and forgets it then.
func (s *Supervisor) watch(a *attachment) {
	defer s.wg.Done()
	exited := make(chan struct{})
	go func() {
		waitPidfd(a.pidfd)
		close(exited)
	}()
	select {
	case <-exited:
		s.forget(a, "container init exited")
	case <-a.server.Done():
		s.forget(a, "fuse connection ended")
		<-exited
	}
}

var idUnsafe = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// newID names a container: its runtime id when known, else the last element
// of its cgroup path without the usual runtime decorations, short; a clash
// or nothing usable falls back to the mount namespace inode.
func (s *Supervisor) newID(c discovery.Container) string {
	id := c.ID
	if id == "" {
		base := path.Base(cgroupPath(c))
		for _, p := range []string{"docker-", "cri-containerd-", "crio-", "libpod-"} {
			base = strings.TrimPrefix(base, p)
		}
		id = strings.TrimSuffix(base, ".scope")
	}
	id = idUnsafe.ReplaceAllString(id, "")
	if len(id) > 12 && isHex(id) {
		id = id[:12]
	}
	s.mu.Lock()
	_, clash := s.byID[id]
	s.mu.Unlock()
	if id == "" || id == "." || id == "/" || clash {
		id = "ns-" + strconv.FormatUint(c.MountNS, 10)
	}
	return id
}

func isHex(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

// openPidfd opens a non-blocking pidfd, pollable by the Go runtime.
func openPidfd(pid int) (*os.File, error) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil, fmt.Errorf("process %d is gone: %w", pid, discovery.ErrNoProcess)
		}
		return nil, os.NewSyscallError("pidfd_open", err)
	}
	return os.NewFile(uintptr(fd), "pidfd:"+strconv.Itoa(pid)), nil
}

// waitPidfd parks the goroutine in the runtime's poller until the process
// exits or the pidfd is closed.
func waitPidfd(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	// The callback checks the level (a zero-timeout poll) before each
	// wait, so an exit that happened before the poller saw the fd is not
	// missed.
	_ = rc.Read(func(fd uintptr) bool {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, 0)
		return err != nil && !errors.Is(err, unix.EINTR) || n > 0
	})
}
