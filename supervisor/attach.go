package supervisor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
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
	return s.AttachRequest(Attach{PID: pid, Policy: policy})
}

// AttachRequest attaches what req asks for: the container of req.PID, or,
// with req.OCI, the container an OCI runtime is creating (from its
// createRuntime hook: req.PID is the container's process, its root file
// system still mounted at req.OCI.Rootfs). The runtime's identity (id,
// name, bundle, annotations) then names the container and feeds policy
// matching, as discovery's would.
func (s *Supervisor) AttachRequest(req Attach) (info ContainerInfo, already bool, err error) {
	pid := req.PID
	begin := time.Now()
	resolve := discovery.Resolve
	if req.OCI != nil {
		resolve = discovery.ResolveInit // the runtime names its init
	}
	c, err := resolve(s.disc, pid)
	if errors.Is(err, discovery.ErrNoProcess) {
		return ContainerInfo{}, false, fmt.Errorf("attach %d: process %d does not exist (%w)", pid, pid, discovery.ErrNoProcess)
	}
	if err != nil {
		return ContainerInfo{}, false, fmt.Errorf("attach %d: %w", pid, err)
	}
	root, deadline := "/", time.Time{}
	if req.OCI != nil {
		deadline = req.OCI.Deadline
		defer func() { s.countHook(err, deadline) }()
		if c, err = s.fromRuntime(c, pid, *req.OCI); err != nil {
			return ContainerInfo{}, false, fmt.Errorf("attach %d: %w", pid, err)
		}
		root = req.OCI.Rootfs
	}
	unlock := s.locks.lock(lockKey(c))
	defer unlock()
	locked := time.Now()
	existing, err := s.admit(c, pid)
	if err != nil {
		return ContainerInfo{}, false, fmt.Errorf("attach %d: %w", pid, err)
	}
	if existing != nil {
		return existing.info(), true, nil
	}
	choice, ok, why, err := s.policies().Choose(c, req.Policy)
	if err != nil {
		return ContainerInfo{}, false, fmt.Errorf("attach %d: %w", pid, err)
	}
	if !ok {
		return ContainerInfo{}, false, fmt.Errorf("attach %d: %w (%s); name one with --policy", pid, ErrNoPolicy, why)
	}
	resolved := time.Now()
	a, err := s.attachAt(c, choice, root, deadline)
	if err != nil {
		return ContainerInfo{}, false, fmt.Errorf("attach %d: %w", pid, err)
	}
	mounted := time.Now()
	s.saveState()
	files, _ := a.served()
	s.log.Info("attached", "id", a.id, "init_pid", c.InitPID, "cgroup", cgroupPath(c), "policy", choice.Policy, "files", files, "by", by(req),
		"took", time.Since(begin).Round(time.Microsecond), "waited", locked.Sub(begin).Round(time.Microsecond),
		"resolve", resolved.Sub(locked).Round(time.Microsecond), "mount", mounted.Sub(resolved).Round(time.Microsecond))
	return a.info(), false, nil
}

// admit decides, under the container's lock (lockKey), whether container
// c (asked for through pid; 0 when discovery found it) may be attached
// now. It returns the attachment that already covers it (its mount
// namespace, or another namespace of its cgroup: one binding per
// container cgroup), or an error: the daemon stops, the container is
// lxmount itself (ErrSelf), or a call into its namespace is stuck
// (ErrQuarantined).
func (s *Supervisor) admit(c discovery.Container, pid int) (*attachment, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	if err := s.me.refuse(c, pid); err != nil {
		return nil, err
	}
	if err := s.quarantined(c.MountNS); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.byNS[c.MountNS]; a != nil {
		return a, nil
	}
	if key := cgroupKey(c); key != "" {
		return s.byCgroup[key], nil
	}
	return nil, nil
}

// cgroupKey is the cgroup a binding is unique for: the container's
// cgroup path, "" for the root cgroup (where unrelated processes share
// it). Nested pid and mount namespaces a container makes inside itself
// (unshare -pmf) are found by discovery as containers of their own, in the
// container's cgroup: they share its one binding and instance, so a
// container cannot multiply the daemon's descriptors, threads and mounts.
func cgroupKey(c discovery.Container) string {
	p := cgroupPath(c)
	if p == "" || p == "/" {
		return ""
	}
	return p + "\x00" + c.CgroupV2
}

