package supervisor

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/lxmount/lxmount/mountns"
	"github.com/lxmount/lxmount/supervisor/discovery"
)

// self is what identifies the daemon and lxmount processes: a container
// holding either is never attached. Attaching the daemon's own mount
// namespace would have it serve FUSE files to itself over its own /proc,
// and a read of them would wait for the reader that is reading.
type self struct {
	mountNS uint64 // the daemon's (private) mount namespace
	exe     fileID // the lxmount binary the daemon runs
}

// readSelf reads the daemon's identity.
func readSelf() (self, error) {
	ns, err := mountns.Open(os.Getpid())
	if err != nil {
		return self{}, fmt.Errorf("own mount namespace: %w", err)
	}
	defer ns.Close()
	exe, err := exeOf("self")
	if err != nil {
		return self{}, fmt.Errorf("own executable: %w", err)
	}
	return self{mountNS: ns.ID(), exe: exe}, nil
}

// exeOf is the identity of /proc/<pid>/exe.
func exeOf(pid string) (fileID, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+pid+"/exe", &st); err != nil {
		return fileID{}, &os.PathError{Op: "stat", Path: "/proc/" + pid + "/exe", Err: err}
	}
	return fileID{uint64(st.Dev), st.Ino}, nil
}

// refuse says why container c (asked for through pid, 0 if by discovery)
// must never be attached, or returns nil: it is the daemon's own mount
// namespace, or pid or its init runs lxmount (the daemon, a hook, the
// CLI).
func (me self) refuse(c discovery.Container, pid int) error {
	if me.mountNS != 0 && c.MountNS == me.mountNS {
		return fmt.Errorf("%w: mount namespace %d is the daemon's own", ErrSelf, c.MountNS)
	}
	for _, p := range []int{pid, c.InitPID} {
		if p <= 0 {
			continue
		}
		if id, err := exeOf(strconv.Itoa(p)); err == nil && id == me.exe {
			return fmt.Errorf("%w: process %d runs lxmount", ErrSelf, p)
		}
	}
	return nil
}
