package integration

// Issue 16's hostile containers and careless operators: each case fails
// on a daemon without the matching check (see the README's security
// section).

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lxmount/lxmount/supervisor"
)

// hungFUSEScript is the entrypoint of a hostile container: it mounts a
// FUSE file system of type $1 on $2 (root mode $3) whose /dev/fuse
// descriptor (fd 5, kept by the sleep) is never read, so every request to
// it waits, and sleeps.
const hungFUSEScript = `exec 5<>/dev/fuse || exit 1
mount -i -t "$1" -o fd=5,rootmode=$3,user_id=0,group_id=0 hostile "$2" || exit 2
exec sleep 1000`

// startHostile starts a namespaced container whose FUSE server on target
// never answers.
func startHostile(t *testing.T, cg *TestCgroup, fstype, target, rootmode string) *NSProc {
	p := startNamespaced(t, cg, "sh", "-c", hungFUSEScript, "hostile", fstype, target, rootmode)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(readFile(t, fmt.Sprintf("/proc/%d/mountinfo", p.PID)), " hostile ") {
		if time.Now().After(deadline) {
			t.Fatalf("the hostile container did not mount its FUSE on %s", target)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

func readFile(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// startDaemonWith starts the daemon like startDaemon, with extra flags.
func (in *instance) startDaemonWith(extra ...string) {
	in.t.Helper()
	if err := os.MkdirAll(in.stateDir, 0o700); err != nil {
		in.t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(in.stateDir, "daemon.log"))
	if err != nil {
		in.t.Fatal(err)
	}
	defer logf.Close()
	args := append([]string{"daemon", "--socket", in.socket, "--state-dir", in.stateDir, "--config", in.config, "--log-level", "debug"}, extra...)
	cmd := exec.Command(lxmountBin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		in.t.Fatal(err)
	}
	go cmd.Wait()
	in.waitReady()
}

// timed runs lxmount and returns how long it took.
func (in *instance) timed(args ...string) (stdout, stderr string, code int, took time.Duration) {
	start := time.Now()
	stdout, stderr, code = in.run(args...)
	return stdout, stderr, code, time.Since(start)
}

func threadsOf(t *testing.T, pid int) int {
	des, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(des)
}

// TestHostileContainerDoesNotStallDaemon: one container's FUSE server on
// its /proc never answers (even resolving /proc/meminfo waits for it),
// another's sits on /proc/meminfo alone. Attaching the first is given up
// after --call-timeout and the container quarantined (no new stuck thread
// per retry), while the others attach at once; the second is attached
// with meminfo refused, without waiting; reconcile and status answer; and
// SIGTERM stops the daemon within 10 s. (The daemon used to hang in
// statfs holding the attach lock, for good.)
func TestHostileContainerDoesNotStallDaemon(t *testing.T) {
	requireRoot(t)
	requireCgroup(t)
	tag := "hostile" + randomSuffix(t)
	whole := startHostile(t, newCgroup(t, tag, limit256MiB, 0, 0), "fuse", "/proc", "40555")
	file := startHostile(t, newCgroup(t, tag, limit256MiB, 0, 0), "fuse.hostile", "/proc/meminfo", "100444")
	normal := startNamespaced(t, newCgroup(t, tag, limit256MiB, 0, 0))
	in := newInstance(t, "", "/lxmount-test-"+tag+"*")
	in.writeConfig(reconcileOnly)
	in.startDaemonWith("--call-timeout", "3s")
	daemon := in.daemonPID()

	var wg sync.WaitGroup
	wg.Add(1)
	var hungCode int
	var hungErr string
	var hungTook time.Duration
	go func() {
		defer wg.Done()
		_, hungErr, hungCode, hungTook = in.timed("attach", strconv.Itoa(whole.PID))
	}()
	time.Sleep(200 * time.Millisecond) // the hostile attach is under way
	// The bounds are far below a stall (minutes before the fixes) and
	// above what a CLI round trip costs in the emulated v2 VM.
	if _, se, code, took := in.timed("attach", strconv.Itoa(normal.PID)); code != 0 || took > 3*time.Second {
		t.Errorf("attach of a normal container beside a hostile one: exit %d after %v: %s", code, took, se)
	}
	wg.Wait()
	if hungCode != 1 || !strings.Contains(hungErr, "did not return in time") || hungTook > 5*time.Second {
		t.Errorf("attach of the container with a hung /proc: exit %d after %v: %q; want a failure after about 3s (--call-timeout)", hungCode, hungTook, hungErr)
	}
	threads := threadsOf(t, daemon)
	for range 3 {
		_, se, code, took := in.timed("attach", strconv.Itoa(whole.PID))
		if code != 1 || !strings.Contains(se, "stuck") || took > 2*time.Second {
			t.Errorf("attach of the quarantined container: exit %d after %v: %q; want an at-once refusal", code, took, se)
		}
	}
	if n := threadsOf(t, daemon); n > threads+1 {
		t.Errorf("retries grew the daemon's threads from %d to %d", threads, n)
	}

	out, se, code, took := in.timed("attach", strconv.Itoa(file.PID))
	if code != 0 || took > 3*time.Second {
		t.Errorf("attach of the container with a hung /proc/meminfo: exit %d after %v: %s %s", code, took, out, se)
	}
	res, _, _, took := in.timed("reconcile")
	if took > 5*time.Second || !strings.Contains(res, "failed 1") {
		t.Errorf("reconcile beside a hostile container took %v and said %q; want failed 1 (the quarantined one)", took, res)
	}
	st := in.status()
	for _, c := range st.Containers {
		if c.InitPID == file.PID {
			if _, ok := c.Refused["meminfo"]; !ok || !strings.HasPrefix(c.Health, "degraded") {
				t.Errorf("container with a hung /proc/meminfo: refused %v, health %q; want meminfo refused, degraded", c.Refused, c.Health)
			}
		}
	}
	if len(st.Containers) != 2 {
		t.Errorf("status lists %d containers, want 2 (the normal one, the one with a hung meminfo)", len(st.Containers))
	}

	start := time.Now()
	_ = syscall.Kill(daemon, syscall.SIGTERM)
	for syscall.Kill(daemon, 0) == nil && !isZombie(daemon) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("daemon alive 10s after SIGTERM beside a hostile container\nlog:\n%s", in.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAttachRefusesLxmountItself: attaching the daemon's own PID (its
// private mount namespace) would have it serve its files to itself over
// its own /proc; it is refused and nothing changes.
func TestAttachRefusesLxmountItself(t *testing.T) {
	requireRoot(t)
	in := newInstance(t, "")
	in.writeConfig(reconcileOnly)
	in.startDaemon()
	_, se, code := in.run("attach", strconv.Itoa(in.daemonPID()), "--policy", "test")
	if code != 1 || !strings.Contains(se, "lxmount itself") {
		t.Errorf("attach of the daemon's own PID: exit %d, %q; want a refusal naming lxmount itself", code, se)
	}
	if st := in.status(); len(st.Containers) != 0 {
		t.Errorf("the daemon attached itself: %+v", st.Containers)
	}
}

// TestSocketNeverRemovesARegularFile: --socket naming an existing regular
// file makes the daemon refuse to start; the file is left as it was (it
// used to be deleted).
func TestSocketNeverRemovesARegularFile(t *testing.T) {
	requireRoot(t)
	in := newInstance(t, "")
	if err := os.WriteFile(in.socket, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(lxmountBin, "daemon", "--socket", in.socket, "--state-dir", in.stateDir, "--config", in.config).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not a socket") {
		t.Errorf("daemon with --socket on a regular file: %v, %s; want a refusal", err, out)
	}
	if b, err := os.ReadFile(in.socket); err != nil || string(b) != "precious\n" {
		t.Errorf("the regular file at --socket is now %q, %v", b, err)
	}
}

// TestNestedNamespacesShareOneBinding: a container nesting five pid and
// mount namespaces (unshare -pmf) is one binding, not six: nested
// namespaces of an attached container's cgroup share it.
func TestNestedNamespacesShareOneBinding(t *testing.T) {
	requireRoot(t)
	requireCgroup(t)
	requireCommands(t, "unshare")
	cg := newCgroup(t, "nested", limit256MiB, 0, 0)
	var cmd []string
	for range 5 {
		cmd = append(cmd, "unshare", "-pmf", "--mount-proc")
	}
	p := startNamespaced(t, cg, append(cmd, "sleep", "1000")...)
	in := newInstance(t, "", cg.Path)
	in.writeConfig(reconcileOnly)
	in.startDaemon()
	waitFor(t, 10*time.Second, "five nested namespaces", func() bool {
		return strings.Count(readFile(t, filepath.Join(cg.Dirs[firstDirKey(cg)], "cgroup.procs")), "\n") >= 6
	})
	res := in.reconcile()
	if res.Summary.Attached != 1 {
		t.Errorf("reconcile attached %d, want 1 (the container; its nested namespaces share it): %+v", res.Summary.Attached, res.Actions)
	}
	st := in.status()
	if len(st.Containers) != 1 || st.Containers[0].InitPID != p.PID {
		t.Errorf("status lists %d containers (want 1, init %d): %+v", len(st.Containers), p.PID, st.Containers)
	}
	if res := in.reconcile(); res.Summary.Attached != 0 || res.Summary.Failed != 0 {
		t.Errorf("second reconcile: %s", res.Summary)
	}
}

// firstDirKey returns a key of cg.Dirs (a controller, or "unified").
func firstDirKey(cg *TestCgroup) string {
	for k := range cg.Dirs {
		return k
	}
	return ""
}

// TestDetachReportsCoveredMounts: the container binds a file over its
// lxmount /proc/meminfo. Detach cannot take lxmount's mount off from under
// it: it says so and fails (it used to exit 0 and leave a mount that
// answers ENOTCONN once the bind goes).
func TestDetachReportsCoveredMounts(t *testing.T) {
	c := namespacedCase(t)
	in := newInstance(t, "", c.cgroup)
	in.writeConfig(reconcileOnly)
	in.startDaemon()
	in.mustRun("attach", strconv.Itoa(c.pid))
	if out, err := c.exec("mount", "--bind", "/proc/version", "/proc/meminfo"); err != nil {
		t.Fatalf("bind over /proc/meminfo inside: %v %s", err, out)
	}
	_, se, code := in.run("detach", strconv.Itoa(c.pid))
	if code != 1 || !strings.Contains(se, "covered") || !strings.Contains(se, "/proc/meminfo") {
		t.Errorf("detach under a stacked bind: exit %d, %q; want a failure naming the covered /proc/meminfo", code, se)
	}
}

// TestHealthIsChecked: status says what is served, checked rather than
// assumed: a file the container unmounts, a target refused at attach and
// retried by reconcile, a cgroup removed under the container.
func TestHealthIsChecked(t *testing.T) {
	requireRoot(t)
	requireCgroup(t)
	cg := newCgroup(t, "health", limit256MiB, 0, 0)
	p := startNamespaced(t, cg)
	exec := func(args ...string) string {
		out, err := p.Exec(t, args...)
		if err != nil {
			t.Fatalf("%v inside: %v %s", args, err, out)
		}
		return out
	}
	// A target somebody else mounted on is refused at attach.
	exec("mount", "--bind", "/etc/hostname", "/proc/uptime")
	in := newInstance(t, "", cg.Path)
	in.writeConfig(reconcileOnly)
	in.startDaemon()
	in.mustRun("attach", strconv.Itoa(p.PID))
	health := func() supervisor.ContainerInfo {
		st := in.status()
		if len(st.Containers) != 1 {
			t.Fatalf("status lists %d containers, want 1", len(st.Containers))
		}
		return st.Containers[0]
	}
	if c := health(); !strings.HasPrefix(c.Health, "degraded") || c.Refused["uptime"] == "" {
		t.Errorf("with /proc/uptime refused: health %q, refused %v; want degraded", c.Health, c.Refused)
	}
	// The container's own mount goes: reconcile retries the target.
	exec("umount", "/proc/uptime")
	in.reconcile()
	if c := health(); c.Health != "healthy" || c.Refused["uptime"] != "" {
		t.Errorf("after the retry: health %q, refused %v; want healthy, uptime mounted", c.Health, c.Refused)
	}
	// The container's root unmounts lxmount's meminfo: noticed by status.
	exec("umount", "/proc/meminfo")
	waitFor(t, 3*time.Second, "status noticing the unmounted /proc/meminfo", func() bool {
		h := health().Health
		return strings.HasPrefix(h, "broken") && strings.Contains(h, "/proc/meminfo")
	})
	in.reconcile()
	if c := health(); c.Health != "healthy" {
		t.Errorf("after reconcile healed it: health %q", c.Health)
	}
	// Its cgroup is removed (the init moved out first): broken, not
	// silently the host's figures.
	other := newCgroup(t, "health", 0, 0, 0)
	if err := other.AddPID(p.PID); err != nil {
		t.Fatal(err)
	}
	for _, d := range cg.uniqueDirs() {
		if err := syscall.Rmdir(d); err != nil {
			t.Fatalf("rmdir %s: %v", d, err)
		}
	}
	waitFor(t, 3*time.Second, "status noticing the removed cgroup", func() bool {
		h := health().Health
		return strings.HasPrefix(h, "broken") && strings.Contains(h, "removed")
	})
}
