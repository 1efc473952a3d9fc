package mountns

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
)

// A /proc/<pid>/mountinfo line (proc_pid_mountinfo(5)):
//
//	1020 1000 0:52 /proc/meminfo /proc/meminfo rw,relatime - fuse.lxmount lxmount rw,user_id=0
//	(1)  (2)  (3)  (4)           (5)           (6)        (7)(8)         (9)     (10)
//
// (1) mount ID (2) parent ID (3) st_dev (4) root within the source file
// system (5) mount point (6) per-mount options (7) end of the optional
// fields (8) file system type, "fuse.<subtype>" for FUSE with a subtype
// (9) source (10) per-superblock options.
const managedFixture = `1000 1 0:40 / / rw,relatime - overlay overlay rw
1001 1000 0:41 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
1020 1001 0:52 /proc/meminfo /proc/meminfo rw,nosuid,nodev,relatime - fuse.lxmount lxmount rw,user_id=0,group_id=0,allow_other
1021 1001 0:52 /proc/cpuinfo /proc/cpuinfo rw,nosuid,nodev,relatime - fuse lxmount rw,user_id=0,group_id=0
1022 1001 0:53 / /proc/stat rw,relatime - tmpfs tmpfs rw
1023 1001 0:54 / /proc/uptime rw,relatime - fusectl fusectl rw
1024 1001 0:55 / /proc/loadavg rw,relatime - fuseblk /dev/sdb1 rw
1025 1000 0:52 /proc/swaps /srv/proc/swaps rw,relatime - fuse.lxmount lxmount rw
1026 1001 0:52 /proc/swaps /proc/swaps rw,relatime shared:5 - fuse.lxmount lxmount rw
`

func TestManagedFilter(t *testing.T) {
	targets := []string{"/proc/meminfo", "/proc/cpuinfo", "/proc/stat", "/proc/uptime", "/proc/loadavg", "/proc/swaps"}
	infos, err := mountinfo.GetMountsFromReader(strings.NewReader(managedFixture), ManagedFilter(targets))
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]bool{}
	for _, m := range infos {
		got[m.ID] = true
	}
	for _, tc := range []struct {
		name string
		id   int
		want bool
	}{
		{"fuse with subtype on a target", 1020, true},
		{"fuse without subtype on a target", 1021, true},
		{"shared fuse mount on a target", 1026, true},
		{"tmpfs on a target is not ours", 1022, false},
		{"fusectl is not a FUSE mount", 1023, false},
		{"fuseblk is a block FUSE fs, not ours", 1024, false},
		{"fuse on a path that is not a target", 1025, false},
		{"procfs itself", 1001, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got[tc.id] != tc.want {
				t.Errorf("mount %d selected = %v, want %v", tc.id, got[tc.id], tc.want)
			}
		})
	}
}

func TestMounts(t *testing.T) {
	c := startContainer(t)
	if errs := c.ns.Inject([]Injection{{Tree: sourceTree(t, "meminfo", fakeMeminfo), Target: "/proc/meminfo"}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	c.mountDeadFUSE(t, "/proc/uptime")

	t.Run("injected mount shows in the container's table", func(t *testing.T) {
		infos, err := Mounts(c.pid, mountinfo.SingleEntryFilter("/proc/meminfo"))
		if err != nil {
			t.Fatal(err)
		}
		if len(infos) != 1 || infos[0].FSType != "tmpfs" || infos[0].Root != "/meminfo" {
			t.Errorf("Mounts = %+v, want one tmpfs mount of /meminfo", infos)
		}
	})
	t.Run("ManagedFilter picks the dead FUSE mount", func(t *testing.T) {
		infos, err := Mounts(c.pid, ManagedFilter([]string{"/proc/meminfo", "/proc/uptime"}))
		if err != nil {
			t.Fatal(err)
		}
		if len(infos) != 1 || infos[0].Mountpoint != "/proc/uptime" || infos[0].FSType != "fuse" {
			t.Errorf("Mounts = %+v, want the fuse mount on /proc/uptime only", infos)
		}
	})
	t.Run("the injection is not in our own table", func(t *testing.T) {
		infos, err := Mounts(os.Getpid(), mountinfo.SingleEntryFilter("/proc/meminfo"))
		if err != nil {
			t.Fatal(err)
		}
		if len(infos) != 0 {
			t.Errorf("own mount table has %+v", infos)
		}
	})
	t.Run("exited process", func(t *testing.T) {
		gone := killedProcessPID(t)
		_, err := Mounts(gone, nil)
		if !errors.Is(err, ErrNoProcess) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(gone)) {
			t.Errorf("Mounts(gone pid) = %v, want ErrNoProcess naming the pid", err)
		}
	})
}
