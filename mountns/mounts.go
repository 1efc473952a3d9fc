package mountns

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Mounts returns the mounts of pid's mount namespace as the process sees
// them, parsed from /proc/<pid>/mountinfo with
// mountinfo.GetMountsFromReader; filter may be nil. Reading mountinfo never
// touches the mounted file systems, so it is safe on hung FUSE mounts. A
// gone process gives an error wrapping ErrNoProcess.
func Mounts(pid int, filter mountinfo.FilterFunc) ([]*mountinfo.Info, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/mountinfo"
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
			return nil, fmt.Errorf("mounts of pid %d: %w (%w)", pid, ErrNoProcess, err)
		}
		return nil, fmt.Errorf("mounts of pid %d: %w", pid, err)
	}
	defer f.Close()
	infos, err := mountinfo.GetMountsFromReader(f, filter)
	if err != nil {
		return nil, fmt.Errorf("mounts of pid %d: %s: %w", pid, path, err)
	}
	return infos, nil
}

// ManagedFilter selects the mounts lxmount manages: a FUSE file system
// (type "fuse" or "fuse.<subtype>") mounted on one of targets.
func ManagedFilter(targets []string) mountinfo.FilterFunc {
	set := make(map[string]bool, len(targets))
	for _, t := range targets {
		set[t] = true
	}
	return func(m *mountinfo.Info) (skip, stop bool) {
		fuse := m.FSType == "fuse" || strings.HasPrefix(m.FSType, "fuse.")
		return !(fuse && set[m.Mountpoint]), false
	}
}

// TopMounts returns, for each mountpoint of ms (mountinfo entries of one
// namespace), the mount on top of the mounts stacked there: the one that
// no other of them is mounted on. That is the mount a path lookup of the
// mountpoint reaches.
func TopMounts(ms []*mountinfo.Info) map[string]*mountinfo.Info {
	byPoint := map[string][]*mountinfo.Info{}
	for _, m := range ms {
		byPoint[m.Mountpoint] = append(byPoint[m.Mountpoint], m)
	}
	top := make(map[string]*mountinfo.Info, len(byPoint))
	for p, stack := range byPoint {
		top[p] = topMount(stack)
	}
	return top
}
