package mountns

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const (
	fakeMeminfo = "MemTotal:        1234 kB\nlxmount-mountns-test\n"
	fakeOnline  = "0-3\n"
	tmpfsMagic  = Magic(unix.TMPFS_MAGIC)
)

// mountTmpfsFileInside mounts a tmpfs on dir inside the container and
// creates an empty regular file name in it; the mount dies with the
// container's namespace.
func (c *container) mountTmpfsFileInside(t *testing.T, dir, name string) string {
	t.Helper()
	path := dir + "/" + name
	err := c.ns.Do(func() error {
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
			return &os.PathError{Op: "mount tmpfs", Path: dir, Err: err}
		}
		return os.WriteFile(path, nil, 0o444)
	})
	if err != nil {
		t.Fatalf("in container: %v", err)
	}
	return path
}

func TestInject(t *testing.T) {
	c := startContainer(t)
	hostMeminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	hostOnline, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		t.Fatal(err)
	}
	procOnTmpfs := c.mountTmpfsFileInside(t, "/proc/fs", "x")

	cases := []struct {
		name   string
		target string
		want   error  // nil: mounted
		text   string // the message must contain it
	}{
		{name: "regular file on procfs takes the mount", target: "/proc/meminfo"},
		{name: "regular file on sysfs takes the mount", target: "/sys/devices/system/cpu/online"},
		{name: "symlink is refused, not followed", target: "/proc/mounts", want: ErrTargetNotRegular, text: "symlink"},
		{name: "directory on procfs is refused", target: "/proc/sys", want: ErrTargetNotRegular, text: "directory"},
		{name: "missing file is refused", target: "/proc/nonexistent", want: ErrTargetMissing, text: "/proc/nonexistent"},
		{name: "file below /proc on another file system is refused", target: procOnTmpfs, want: ErrTargetNotProcfs, text: "0x1021994, tmpfs"},
		{name: "path outside /proc and /sys is refused", target: "/etc/hostname", want: ErrTargetOutside},
		{name: "unclean path is refused", target: "/proc/../etc/hostname", want: ErrTargetOutside},
	}
	injs := make([]Injection, len(cases))
	for i, tc := range cases {
		content := fakeMeminfo
		if strings.HasPrefix(tc.target, "/sys/") {
			content = fakeOnline
		}
		injs[i] = Injection{Tree: sourceTree(t, "src", content), Target: tc.target}
	}
	// All targets in one call: refusals must not stop the others.
	errs := c.ns.Inject(injs)
	if len(errs) != len(cases) {
		t.Fatalf("Inject returned %d results for %d injections", len(errs), len(cases))
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := errs[i]
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("Inject %s: %v", tc.target, err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("Inject %s: err = %v, want %v", tc.target, err, tc.want)
			case tc.want != nil && !strings.Contains(err.Error(), tc.target):
				t.Errorf("error %q does not name the target", err)
			case tc.want != nil && !strings.Contains(err.Error(), tc.text):
				t.Errorf("error %q does not contain %q", err, tc.text)
			}
		})
	}

	t.Run("container reads the injected files", func(t *testing.T) {
		if got := c.cat(t, "/proc/meminfo"); got != fakeMeminfo {
			t.Errorf("container /proc/meminfo = %q, want %q", got, fakeMeminfo)
		}
		if got := c.cat(t, "/sys/devices/system/cpu/online"); got != fakeOnline {
			t.Errorf("container cpu/online = %q, want %q", got, fakeOnline)
		}
	})
	t.Run("host files are untouched", func(t *testing.T) {
		now, err := os.ReadFile("/proc/meminfo")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(now), "lxmount-mountns-test") || !strings.HasPrefix(string(now), "MemTotal:") {
			t.Errorf("host /proc/meminfo changed: %q", now)
		}
		first := func(b []byte) string { return strings.SplitN(string(b), "\n", 2)[0] }
		if first(now) != first(hostMeminfo) {
			t.Errorf("host MemTotal line %q, was %q", first(now), first(hostMeminfo))
		}
		if online, _ := os.ReadFile("/sys/devices/system/cpu/online"); string(online) != string(hostOnline) {
			t.Errorf("host cpu/online = %q, was %q", online, hostOnline)
		}
	})
	t.Run("mounted target is no longer procfs", func(t *testing.T) {
		errs := c.ns.Inject([]Injection{{Tree: sourceTree(t, "again", fakeMeminfo), Target: "/proc/meminfo"}})
		if !errors.Is(errs[0], ErrTargetNotProcfs) || !strings.Contains(errs[0].Error(), "target /proc/meminfo: not on procfs (filesystem magic 0x1021994, tmpfs)") {
			t.Errorf("second Inject on /proc/meminfo: %v, want ErrTargetNotProcfs naming tmpfs", errs[0])
		}
	})
	t.Run("mounted target is no longer sysfs", func(t *testing.T) {
		errs := c.ns.Inject([]Injection{{Tree: sourceTree(t, "again", fakeOnline), Target: "/sys/devices/system/cpu/online"}})
		if !errors.Is(errs[0], ErrTargetNotSysfs) {
			t.Errorf("second Inject on cpu/online: %v, want ErrTargetNotSysfs", errs[0])
		}
	})
	t.Run("dead FUSE on the target is refused without asking it", func(t *testing.T) {
		c.mountDeadFUSE(t, "/proc/cpuinfo")
		defer c.ns.Unmount([]string{"/proc/cpuinfo"}, FUSEMagic)
		errs := c.ns.Inject([]Injection{{Tree: sourceTree(t, "cpuinfo", "x\n"), Target: "/proc/cpuinfo"}})
		// Inject never sends a request to a FUSE server on a target (it
		// may never answer): mountinfo says it is FUSE, and that is enough.
		if !errors.Is(errs[0], ErrTargetNotProcfs) || !strings.Contains(errs[0].Error(), "fuse: already mounted?") {
			t.Errorf("Inject over dead FUSE: %v, want ErrTargetNotProcfs naming fuse", errs[0])
		}
	})
	t.Run("closed namespace fails every injection", func(t *testing.T) {
		ns, err := Open(c.pid)
		if err != nil {
			t.Fatal(err)
		}
		ns.Close()
		errs := ns.Inject([]Injection{
			{Tree: sourceTree(t, "a", "a\n"), Target: "/proc/uptime"},
			{Tree: sourceTree(t, "b", "b\n"), Target: "/etc/hostname"},
		})
		if !errors.Is(errs[0], os.ErrClosed) || !errors.Is(errs[1], ErrTargetOutside) {
			t.Errorf("errs = %v, want [os.ErrClosed, ErrTargetOutside]", errs)
		}
	})
}

