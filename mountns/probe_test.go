package mountns

import (
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// probeAll is Probe with the test failing on error.
func probeAll(t *testing.T, c *container, targets []string, owned Magic) map[string]TargetState {
	t.Helper()
	got, err := c.ns.Probe(targets, owned)
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	return got
}

func TestProbe(t *testing.T) {
	c := startContainer(t)
	if errs := c.ns.Inject([]Injection{{Tree: sourceTree(t, "meminfo", fakeMeminfo), Target: "/proc/meminfo"}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	c.mountDeadFUSE(t, "/proc/uptime")
	procOnTmpfs := c.mountTmpfsFileInside(t, "/proc/driver", "x")

	for _, tc := range []struct {
		name   string
		target string
		owned  Magic
		want   TargetState
	}{
		{"untouched procfs file is native", "/proc/cpuinfo", FUSEMagic, StateNative},
		{"untouched sysfs file is native", "/sys/devices/system/cpu/online", FUSEMagic, StateNative},
		{"our mount is owned", "/proc/meminfo", tmpfsMagic, StateOwned},
		{"somebody else's mount is other", "/proc/meminfo", FUSEMagic, StateOther},
		{"FUSE with a dead server is broken, ENOTCONN", "/proc/uptime", FUSEMagic, StateBroken},
		{"dead FUSE is broken whatever we own", "/proc/uptime", tmpfsMagic, StateBroken},
		{"missing file", "/proc/nonexistent", FUSEMagic, StateMissing},
		{"symlink is other, not followed", "/proc/mounts", FUSEMagic, StateOther},
		{"directory is other", "/proc/sys", FUSEMagic, StateOther},
		{"foreign file system below /proc is other", procOnTmpfs, FUSEMagic, StateOther},
		{"path outside /proc and /sys is never native", "/etc/hostname", FUSEMagic, StateOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := probeAll(t, c, []string{tc.target}, tc.owned)
			if got[tc.target] != tc.want {
				t.Errorf("Probe(%s, owned %v) = %v, want %v", tc.target, tc.owned, got[tc.target], tc.want)
			}
		})
	}
}

func TestUnmount(t *testing.T) {
	c := startContainer(t)
	host, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	hostFirst := strings.SplitN(string(host), "\n", 2)[0]

	t.Run("somebody else's mount is left alone", func(t *testing.T) {
		if errs := c.ns.Inject([]Injection{{Tree: sourceTree(t, "meminfo", fakeMeminfo), Target: "/proc/meminfo"}}); errs[0] != nil {
			t.Fatal(errs[0])
		}
		if err := c.ns.Unmount([]string{"/proc/meminfo"}, FUSEMagic); err != nil {
			t.Fatalf("Unmount: %v", err)
		}
		if got := c.cat(t, "/proc/meminfo"); got != fakeMeminfo {
			t.Errorf("a tmpfs mount was removed by an Unmount that owns FUSE: /proc/meminfo = %q", got)
		}
	})
	t.Run("owned mount is removed and the kernel file shows again", func(t *testing.T) {
		if err := c.ns.Unmount([]string{"/proc/meminfo"}, tmpfsMagic); err != nil {
			t.Fatalf("Unmount: %v", err)
		}
		got := c.cat(t, "/proc/meminfo")
		if first := strings.SplitN(got, "\n", 2)[0]; !strings.HasPrefix(got, "MemTotal:") || first != hostFirst {
			t.Errorf("container /proc/meminfo starts %q, want the kernel's %q", first, hostFirst)
		}
		if s := probeAll(t, c, []string{"/proc/meminfo"}, tmpfsMagic)["/proc/meminfo"]; s != StateNative {
			t.Errorf("after Unmount /proc/meminfo is %v, want native", s)
		}
	})
	t.Run("stacked owned mounts are all removed", func(t *testing.T) {
		// Inject refuses to stack; force a stack by hand.
		for _, name := range []string{"one", "two", "three"} {
			tree := sourceTree(t, name, name+"\n")
			err := c.ns.Do(func() error {
				return unix.MoveMount(int(tree.Fd()), "", unix.AT_FDCWD, "/proc/loadavg", unix.MOVE_MOUNT_F_EMPTY_PATH)
			})
			if err != nil {
				t.Fatalf("move_mount %s: %v", name, err)
			}
		}
		if got := c.cat(t, "/proc/loadavg"); got != "three\n" {
			t.Fatalf("top of stack = %q, want three", got)
		}
		if err := c.ns.Unmount([]string{"/proc/loadavg"}, tmpfsMagic); err != nil {
			t.Fatalf("Unmount: %v", err)
		}
		if s := probeAll(t, c, []string{"/proc/loadavg"}, tmpfsMagic)["/proc/loadavg"]; s != StateNative {
			t.Errorf("after Unmount /proc/loadavg is %v, want native", s)
		}
	})
	t.Run("dead FUSE mount is healed", func(t *testing.T) {
		c.mountDeadFUSE(t, "/proc/stat")
		if s := probeAll(t, c, []string{"/proc/stat"}, FUSEMagic)["/proc/stat"]; s != StateBroken {
			t.Fatalf("before Unmount /proc/stat is %v, want broken", s)
		}
		if err := c.ns.Unmount([]string{"/proc/stat"}, FUSEMagic); err != nil {
			t.Fatalf("Unmount: %v", err)
		}
		if s := probeAll(t, c, []string{"/proc/stat"}, FUSEMagic)["/proc/stat"]; s != StateNative {
			t.Errorf("after Unmount /proc/stat is %v, want native", s)
		}
		if got := c.cat(t, "/proc/stat"); !strings.HasPrefix(got, "cpu ") {
			t.Errorf("container /proc/stat starts %q, want the kernel's", got[:min(len(got), 20)])
		}
	})
	t.Run("native, missing and foreign targets are not errors", func(t *testing.T) {
		err := c.ns.Unmount([]string{"/proc/swaps", "/proc/nonexistent", "/proc/mounts", "/sys/devices/system/cpu/online"}, FUSEMagic)
		if err != nil {
			t.Errorf("Unmount: %v", err)
		}
	})
	t.Run("closed namespace", func(t *testing.T) {
		ns, err := Open(c.pid)
		if err != nil {
			t.Fatal(err)
		}
		ns.Close()
		if err := ns.Unmount([]string{"/proc/meminfo"}, FUSEMagic); !errors.Is(err, os.ErrClosed) {
			t.Errorf("Unmount on closed namespace: %v, want os.ErrClosed", err)
		}
		if _, err := ns.Probe([]string{"/proc/meminfo"}, FUSEMagic); !errors.Is(err, os.ErrClosed) {
			t.Errorf("Probe on closed namespace: %v, want os.ErrClosed", err)
		}
	})
}

func TestTargetStateString(t *testing.T) {
	for s, want := range map[TargetState]string{
		StateMissing: "missing", StateNative: "native", StateOwned: "owned",
		StateBroken: "broken", StateOther: "other", 0: "TargetState(0)",
	} {
		if got := s.String(); got != want {
			t.Errorf("TargetState(%d).String() = %q, want %q", int(s), got, want)
		}
	}
}

func TestMagicString(t *testing.T) {
	for m, want := range map[Magic]string{
		FUSEMagic:             "0x65735546, fuse",
		unix.PROC_SUPER_MAGIC: "0x9fa0, procfs",
		unix.SYSFS_MAGIC:      "0x62656572, sysfs",
		0x12345678:            "0x12345678",
	} {
		if got := m.String(); got != want {
			t.Errorf("Magic(%#x).String() = %q, want %q", int64(m), got, want)
		}
	}
}
