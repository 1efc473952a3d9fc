package supervisor

import (
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxmount/lxmount/mountns"
	"github.com/lxmount/lxmount/sources"
	"github.com/lxmount/lxmount/supervisor/discovery"
	"github.com/lxmount/lxmount/vfs"
)

// attachment is one attached container: its static binding and the
// resources serving it. Everything but mu's fields and the server's
// counters is set before the attachment is registered and never changes
// after: the state file keeps its encoding (see encoded).
type attachment struct {
	id         string
	c          discovery.Container
	cg         sources.Cgroup
	choice     Choice
	src        *sources.Container
	ns         *mountns.Namespace
	server     *vfs.Server
	pidfd      *os.File // readable when the init process exits
	dev        uint64   // device number of the FUSE instance (its mounts' in mountinfo)
	attachedAt time.Time
	sampleLoad bool
	// rootfs is where the container's root file system was mounted in its
	// namespace when an OCI hook attached it before pivot_root ("" when
	// attached at the namespace's root), and rootID that directory's
	// identity: until the init's root is that directory, the targets
	// are checked beneath rootfs.
	rootfs string
	rootID fileID

	mu        sync.Mutex
	lastErr   string
	health    string    // "healthy", "degraded: ..." or "broken: ..." as of checkedAt
	checkedAt time.Time // last check (health.go)
	// files and targets are what is mounted (short names, paths inside
	// the container), refused the files that are not and why; retry
	// names the refused ones a reconcile tries again (their targets were
	// refused, as opposed to files the container cannot have). Set
	// before the attachment is registered; later replaced, never
	// modified in place, under mu (see served).
	files, targets []string
	refused        map[string]string
	retry          []string
	// gen counts the changes of the lists above, for encoded.
	gen uint64

	// The state file's entry for this container and what it was
	// encoded from; guarded by Supervisor.saveMu.
	enc    []byte
	encDyn infoDynamic
}

// fileID identifies a file: device and inode.
type fileID struct{ dev, ino uint64 }

// statIn returns the identity of path inside namespace ns.
func statIn(ns *mountns.Namespace, path string) (fileID, error) {
	var st unix.Stat_t
	err := ns.Do(func() error { return unix.Stat(path, &st) })
	return fileID{uint64(st.Dev), st.Ino}, err
}

// targetRoot is where the container's targets are now: beneath the
// runtime's rootfs path until the init has pivoted into it, then at the
// namespace's root.
func (a *attachment) targetRoot() string {
	if a.rootfs == "" {
		return "/"
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(a.c.InitPID)+"/root", &st); err == nil && (fileID{uint64(st.Dev), st.Ino}) != a.rootID {
		return a.rootfs
	}
	return "/"
}

// infoDynamic is the part of info that changes after attach.
type infoDynamic struct {
	reads, errors   uint64
	lastErr, health string
	checkedAt       time.Time
	gen             uint64
}

// served returns the mounted files and their targets.
func (a *attachment) served() (files, targets []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.files, a.targets
}

// refusedCopy returns a copy of the refused files and why.
func (a *attachment) refusedCopy() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[string]string, len(a.refused))
	for k, v := range a.refused {
		m[k] = v
	}
	return m
}

// retryable returns the refused files a reconcile tries again.
func (a *attachment) retryable() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.retry
}

// setServed replaces the lists of what is served and refused.
func (a *attachment) setServed(files, targets []string, refused map[string]string, retry []string) {
	a.mu.Lock()
	a.files, a.targets, a.refused, a.retry = files, targets, refused, retry
	a.gen++
	a.mu.Unlock()
}

// setHealth records the outcome of a check of the container's mounts.
func (a *attachment) setHealth(h string) {
	a.mu.Lock()
	a.health, a.checkedAt = h, time.Now()
	a.mu.Unlock()
}

func (a *attachment) setError(msg string) {
	a.mu.Lock()
	a.lastErr = msg
	a.mu.Unlock()
}

// dynamic returns what info reports that changes after attach.
func (a *attachment) dynamic() infoDynamic {
	st := a.server.Stats()
	a.mu.Lock()
	last, health, checked, gen := a.lastErr, a.health, a.checkedAt, a.gen
	a.mu.Unlock()
	select {
	case <-a.server.Done():
		health = "broken: fuse connection ended"
	default:
	}
	if last == "" {
		last = st.LastError
	}
	return infoDynamic{reads: st.Reads, errors: st.Errors, lastErr: last, health: health, checkedAt: checked, gen: gen}
}

// info is the attachment's view in the control API.
func (a *attachment) info() ContainerInfo { return a.infoWith(a.dynamic()) }

// encoded returns the attachment's entry in the state file: info as
// json.MarshalIndent writes it inside Status (see encodeState). It is
// encoded again only when its dynamic part changed. The caller holds
// Supervisor.saveMu.
func (a *attachment) encoded() ([]byte, error) {
	d := a.dynamic()
	if a.enc != nil && d == a.encDyn {
		return a.enc, nil
	}
	b, err := encodeEntry(a.infoWith(d))
	if err != nil {
		return nil, err
	}
	a.enc, a.encDyn = b, d
	return b, nil
}

func (a *attachment) infoWith(d infoDynamic) ContainerInfo {
	dirs := map[string]string{}
	for k, v := range a.cg.V1 {
		dirs[k] = v
	}
	if a.cg.V2 != "" {
		dirs["unified"] = a.cg.V2
	}
	files, targets := a.served()
	return ContainerInfo{
		ID:         a.id,
		Runtime:    a.c.Runtime,
		Name:       a.c.Name,
		InitPID:    a.c.InitPID,
		InitStart:  a.c.InitStart,
		MountNS:    a.c.MountNS,
		Cgroup:     cgroupPath(a.c),
		CgroupDirs: dirs,
		Policy:     a.choice.Policy,
		Files:      files,
		Targets:    targets,
		Refused:    a.refusedCopy(),
		Uptime:     string(a.choice.Options.Uptime),
		AttachedAt: a.attachedAt,
		Reads:      d.reads,
		Errors:     d.errors,
		LastError:  d.lastErr,
		Health:     d.health,
		CheckedAt:  d.checkedAt,
	}
}

// cgroupPath is the path policies match: the memory controller's on v1
// hosts, else the unified one.
func cgroupPath(c discovery.Container) string {
	if p := c.CgroupV1["memory"]; p != "" {
		return p
	}
	return c.CgroupV2
}

func sortAttachments(as []*attachment) {
	sort.Slice(as, func(i, j int) bool {
		if !as[i].attachedAt.Equal(as[j].attachedAt) {
			return as[i].attachedAt.Before(as[j].attachedAt)
		}
		return as[i].id < as[j].id
	})
}