func TestInjectFUSEHint(t *testing.T) {
	// The hint for a live FUSE mount (lxmount's own) cannot be reached
	// without a FUSE server; check the message format directly.
	err := errorForMagic("/proc/meminfo", FUSEMagic)
	want := "target /proc/meminfo: not on procfs (filesystem magic 0x65735546, fuse: already mounted?)"
	if err.Error() != want || !errors.Is(err, ErrTargetNotProcfs) {
		t.Errorf("got %q, want %q wrapping ErrTargetNotProcfs", err, want)
	}
}

func TestCloneTreeMissingSource(t *testing.T) {
	requireRoot(t)
	_, err := CloneTree("/nonexistent/lxmount/meminfo")
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Op != "open_tree" || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want *os.PathError open_tree ENOENT", err)
	}
}

// TestInjectUnder injects into a root file system mounted inside the
// namespace, as a createRuntime hook finds it before pivot_root: a
// directory with its own procfs on <root>/proc. The namespace's own
// /proc stays untouched.
func TestInjectUnder(t *testing.T) {
	c := startContainer(t)
	root := "/tmp/lxmount-rootfs-" + strconv.Itoa(os.Getpid())
	err := c.ns.Do(func() error {
		if err := unix.Mount("tmpfs", "/tmp", "tmpfs", 0, "size=64k"); err != nil {
			return &os.PathError{Op: "mount tmpfs", Path: "/tmp", Err: err}
		}
		if err := os.MkdirAll(root+"/proc", 0o755); err != nil {
			return err
		}
		if err := os.Symlink(root+"/proc", root+"/link"); err != nil {
			return err
		}
		return unix.Mount("proc", root+"/proc", "proc", 0, "")
	})
	if err != nil {
		t.Fatalf("set up rootfs in container: %v", err)
	}
	errs := c.ns.InjectUnder(root, []Injection{
		{Tree: sourceTree(t, "meminfo", fakeMeminfo), Target: "/proc/meminfo"},
		{Tree: sourceTree(t, "uptime", "1.00 1.00\n"), Target: "/link/uptime"},
	})
	if errs[0] != nil {
		t.Fatalf("InjectUnder %s /proc/meminfo: %v", root, errs[0])
	}
	// /link/uptime is outside /proc and /sys by its own path.
	if !errors.Is(errs[1], ErrTargetOutside) {
		t.Errorf("InjectUnder /link/uptime: %v, want ErrTargetOutside", errs[1])
	}
	if got := c.cat(t, root+"/proc/meminfo"); got != fakeMeminfo {
		t.Errorf("%s/proc/meminfo = %q, want the injected file", root, got)
	}
	if got := c.cat(t, "/proc/meminfo"); got == fakeMeminfo {
		t.Errorf("the namespace's own /proc/meminfo was mounted over")
	}
	errs = c.ns.InjectUnder("proc", []Injection{{Tree: sourceTree(t, "x", "x\n"), Target: "/proc/uptime"}})
	if errs[0] == nil || !strings.Contains(errs[0].Error(), `root "proc": not an absolute path`) {
		t.Errorf("relative root: %v", errs[0])
	}
}