// lockKey is the key of the lock that serialises the work on c.
func lockKey(c discovery.Container) string {
	if key := cgroupKey(c); key != "" {
		return key
	}
	return "ns:" + strconv.FormatUint(c.MountNS, 10)
}

// countHook counts the outcome of an attach an OCI hook asked for.
func (s *Supervisor) countHook(err error, deadline time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case errors.Is(err, ErrHookDeadline), !deadline.IsZero() && time.Now().After(deadline):
		s.hooks.Late++
	case err != nil:
		s.hooks.Failed++
	default:
		s.hooks.Attached++
	}
}

// by names what asked for an attach, for the log.
func by(req Attach) string {
	if req.OCI != nil {
		return "oci-hook"
	}
	return "request"
}

// fromRuntime completes a resolved container with what its runtime says
// of it: the runtime's process is the container's init (also when it
// shares the host's pid namespace, where discovery would pick the
// oldest process), and the runtime's id, name, bundle and annotations
// win over whatever discovery found (its state files may not be written
// yet while the runtime runs its hooks).
func (s *Supervisor) fromRuntime(c discovery.Container, pid int, oci OCIContainer) (discovery.Container, error) {
	if !filepath.IsAbs(oci.Rootfs) || filepath.Clean(oci.Rootfs) != oci.Rootfs {
		return c, fmt.Errorf("rootfs %q is not a clean absolute path", oci.Rootfs)
	}
	if c.InitPID != pid {
		st, err := discovery.StartTime(s.disc, pid)
		if err != nil {
			return c, err
		}
		c.InitPID, c.InitStart = pid, st
	}
	if c.ID != oci.ID {
		// Discovery found no record of this container (yet): the
		// runtime's word is all there is.
		c.ID, c.Name, c.Runtime = oci.ID, oci.Name, oci.Runtime
	}
	if c.Name == "" {
		c.Name = oci.Name
	}
	if c.Name == "" {
		c.Name = discovery.BundleName(oci.Bundle, oci.ID)
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	if c.Runtime == "" {
		c.Runtime = "oci"
	}
	c.Bundle, c.Annotations = oci.Bundle, oci.Annotations
	return c, nil
}

// attach attaches container c with the files and options of choice, its
// root file system at the root of its mount namespace, under c's lock. A
// container that admit turns away gives its error; one already covered
// (its namespace or its cgroup attached) gives that attachment. On failure
// nothing is left behind. The caller saves the state file (once per
// batch: it is rewritten whole). Safe to call from several goroutines.
func (s *Supervisor) attach(c discovery.Container, choice Choice) (a *attachment, err error) {
	unlock := s.locks.lock(lockKey(c))
	defer unlock()
	if a, err := s.admit(c, 0); a != nil || err != nil {
		return a, err
	}
	err = s.guard(c.ID, "attach", func() error {
		a, err = s.attachAt(c, choice, "/", time.Time{})
		return err
	})
	return a, err
}

// attachAt is attach for a container whose root file system is mounted at
// root inside its mount namespace ("/" once it runs; the runtime's rootfs
// path while a createRuntime hook runs). Four steps: bind the container,
// plan its files, mount its FUSE instance, inject the files; then it is
// registered and watched. A non-zero deadline is the hook's: past it,
// nothing is injected (ErrHookDeadline), as the runtime has moved on.
func (s *Supervisor) attachAt(c discovery.Container, choice Choice, root string, deadline time.Time) (_ *attachment, err error) {
	// The hook's attach (deadline, rootfs) comes before the container's
	// first instruction: "auto" uptime is then the container's.
	choice.Options.Uptime = sources.ResolveUptime(choice.Options.Uptime, !deadline.IsZero() || root != "/", s.wallStart(c.InitStart), time.Now())
	a, err := s.bind(c, choice)
	if err != nil {
		return nil, err
	}
	done := false
	defer func() {
		if !done { // failed, or panicked (see guard)
			s.quarantine(a.ns, err)
			a.release()
		}
	}()
	files := a.plan()
	if len(files) == 0 {
		return nil, ErrNothingMounted
	}
	if err := s.mountInstance(a, files); err != nil {
		return nil, err
	}
	if a.dev, err = deviceOf(a.server.Dir()); err != nil {
		return nil, err
	}
	if !deadline.IsZero() && time.Now().After(deadline) {
		return nil, fmt.Errorf("%w (%s ago)", ErrHookDeadline, time.Since(deadline).Round(time.Millisecond))
	}
	if err := s.inject(a, files, root); err != nil {
		return nil, err
	}
	if a.sampleLoad {
		s.startLoad(a, time.Now())
	}
	a.checkHealth(map[string]string{})
	s.register(a)
	done = true
	return a, nil
}

// deviceOf returns the device number of the file system mounted at dir.
func deviceOf(dir string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return 0, &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	return uint64(st.Dev), nil
}

// bind opens what pins the container (its mount namespace, a pidfd on its
// init) and builds its static binding to its cgroups. It fails if the
// init is not the process c names any more.
func (s *Supervisor) bind(c discovery.Container, choice Choice) (_ *attachment, err error) {
	ns, err := mountns.Open(c.InitPID)
	if err != nil {
		return nil, err
	}
	ns.SetTimeout(s.cfg.CallTimeout)
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
	if st, err := discovery.StartTime(s.disc, c.InitPID); err != nil || st != c.InitStart {
		pidfd.Close()
		return nil, fmt.Errorf("init process %d exited while attaching", c.InitPID)
	}
	cg := s.hier.Dirs(c.CgroupV1, c.CgroupV2)
	return &attachment{
		id:         s.newID(c),
		c:          c,
		cg:         cg,
		choice:     choice,
		src:        sources.NewContainer(s.cfg.Host, cg, s.wallStart(c.InitStart), choice.Options),
		ns:         ns,
		pidfd:      pidfd,
		refused:    map[string]string{},
		attachedAt: time.Now(),
	}, nil
}

// plan returns the files of the choice that this container can be
// served, and notes the others in refused.
func (a *attachment) plan() []sources.File {
	var files []sources.File
	for _, name := range a.choice.Files {
		f, ok := sources.Lookup(name)
		switch {
		case !ok:
			a.refused[name] = "unknown file"
		case !f.Available(a.src):
			a.refused[name] = "not available for this container"
		default:
			files = append(files, f)
		}
	}
	return sources.Prune(files)
}

// mountInstance gives the container its own FUSE instance in the daemon's
// namespace: the ready spare (spare.go), else one mounted now serving
// files under <state-dir>/mnt/<id>.
func (s *Supervisor) mountInstance(a *attachment, files []sources.File) error {
	if server := s.takeSpare(a.src); server != nil {
		a.server = server
		return nil
	}
	entries := make([]vfs.Entry, len(files))
	for i, f := range files {
		entries[i] = entryFor(f, boundTo(a.src))
	}
	dir := filepath.Join(s.cfg.StateDir, "mnt", a.id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create mountpoint: %w", err)
	}
	server, err := vfs.Mount(dir, entries, vfs.Options{Readers: s.cfg.Readers, FusectlDir: s.cfg.FusectlDir, Name: "lxmount-" + a.id})
	if err != nil {
		os.Remove(dir)
		return err
	}
	a.server = server
	return nil
}

// inject mounts a clone of each file over its target inside the container,
// beneath root, first taking off dead lxmount mounts a crashed daemon left
// there. A refused target is noted (and retried by reconcile) and the
// others still mounted; it fails only when none was.
func (s *Supervisor) inject(a *attachment, files []sources.File, root string) error {
	if root == "/" {
		if err := s.removeDead(a, files); err != nil {
			return err
		}
	}
	mounted, refused := s.injectFiles(a, files, root)
	var names, targets, retry []string
	all := a.refusedCopy()
	for _, f := range mounted {
		names = append(names, f.Name)
		targets = append(targets, f.Target)
		if f.Name == "loadavg" && a.choice.Loadavg {
			a.sampleLoad = true
		}
	}
	for name, why := range refused {
		all[name] = why
		retry = append(retry, name)
	}
	sort.Strings(retry)
	a.setServed(names, targets, all, retry)
	if len(names) == 0 {
		return fmt.Errorf("%w: %s", ErrNothingMounted, joinRefused(all, nil))
	}
	if root != "/" {
		a.rootfs = root
		a.rootID, _ = statIn(a.ns, root)
	}
	return nil
}

// injectFiles mounts clones of the files of a's instance on their targets
// beneath root, in one call into the container's namespace, and returns
// the files mounted and those refused, with why.
func (s *Supervisor) injectFiles(a *attachment, files []sources.File, root string) (mounted []sources.File, refused map[string]string) {
	refused = map[string]string{}
	injs := make([]mountns.Injection, 0, len(files))
	for _, f := range files {
		tree, err := mountns.CloneTree(a.server.Path(f.Name))
		if err != nil {
			closeTrees(injs)
			for _, f := range files {
				refused[f.Name] = err.Error()
			}
			return nil, refused
		}
		injs = append(injs, mountns.Injection{Tree: tree, Target: f.Target})
	}
	results := a.ns.InjectUnder(root, injs)
	closeTrees(injs)
	for i, f := range files {
		if results[i] != nil {
			refused[f.Name] = results[i].Error()
			continue
		}
		mounted = append(mounted, f)
	}
	return mounted, refused
}

// retryRefused injects again the files whose targets were refused, and
// reports how many are still refused.
func (s *Supervisor) retryRefused(a *attachment) int {
	names := a.retryable()
	var files []sources.File
	for _, n := range names {
		if f, ok := sources.Lookup(n); ok {
			files = append(files, f)
		}
	}
	if len(files) == 0 || a.targetRoot() != "/" {
		return len(names)
	}
	mounted, refused := s.injectFiles(a, files, "/")
	s.quarantine(a.ns, nil)
	oldFiles, oldTargets := a.served()
	all := a.refusedCopy()
	newFiles := append([]string(nil), oldFiles...)
	newTargets := append([]string(nil), oldTargets...)
	for _, f := range mounted {
		newFiles = append(newFiles, f.Name)
		newTargets = append(newTargets, f.Target)
		delete(all, f.Name)
		if f.Name == "loadavg" && a.choice.Loadavg {
			s.log.Info("loadavg mounted on retry: its averages start now", "id", a.id)
		}
	}
	var retry []string
	for name, why := range refused {
		all[name] = why
		retry = append(retry, name)
	}
	sort.Strings(retry)
	a.setServed(newFiles, newTargets, all, retry)
	if len(mounted) > 0 {
		s.log.Info("mounted refused files on retry", "id", a.id, "files", len(mounted), "still_refused", retry)
	}
	return len(retry)
}

// removeDead takes dead lxmount mounts (ENOTCONN, left by a crashed daemon)
// off the targets, so the fresh instance goes on the real file. A live
// FUSE mount (another instance) is left alone: Inject refuses it. It
// fails only when the check was given up (mountns.ErrTimeout): the
// container's namespace makes calls wait.
func (s *Supervisor) removeDead(a *attachment, files []sources.File) error {
	targets := make([]string, len(files))
	for i, f := range files {
		targets[i] = f.Target
	}
	states, err := a.ns.Probe(targets, mountns.FUSEMagic)
	if errors.Is(err, mountns.ErrTimeout) {
		return fmt.Errorf("check targets: %w", err)
	}
	if err != nil {
		return nil
	}
	var dead []string
	for _, t := range targets {
		if states[t] == mountns.StateBroken {
			dead = append(dead, t)
		}
	}
	if len(dead) == 0 {
		return nil
	}
	if err := a.ns.Unmount(dead, mountns.FUSEMagic); err != nil {
		s.log.Warn("unmount dead mounts", "init_pid", a.c.InitPID, "targets", dead, "error", err)
	} else {
		s.log.Info("removed dead mounts", "init_pid", a.c.InitPID, "targets", dead)
	}
	return nil
}

// register makes an attached container known and starts watching it.
func (s *Supervisor) register(a *attachment) {
	s.mu.Lock()
	s.byID[a.id] = a
	s.byNS[a.c.MountNS] = a
	if key := cgroupKey(a.c); key != "" {
		s.byCgroup[key] = a
	}
	s.mu.Unlock()
	s.wg.Add(1)
	go s.watch(a)
}

// unregister forgets a registered container; false if it was not (any
// more): detach and forget are then no-ops.
func (s *Supervisor) unregister(a *attachment) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID[a.id] != a {
		return false
	}
	delete(s.byID, a.id)
	delete(s.byNS, a.c.MountNS)
	if key := cgroupKey(a.c); key != "" && s.byCgroup[key] == a {
		delete(s.byCgroup, key)
	}
	return true
}

