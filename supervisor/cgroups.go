package supervisor

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"

	"github.com/lxmount/lxmount/sources"
)

// Hierarchies are the host's cgroup mountpoints: where each v1 controller's
// hierarchy is mounted, and the cgroup2 mountpoint.
type Hierarchies struct {
	V1      map[string]string // controller ("memory", "cpu", ...) -> mountpoint
	Unified string            // cgroup2 mountpoint, "" when none
}

// ReadHierarchies finds the cgroup mounts of the calling process's mount
// namespace. Co-mounted controllers ("cpu,cpuacct") map each name to the
// same mountpoint.
func ReadHierarchies() (Hierarchies, error) {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	if err != nil {
		return Hierarchies{}, fmt.Errorf("read cgroup mounts: %w", err)
	}
	h := Hierarchies{V1: map[string]string{}}
	for _, m := range mounts {
		if m.FSType == "cgroup2" {
			if h.Unified == "" {
				h.Unified = m.Mountpoint
			}
			continue
		}
		for _, opt := range strings.Split(m.VFSOptions, ",") {
			switch opt {
			case "rw", "ro", "":
				continue
			}
			if strings.HasPrefix(opt, "name=") || strings.Contains(opt, "=") {
				continue
			}
			if _, ok := h.V1[opt]; !ok {
				h.V1[opt] = m.Mountpoint
			}
		}
	}
	return h, nil
}

// Dirs turns a process's cgroup paths (as listed in /proc/<pid>/cgroup) into
// the absolute directories the renderers read.
func (h Hierarchies) Dirs(v1 map[string]string, unified string) sources.Cgroup {
	cg := sources.Cgroup{V1: map[string]string{}}
	for ctrl, path := range v1 {
		if mp, ok := h.V1[ctrl]; ok && path != "" {
			cg.V1[ctrl] = filepath.Join(mp, path)
		}
	}
	if h.Unified != "" && unified != "" {
		cg.V2 = filepath.Join(h.Unified, unified)
	}
	return cg
}
