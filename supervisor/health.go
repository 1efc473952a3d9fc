package supervisor

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/lxmount/lxmount/mountns"
)

// Health is checked, not assumed: what a container is served can change
// under the daemon (its root unmounts or covers the files, its cgroup is
// removed, its FUSE connection ends), and status must say so. The check
// reads the init's /proc/<pid>/mountinfo and stats the cgroup directories:
// it touches no file system of the container, so no container can make it
// wait, and costs one small file read. Status re-checks a container whose
// last check is older than healthTTL; every reconcile checks all of them.
//
// Health is "healthy"; "degraded: ..." when files are served but some were
// refused for a reason reconcile retries (a target somebody else mounted
// on, say); or "broken: ..." when what the container reads is not what
// lxmount serves for its cgroup.
const healthTTL = time.Second

// unserved returns the targets whose top mount inside the container is
// not this attachment's FUSE instance, each with why. Before the init has
// pivoted into a rootfs an OCI hook named, nothing can be told yet.
func (a *attachment) unserved() map[string]string {
	_, targets := a.served()
	out := map[string]string{}
	select {
	case <-a.server.Done():
		for _, t := range targets {
			out[t] = "fuse connection ended"
		}
		return out
	default:
	}
	if a.targetRoot() != "/" {
		return out
	}
	set := make(map[string]bool, len(targets))
	for _, t := range targets {
		set[t] = true
	}
	ms, err := mountns.Mounts(a.c.InitPID, func(m *mountinfo.Info) (skip, stop bool) { return !set[m.Mountpoint], false })
	if err != nil {
		if !errors.Is(err, mountns.ErrNoProcess) {
			for _, t := range targets {
				out[t] = err.Error()
			}
		}
		return out // an exited init is the exit watcher's
	}
	top := mountns.TopMounts(ms)
	for _, t := range targets {
		m := top[t]
		switch {
		case m == nil:
			out[t] = "not mounted (unmounted inside the container)"
		case uint64(unix.Mkdev(uint32(m.Major), uint32(m.Minor))) != a.dev:
			out[t] = fmt.Sprintf("covered by %s (%s)", m.FSType, m.Source)
		}
	}
	return out
}

// goneCgroups returns the cgroup directories of the binding that no
// longer exist: the renderers can then read nothing of the container.
func (a *attachment) goneCgroups() []string {
	var gone []string
	for _, dir := range a.cgroupDirs() {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			gone = append(gone, dir)
		}
	}
	sort.Strings(gone)
	return gone
}

// cgroupDirs lists the binding's cgroup directories, v1 and v2.
func (a *attachment) cgroupDirs() []string {
	dirs := make([]string, 0, len(a.cg.V1)+1)
	seen := map[string]bool{}
	for _, d := range a.cg.V1 {
		if !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	if a.cg.V2 != "" {
		dirs = append(dirs, a.cg.V2)
	}
	return dirs
}

// checkHealth looks at what the container is served and records it.
// unserved is a.unserved(), given when the caller has it already.
func (a *attachment) checkHealth(unserved map[string]string) string {
	if unserved == nil {
		unserved = a.unserved()
	}
	var broken []string
	for _, dir := range a.goneCgroups() {
		broken = append(broken, "cgroup "+dir+" removed")
	}
	for _, t := range sortedKeys(unserved) {
		broken = append(broken, t+": "+unserved[t])
	}
	h := "healthy"
	switch {
	case len(broken) > 0:
		h = "broken: " + strings.Join(broken, "; ")
	case len(a.retryable()) > 0:
		h = "degraded: refused, retried by reconcile: " + joinRefused(a.refusedCopy(), a.retryable())
	}
	a.setHealth(h)
	return h
}

// refreshHealth re-checks the container if its last check is older than
// healthTTL.
func (a *attachment) refreshHealth() {
	a.mu.Lock()
	stale := time.Since(a.checkedAt) > healthTTL
	a.mu.Unlock()
	if stale {
		a.checkHealth(nil)
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