// reinsert puts back an attachment unregister took out, whose watcher
// still runs.
func (s *Supervisor) reinsert(a *attachment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byID[a.id] = a
	s.byNS[a.c.MountNS] = a
	if key := cgroupKey(a.c); key != "" {
		s.byCgroup[key] = a
	}
}

// registered reports whether a is still the registered attachment.
func (s *Supervisor) registered(a *attachment) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byID[a.id] == a
}

// release closes what an attachment holds in the daemon: its namespace
// handle, its pidfd (which wakes the watcher), its FUSE instance, the
// cgroup files it keeps open and its mountpoint.
func (a *attachment) release() error {
	a.ns.Close()
	a.pidfd.Close()
	var err error
	if a.server != nil {
		err = a.server.Close()
		os.Remove(a.server.Dir())
	}
	a.src.Close()
	return err
}

// bindRender binds a virtual file's renderer to one container.
func bindRender(src *sources.Container, f sources.File) func(*bytes.Buffer) error {
	return func(b *bytes.Buffer) error { return src.Render(f, b) }
}

// joinRefused lists refused files and why, those named in only (nil:
// all), sorted by name.
func joinRefused(m map[string]string, only []string) string {
	if only == nil {
		only = sortedKeys(m)
	}
	parts := make([]string, 0, len(only))
	for _, name := range only {
		parts = append(parts, name+": "+m[name])
	}
	return strings.Join(parts, "; ")
}

