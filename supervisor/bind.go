package supervisor

import (
	"fmt"
	"os"
	"time"

	"github.com/lxmount/lxmount/sources"
	"github.com/lxmount/lxmount/supervisor/discovery"
)

// BindPID builds the renderers' binding for the container of pid, the same
// way attach does, without mounting anything (for `lxmount render`).
func BindPID(host sources.Host, pid int, opts sources.Options) (*sources.Container, error) {
	c, err := discovery.Resolve(discovery.Options{ProcRoot: host.ProcRoot}, pid)
	if err != nil {
		return nil, fmt.Errorf("render for %d: %w", pid, err)
	}
	hier, err := ReadHierarchies()
	if err != nil {
		return nil, err
	}
	return sources.NewContainer(host, hier.Dirs(c.CgroupV1, c.CgroupV2), wallStart(c.InitStart), opts), nil
}

// BindCgroup builds a binding for a cgroup path (the same path in every v1
// hierarchy and the unified one). Its uptime is the host's: no init
// process is known.
func BindCgroup(host sources.Host, path string, opts sources.Options) (*sources.Container, error) {
	hier, err := ReadHierarchies()
	if err != nil {
		return nil, err
	}
	v1 := map[string]string{}
	for ctrl := range hier.V1 {
		v1[ctrl] = path
	}
	cg := hier.Dirs(v1, path)
	found := false
	for ctrl, dir := range cg.V1 {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			found = true
		} else {
			delete(cg.V1, ctrl)
		}
	}
	if st, err := os.Stat(cg.V2); err == nil && st.IsDir() {
		found = true
	} else {
		cg.V2 = ""
	}
	if !found {
		return nil, fmt.Errorf("cgroup %s: no such cgroup in any hierarchy (give the path as /proc/<pid>/cgroup shows it)", path)
	}
	return sources.NewContainer(host, cg, time.Time{}, opts), nil
}
