package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lxmount/lxmount/supervisor"
)

// fleet is a set of containers under one test cgroup prefix, so one policy
// glob matches exactly them.
type fleet struct {
	prefix     string // cgroup glob matching every container of the fleet
	containers []attachCase
}

// newFleet starts n namespaced containers and r runc containers, each in
// its own cgroup limited to 256 MiB, all named lxmount-test-<tag>-...
func newFleet(t *testing.T, tag string, n, r int) *fleet {
	requireRoot(t)
	requireCgroup(t)
	f := &fleet{prefix: "/lxmount-test*-" + tag + "*"}
	for i := 0; i < n; i++ {
		cg := newCgroup(t, tag, limit256MiB, 0, 0)
		p := startNamespaced(t, cg)
		f.containers = append(f.containers, attachCase{
			pid: p.PID, cgroup: cg.Path,
			exec: func(args ...string) (string, error) { return p.Exec(t, args...) },
			kill: func() { _ = syscall.Kill(p.PID, syscall.SIGKILL) },
		})
	}
	if r > 0 {
		requireCommands(t, "runc")
		rootfs := buildBusyboxRootfs(t)
		for i := 0; i < r; i++ {
			c := startRunc(t, rootfs, tag, limit256MiB, 0, 0, false)
			f.containers = append(f.containers, attachCase{
				pid: c.PID, cgroup: c.CgroupPath,
				exec: func(args ...string) (string, error) { return c.Exec(t, args...) },
				kill: func() { _ = syscall.Kill(c.PID, syscall.SIGKILL) },
			})
		}
	}
	return f
}

// reconcile runs `lxmount reconcile --json` and returns its result.
func (in *instance) reconcile(args ...string) supervisor.ReconcileResult {
	in.t.Helper()
	out := in.mustRun(append([]string{"reconcile", "--json"}, args...)...)
	var res supervisor.ReconcileResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		in.t.Fatalf("reconcile --json: %v\n%s", err, out)
	}
	return res
}

// meminfoTotal reads MemTotal inside a container; -1 with the error text
// when the read fails.
func meminfoTotal(t testing.TB, c attachCase) (int64, string) {
	out, err := c.exec("cat", "/proc/meminfo")
	if err != nil {
		return -1, fmt.Sprintf("%v: %s", err, out)
	}
	if !strings.Contains(out, "MemTotal:") {
		return -1, fmt.Sprintf("no MemTotal line in %q", out)
	}
	return memTotalKB(t, out), ""
}

// lxmountMounts lists the lxmount FUSE mounts inside a container (mountpoint
// per line), from /proc/<pid>/mountinfo.
func lxmountMounts(t testing.TB, pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatalf("mountinfo of %d: %v", pid, err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, " - fuse.lxmount ") {
			out = append(out, strings.Fields(line)[4])
		}
	}
	return out
}

// otherMounts is a container's mountinfo without lxmount's lines and
// without mount IDs (which change when mounts are replaced).
func otherMounts(t testing.TB, pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatalf("mountinfo of %d: %v", pid, err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.Contains(line, " - fuse.lxmount ") {
			continue
		}
		f := strings.Fields(line)
		out = append(out, strings.Join(f[2:], " "))
	}
	return strings.Join(out, "\n")
}

func TestReconcileAttachesAndIsIdempotent(t *testing.T) {
	f := newFleet(t, "rec", 2, 0)
	in := newInstance(t, "", f.prefix)
	// What reconcile does by itself: the event watch would attach the
	// container started after the daemon (at its first exec once the
	// dry run made the daemon look again), which the dry run must not.
	in.writeConfig(reconcileOnly)
	// reconcile starts the daemon itself.
	res := in.reconcile()
	if res.Summary.Attached != 2 || res.Summary.Failed != 0 {
		t.Fatalf("first reconcile: %+v\nlog:\n%s", res, in.log())
	}
	for _, c := range f.containers {
		if got, msg := meminfoTotal(t, c); got != kb256MiB {
			t.Errorf("container %d: MemTotal %d %s", c.pid, got, msg)
		}
	}
	res = in.reconcile()
	if res.Summary != (supervisor.Summary{Unchanged: 2}) {
		t.Errorf("second reconcile changed something: %+v", res.Summary)
	}
	// The plain output is one summary line.
	out := in.mustRun("reconcile")
	if !strings.HasPrefix(out, "attached 0, healed 0, reapplied 0, detached 0, unchanged 2, failed 0") {
		t.Errorf("reconcile printed %q", out)
	}

	// A dry run plans and changes nothing.
	f.containers[0].kill()
	in.waitContainers(1, 10*time.Second)
	g := newFleet(t, "rec", 1, 0)
	res = in.reconcile("--dry-run")
	if !res.DryRun || res.Summary.Attached != 1 {
		t.Errorf("dry run: %+v", res)
	}
	if got, _ := meminfoTotal(t, g.containers[0]); got == kb256MiB {
		t.Errorf("dry run attached the new container")
	}
	if n := len(in.status().Containers); n != 1 {
		t.Errorf("dry run changed the registry: %d containers", n)
	}
	res = in.reconcile()
	if res.Summary.Attached != 1 {
		t.Errorf("reconcile after dry run: %+v", res.Summary)
	}
}