// Detach detaches the container named by target: a PID of it or its id.
func (s *Supervisor) Detach(target string) (string, error) {
	a, err := s.find(target)
	if err != nil {
		return "", err
	}
	unlock := s.locks.lock(lockKey(a.c))
	defer unlock()
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
// Mounts it could not take off (beneath a mount the container stacked over
// a target; a call given up) are in the error, and logged. The caller
// holds the container's lock.
func (s *Supervisor) detach(a *attachment, reason string) error {
	if !s.unregister(a) {
		return nil
	}
	var errs []error
	_, targets := a.served()
	if err := a.ns.Unmount(targets, mountns.FUSEMagic); err != nil && !errors.Is(err, os.ErrClosed) {
		s.quarantine(a.ns, err)
		errs = append(errs, err)
	}
	if err := a.release(); err != nil {
		errs = append(errs, err)
	}
	s.saveState()
	err := errors.Join(errs...)
	if err != nil {
		s.log.Warn("detached, leaving mounts behind", "id", a.id, "reason", reason, "error", err)
	} else {
		s.log.Info("detached", "id", a.id, "reason", reason)
	}
	return err
}

// forget drops a container whose init exited: its mount namespace is gone
// (or going), so only the daemon's side is cleaned up.
func (s *Supervisor) forget(a *attachment, reason string) {
	if !s.unregister(a) {
		return
	}
	if err := a.release(); err != nil {
		s.log.Warn("close fuse instance", "id", a.id, "error", err)
	}
	s.saveState()
	s.log.Info("forgot container", "id", a.id, "reason", reason)
}

// watch waits for the container's init to exit, and forgets it then. When
// the FUSE connection ends first (the kernel ended it, or a reader failed:
// running out of descriptors is transient) the container is not forgotten:
// it is marked broken and given a fresh instance at once, and if that
// fails, by the next reconcile.
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
		return
	case <-a.server.Done():
	}
	if s.registered(a) && !s.isClosed() {
		a.checkHealth(nil)
		s.log.Warn("fuse connection ended; mounting a fresh instance", "id", a.id)
		_ = s.guard(a.id, "replace instance", func() error {
			unlock := s.locks.lock(lockKey(a.c))
			defer unlock()
			if !s.registered(a) {
				return nil
			}
			err := s.replace(a)
			if err != nil {
				s.log.Warn("replace instance; reconcile retries", "id", a.id, "error", err)
			}
			return err
		})
	}
	<-exited // after release (detach, replace) too: it closes the pidfd
	s.forget(a, "container init exited")
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
