package mountns

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// mountHungFUSE mounts a FUSE file system of type fstype ("fuse" or
// "fuse.<subtype>") on target inside the container and keeps its
// /dev/fuse descriptor open without ever reading it: every request to it
// waits, as with a hostile container's server that never answers. The
// returned func closes the descriptor, which aborts the connection and
// wakes the waiters with ENOTCONN; it also runs at cleanup.
func (c *container) mountHungFUSE(t *testing.T, target, fstype, rootmode string) (release func()) {
	t.Helper()
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		skipOrFail(t, "open /dev/fuse: %v", err)
	}
	opts := fmt.Sprintf("fd=%d,rootmode=%s,user_id=0,group_id=0", fd, rootmode)
	err = c.ns.Do(func() error { return unix.Mount("hostile", target, fstype, unix.MS_NOSUID|unix.MS_NODEV, opts) })
	if err != nil {
		unix.Close(fd)
		t.Fatalf("mount %s on %s in container: %v", fstype, target, err)
	}
	released := false
	release = func() {
		if !released {
			released = true
			unix.Close(fd)
		}
	}
	t.Cleanup(func() {
		release()
		c.ns.Unmount([]string{target}, FUSEMagic)
		c.ns.Do(func() error { return unix.Unmount(target, unix.MNT_DETACH) })
	})
	return release
}

// TestInjectNeverAsksAForeignFUSE: a FUSE server of the container that
// never answers sits on /proc/meminfo. Inject refuses that target at once,
// from mountinfo alone (it used to hang in fstatfs for good), and mounts
// the others.
func TestInjectNeverAsksAForeignFUSE(t *testing.T) {
	c := startContainer(t)
	c.mountHungFUSE(t, "/proc/meminfo", "fuse.hostile", "100444")
	c.ns.SetTimeout(5 * time.Second)
	start := time.Now()
	errs := c.ns.Inject([]Injection{
		{Tree: sourceTree(t, "meminfo", fakeMeminfo), Target: "/proc/meminfo"},
		{Tree: sourceTree(t, "uptime", "1.00 2.00\n"), Target: "/proc/uptime"},
	})
	if took := time.Since(start); took > time.Second {
		t.Errorf("Inject took %v beside a FUSE server that never answers", took)
	}
	if !errors.Is(errs[0], ErrTargetNotProcfs) || !strings.Contains(errs[0].Error(), "fuse") {
		t.Errorf("Inject over the hung FUSE: %v, want ErrTargetNotProcfs naming fuse", errs[0])
	}
	if errs[1] != nil {
		t.Errorf("Inject /proc/uptime beside it: %v", errs[1])
	}
	states, err := c.ns.Probe([]string{"/proc/meminfo", "/proc/uptime"}, tmpfsMagic)
	if err != nil || states["/proc/meminfo"] != StateOther || states["/proc/uptime"] != StateOwned {
		t.Errorf("Probe = %v, %v; want meminfo other (not asked), uptime owned", states, err)
	}
	if err := c.ns.Unmount([]string{"/proc/meminfo", "/proc/uptime"}, tmpfsMagic); err != nil {
		t.Errorf("Unmount: %v", err)
	}
}

// TestTimeoutGivesUpAndQuarantines: the hung server is on /proc itself,
// so even resolving /proc/meminfo waits for it. The call is given up
// after the timeout (ErrTimeout), later calls fail at once (ErrStuck)
// instead of leaving one more thread behind each, and once the server's
// descriptor is closed the namespace can be used again.
func TestTimeoutGivesUpAndQuarantines(t *testing.T) {
	c := startContainer(t)
	release := c.mountHungFUSE(t, "/proc", "fuse", "40555")
	c.ns.SetTimeout(300 * time.Millisecond)
	start := time.Now()
	errs := c.ns.Inject([]Injection{{Tree: sourceTree(t, "meminfo", fakeMeminfo), Target: "/proc/meminfo"}})
	if took := time.Since(start); !errors.Is(errs[0], ErrTimeout) || took > 2*time.Second {
		t.Fatalf("Inject under a hung /proc: %v after %v, want ErrTimeout after about 300ms", errs[0], took)
	}
	if _, stuck := c.ns.Stuck(); !stuck {
		t.Errorf("Stuck() = false while the given-up call still waits")
	}
	start = time.Now()
	if _, err := c.ns.Probe([]string{"/proc/meminfo"}, FUSEMagic); !errors.Is(err, ErrStuck) || time.Since(start) > 100*time.Millisecond {
		t.Errorf("Probe while stuck: %v after %v, want ErrStuck at once", err, time.Since(start))
	}
	release()
	deadline := time.Now().Add(5 * time.Second)
	for _, stuck := c.ns.Stuck(); stuck; _, stuck = c.ns.Stuck() {
		if time.Now().After(deadline) {
			t.Fatalf("still stuck 5s after the FUSE connection was aborted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.ns.Do(func() error { return nil }); err != nil {
		t.Errorf("Do after the stuck call returned: %v", err)
	}
}

// TestInjectRefusesSharedMount: a mount on a target whose mount has
// shared propagation would propagate to the mount's peers, which may be
// outside the container (a host procfs bound in with shared
// propagation): Inject refuses it and mounts nothing.
func TestInjectRefusesSharedMount(t *testing.T) {
	c := startContainer(t)
	if err := c.ns.Do(func() error { return unix.Mount("", "/proc", "", unix.MS_SHARED, "") }); err != nil {
		t.Fatalf("make /proc shared in the container: %v", err)
	}
	errs := c.ns.Inject([]Injection{{Tree: sourceTree(t, "meminfo", fakeMeminfo), Target: "/proc/meminfo"}})
	if !errors.Is(errs[0], ErrTargetShared) || !strings.Contains(errs[0].Error(), "shared:") {
		t.Errorf("Inject on a shared /proc: %v, want ErrTargetShared naming the peer group", errs[0])
	}
	if got := c.cat(t, "/proc/meminfo"); got == fakeMeminfo {
		t.Errorf("the tree was mounted on a shared mount")
	}
}

// TestUnmountReportsCoveredMount: the container stacks a bind mount over
// an owned mount. Unmount cannot reach the owned mount by path; it used to
// return nil and leave it behind unsaid, now it says so (ErrCovered).
func TestUnmountReportsCoveredMount(t *testing.T) {
	c := startContainer(t)
	if errs := c.ns.Inject([]Injection{{Tree: sourceTree(t, "meminfo", fakeMeminfo), Target: "/proc/meminfo"}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if err := c.ns.Do(func() error { return unix.Mount("/proc/version", "/proc/meminfo", "", unix.MS_BIND, "") }); err != nil {
		t.Fatalf("bind over the owned mount: %v", err)
	}
	err := c.ns.Unmount([]string{"/proc/meminfo"}, tmpfsMagic)
	if !errors.Is(err, ErrCovered) || !strings.Contains(err.Error(), "tmpfs") {
		t.Errorf("Unmount under a stacked bind: %v, want ErrCovered naming tmpfs", err)
	}
	// Once the container's bind is gone, the owned mount comes off.
	if err := c.ns.Do(func() error { return unix.Unmount("/proc/meminfo", unix.MNT_DETACH) }); err != nil {
		t.Fatal(err)
	}
	if err := c.ns.Unmount([]string{"/proc/meminfo"}, tmpfsMagic); err != nil {
		t.Errorf("Unmount after the bind went: %v", err)
	}
	if s := probeAll(t, c, []string{"/proc/meminfo"}, tmpfsMagic)["/proc/meminfo"]; s != StateNative {
		t.Errorf("after Unmount /proc/meminfo is %v, want native", s)
	}
}