// TestHealAfterDaemonCrash is the healing requirement: 5 attached
// containers with readers running, kill -9 the daemon, reconcile: within
// 5 s every file answers again, no container restarted, nothing else in
// them changed, and the dead mounts are gone.
func TestHealAfterDaemonCrash(t *testing.T) {
	for _, how := range []string{"reconcile", "daemon restart"} {
		t.Run(strings.ReplaceAll(how, " ", "_"), func(t *testing.T) {
			f := newFleet(t, "heal", 3, 2)
			in := newInstance(t, "", f.prefix)
			in.startDaemon()
			if res := in.reconcile(); res.Summary.Attached != 5 {
				t.Fatalf("attach 5: %+v\nlog:\n%s", res, in.log())
			}
			type before struct {
				start  string
				mounts string
			}
			var was []before
			for _, c := range f.containers {
				startReader(t, c)
				was = append(was, before{procStart(t, c.pid), otherMounts(t, c.pid)})
			}

			pid := in.daemonPID()
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			for syscall.Kill(pid, 0) == nil && !isZombie(pid) {
				time.Sleep(10 * time.Millisecond)
			}
			if _, msg := meminfoTotal(t, f.containers[0]); !strings.Contains(msg, "not connected") {
				t.Fatalf("after kill -9 the mount should be dead (ENOTCONN), read gave %q", msg)
			}

			start := time.Now()
			switch how {
			case "reconcile":
				res := in.reconcile()
				if res.Summary.Failed != 0 {
					t.Fatalf("reconcile after crash: %+v", res)
				}
			case "daemon restart":
				// As systemd's Restart=always would: the new daemon reads the
				// state file and heals at start.
				in.startDaemon()
			}
			for _, c := range f.containers {
				for {
					got, msg := meminfoTotal(t, c)
					if got == kb256MiB {
						break
					}
					if time.Since(start) > 5*time.Second {
						b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", c.pid))
						t.Logf("mountinfo:\n%s", b)
						t.Fatalf("container %d not healed within 5s: %d %s\nlog:\n%s", c.pid, got, msg, in.log())
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			t.Logf("%s: all 5 containers healed in %v", how, time.Since(start).Round(time.Millisecond))
			for i, c := range f.containers {
				if got := procStart(t, c.pid); got != was[i].start {
					t.Errorf("container %d was restarted", c.pid)
				}
				if got := otherMounts(t, c.pid); got != was[i].mounts {
					t.Errorf("container %d: other mounts changed:\n%s\n---\n%s", c.pid, was[i].mounts, got)
				}
				mounts := lxmountMounts(t, c.pid)
				seen := map[string]int{}
				for _, m := range mounts {
					seen[m]++
				}
				for m, n := range seen {
					if n != 1 {
						t.Errorf("container %d: %s mounted %d times (dead mounts left)", c.pid, m, n)
					}
				}
			}
			if res := in.reconcile(); res.Summary != (supervisor.Summary{Unchanged: 5}) {
				t.Errorf("reconcile after healing changed something: %+v", res.Summary)
			}
		})
	}
}

// procStart is a process's start time (field 22 of /proc/<pid>/stat).
func procStart(t testing.TB, pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("stat of %d: %v", pid, err)
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+2:])[19]
}

// startReader runs a loop reading /proc/meminfo in the container's mount
// namespace for the rest of the test. It stays in the host's PID namespace
// (no -p: nsenter then execs instead of forking), so it is our child and
// is killed by its PID.
func startReader(t *testing.T, c attachCase) {
	cmd := exec.Command("nsenter", "-t", strconv.Itoa(c.pid), "-m", "--", "sh", "-c",
		"while :; do head -1 /proc/meminfo >/dev/null 2>&1; sleep 0.02; done")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start reader: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}
