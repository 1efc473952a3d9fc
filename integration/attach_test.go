package integration

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	limit256MiB = 256 << 20
	kb256MiB    = 262144
)

// attachCase is a container the attach tests run against: a namespaced
// process or a runc container, each limited to 256 MiB.
type attachCase struct {
	pid    int
	cgroup string // cgroup path, as policies match it
	exec   func(args ...string) (string, error)
	kill   func()
}

func namespacedCase(t *testing.T) attachCase {
	requireRoot(t)
	requireCgroup(t)
	cg := newCgroup(t, "attach", limit256MiB, 150000, 100000)
	p := startNamespaced(t, cg)
	return attachCase{
		pid:    p.PID,
		cgroup: cg.Path,
		exec:   func(args ...string) (string, error) { return p.Exec(t, args...) },
		kill:   func() { _ = syscall.Kill(p.PID, syscall.SIGKILL) },
	}
}

func runcCase(t *testing.T) attachCase {
	requireRoot(t)
	requireCgroup(t)
	requireCommands(t, "runc")
	rootfs := buildBusyboxRootfs(t)
	c := startRunc(t, rootfs, "attach", limit256MiB, 150000, 100000, true)
	return attachCase{
		pid:    c.PID,
		cgroup: c.CgroupPath,
		exec:   func(args ...string) (string, error) { return c.Exec(t, args...) },
		kill:   func() { _ = syscall.Kill(c.PID, syscall.SIGKILL) },
	}
}

func TestAttachNamespaced(t *testing.T) { testAttach(t, namespacedCase(t)) }

func TestAttachRunc(t *testing.T) { testAttach(t, runcCase(t)) }

// testAttach is the foundation's end-to-end check: attach, look inside with
// cat and procps free, detach, re-attach, kill the container, and find
// nothing left behind.
func testAttach(t *testing.T, c attachCase) {
	requireCommands(t, "free")
	in := newInstance(t, "", c.cgroup)
	// Attach and detach alone: the event watch would re-attach the
	// detached container at its next exec (the cat below).
	in.writeConfig(reconcileOnly)
	in.startDaemon()
	hostBefore := hostMemTotalKB(t)
	base := in.status().Daemon

	out := in.mustRun("attach", strconv.Itoa(c.pid))
	if !strings.HasPrefix(out, "attached ") || !strings.Contains(out, "meminfo") {
		t.Fatalf("attach printed %q, want one line naming the files", out)
	}

	meminfo, err := c.exec("cat", "/proc/meminfo")
	if err != nil {
		t.Fatalf("cat /proc/meminfo inside: %v\n%s", err, meminfo)
	}
	if got := memTotalKB(t, meminfo); got != kb256MiB {
		t.Errorf("inside: MemTotal %d kB, want %d", got, kb256MiB)
	}
	free, err := c.exec("/usr/bin/free", "-k")
	if err != nil {
		t.Fatalf("free -k inside: %v\n%s", err, free)
	}
	if got := freeTotalKB(t, free); got != kb256MiB {
		t.Errorf("inside: procps free total %d, want %d\n%s", got, kb256MiB, free)
	}
	if got := hostMemTotalKB(t); got != hostBefore {
		t.Errorf("host MemTotal changed: %d -> %d", hostBefore, got)
	}

	st := in.status()
	if len(st.Containers) != 1 {
		t.Fatalf("status lists %d containers, want 1", len(st.Containers))
	}
	ci := st.Containers[0]
	if ci.Reads == 0 || ci.Cgroup == "" || len(ci.Files) == 0 || ci.AttachedAt.IsZero() {
		t.Errorf("status entry incomplete: %+v", ci)
	}

	// Attach is idempotent.
	out = in.mustRun("attach", strconv.Itoa(c.pid))
	if !strings.HasPrefix(out, "already attached "+ci.ID) {
		t.Errorf("second attach printed %q, want already attached", out)
	}

	// Detach restores the host's view.
	out = in.mustRun("detach", strconv.Itoa(c.pid))
	if !strings.Contains(out, ci.ID) {
		t.Errorf("detach printed %q", out)
	}
	meminfo, _ = c.exec("cat", "/proc/meminfo")
	if got := memTotalKB(t, meminfo); got != hostBefore {
		t.Errorf("after detach: MemTotal %d kB, want the host's %d", got, hostBefore)
	}
	if n := in.daemonMounts(); n != 0 {
		t.Errorf("after detach the daemon still has %d lxmount mounts", n)
	}

	// Re-attach by id-less pid, then kill the container: the daemon forgets
	// it and leaks nothing.
	in.mustRun("attach", strconv.Itoa(c.pid))
	meminfo, _ = c.exec("cat", "/proc/meminfo")
	if got := memTotalKB(t, meminfo); got != kb256MiB {
		t.Errorf("re-attached: MemTotal %d kB, want %d", got, kb256MiB)
	}
	c.kill()
	st = in.waitContainers(0, 10*time.Second)
	if n := in.daemonMounts(); n != 0 {
		t.Errorf("after the container died the daemon still has %d lxmount mounts", n)
	}
	// Goroutines and fds settle back to what an idle daemon had.
	deadline := time.Now().Add(5 * time.Second)
	for (st.Daemon.Goroutines > base.Goroutines || st.Daemon.FDs > base.FDs) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		st = in.status()
	}
	if st.Daemon.Goroutines > base.Goroutines || st.Daemon.FDs > base.FDs {
		t.Errorf("leak: goroutines %d -> %d, fds %d -> %d", base.Goroutines, st.Daemon.Goroutines, base.FDs, st.Daemon.FDs)
	}
	entries, _ := os.ReadDir(in.stateDir + "/mnt")
	var left []string
	for _, e := range entries {
		if !isSpareDir(e.Name()) {
			left = append(left, e.Name())
		}
	}
	if len(left) != 0 {
		t.Errorf("mountpoints left in state dir: %v", left)
	}
}