// TestInjectRefusesSymlinkedDirectory: a directory on the way to the
// target replaced by a symlink (here to another procfs, as a link to a
// host-visible directory would be) is refused, never followed.
func TestInjectRefusesSymlinkedDirectory(t *testing.T) {
	c := startContainer(t)
	err := c.ns.Do(func() error {
		// A procfs elsewhere (/tmp/proc, on a tmpfs of the container's
		// own) and, below the container's /proc, a symlink to it.
		if err := unix.Mount("tmpfs", "/tmp", "tmpfs", 0, "size=64k"); err != nil {
			return &os.PathError{Op: "mount tmpfs", Path: "/tmp", Err: err}
		}
		if err := os.MkdirAll("/tmp/proc", 0o755); err != nil {
			return err
		}
		if err := unix.Mount("proc", "/tmp/proc", "proc", 0, ""); err != nil {
			return err
		}
		if err := unix.Mount("tmpfs", "/proc/fs", "tmpfs", 0, "size=64k"); err != nil {
			return err
		}
		return os.Symlink("/tmp/proc", "/proc/fs/elsewhere")
	})
	if err != nil {
		t.Fatalf("set up in container: %v", err)
	}
	errs := c.ns.Inject([]Injection{{Tree: sourceTree(t, "m", fakeMeminfo), Target: "/proc/fs/elsewhere/meminfo"}})
	if !errors.Is(errs[0], ErrTargetSymlink) || !strings.Contains(errs[0].Error(), "/proc/fs/elsewhere/meminfo") {
		t.Fatalf("Inject through a symlinked directory: %v, want ErrTargetSymlink naming the target", errs[0])
	}
	if got := c.cat(t, "/tmp/proc/meminfo"); got == fakeMeminfo {
		t.Errorf("the mount followed the symlink")
	}
}