// TestAttachRefusals: every refusal says what is wrong and changes nothing.
func TestAttachRefusals(t *testing.T) {
	requireRoot(t)
	in := newInstance(t, "")

	// No daemon and --no-start: refused, nothing started.
	_, se, code := in.run("attach", "1", "--no-start")
	if code != 1 || !strings.Contains(se, "no daemon answers") || !strings.Contains(se, "--no-start") {
		t.Errorf("attach --no-start without daemon: exit %d, %q", code, se)
	}
	if in.daemonPID() != 0 {
		t.Errorf("--no-start started a daemon")
	}

	in.startDaemon()
	mountsBefore := in.daemonMounts()

	gone := gonePID(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"pid gone", []string{"attach", strconv.Itoa(gone)}, 1, fmt.Sprintf("process %d", gone)},
		{"host process", []string{"attach", strconv.Itoa(os.Getpid())}, 1, "not in a container"},
		{"not a number", []string{"attach", "abc"}, 2, "not a process id"},
		{"no pid", []string{"attach"}, 2, "exactly one <pid>"},
		{"unknown policy", []string{"attach", "1", "--policy", "nope"}, 1, ""},
		{"detach unknown id", []string{"detach", "nosuchid"}, 1, "no attached container"},
		{"detach host pid", []string{"detach", strconv.Itoa(os.Getpid())}, 1, "not attached"},
		{"unknown command", []string{"attachh"}, 2, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, se, code := in.run(tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tc.code, se)
			}
			if tc.want != "" && !strings.Contains(se, tc.want) {
				t.Errorf("stderr %q does not say %q", se, tc.want)
			}
			if lines := strings.Count(strings.TrimSpace(se), "\n"); code == 1 && lines > 0 {
				t.Errorf("error is not one line: %q", se)
			}
		})
	}
	if st := in.status(); len(st.Containers) != 0 {
		t.Errorf("a refusal attached something: %+v", st.Containers)
	}
	if n := in.daemonMounts(); n != mountsBefore {
		t.Errorf("a refusal left mounts: %d -> %d", mountsBefore, n)
	}
}

// gonePID returns a PID that no process has: one of a child that exited.
func gonePID(t *testing.T) int {
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	pid := p.Pid
	p.Wait()
	return pid
}

// TestAttachStartsDaemon: attach with no daemon starts one in the
// background, passing on --socket and --state-dir.
func TestAttachStartsDaemon(t *testing.T) {
	c := namespacedCase(t)
	in := newInstance(t, "", c.cgroup)
	out := in.mustRun("attach", strconv.Itoa(c.pid))
	if !strings.HasPrefix(out, "attached ") {
		t.Fatalf("attach printed %q", out)
	}
	pid := in.daemonPID()
	if pid <= 0 {
		t.Fatalf("no daemon.pid in %s", in.stateDir)
	}
	st := in.status()
	if st.Daemon.PID != pid || st.Daemon.Socket != in.socket || st.Daemon.StateDir != in.stateDir {
		t.Errorf("started daemon %+v, want pid %d socket %s state %s", st.Daemon, pid, in.socket, in.stateDir)
	}
	// Its FUSE mounts live in its own mount namespace, not the host's.
	host, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(host), in.stateDir) {
		t.Errorf("the host's mount table shows lxmount mounts")
	}
	in.mustRun("detach", st.Containers[0].ID)
}
