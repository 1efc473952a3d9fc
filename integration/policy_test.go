package integration

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuCount counts the processor blocks of /proc/cpuinfo inside a container.
func cpuCount(t *testing.T, c attachCase) int {
	t.Helper()
	out, err := c.exec("cat", "/proc/cpuinfo")
	if err != nil {
		t.Fatalf("cat /proc/cpuinfo: %v\n%s", err, out)
	}
	return strings.Count(out, "processor\t:")
}

// hostCPUs is the host's processor count.
func hostCPUs(t *testing.T) int {
	out, err := runCommand(false, "cat", "/proc/cpuinfo")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(out, "processor\t:")
}

const memOnlyPolicy = `[[policy]]
name = "memonly"
[policy.match]
cgroup = [%q]
[policy.files]
meminfo = true
cpuinfo = false
stat = false
uptime = false
loadavg = false
diskstats = false
swaps = false
cpu_online = false
pressure = false
`

const allPolicy = `[[policy]]
name = "all"
[policy.match]
cgroup = [%q]
`

// TestPoliciesChooseFiles: two containers under different policies see
// different files, and a reload (SIGHUP) changes an attached container's
// view in place; a bad reload keeps the last good policies.
func TestPoliciesChooseFiles(t *testing.T) {
	requireRoot(t)
	requireCgroup(t)
	if hostCPUs(t) < 2 {
		skipOrFail(t, "needs 2 CPUs to tell a 0.5 CPU view from the host's")
	}
	var cs []attachCase
	for _, name := range []string{"pola", "polb"} {
		cg := newCgroup(t, name, limit256MiB, 50000, 100000) // 0.5 CPU -> 1 visible CPU
		p := startNamespaced(t, cg)
		cs = append(cs, attachCase{pid: p.PID, cgroup: cg.Path,
			exec: func(args ...string) (string, error) { return p.Exec(t, args...) },
			kill: func() { _ = syscall.Kill(p.PID, syscall.SIGKILL) }})
	}
	a, b := cs[0], cs[1]
	in := newInstance(t, "")
	in.writePolicy("10-test.toml", fmt.Sprintf(memOnlyPolicy, a.cgroup)+"\n"+fmt.Sprintf(allPolicy, b.cgroup))
	in.startDaemon()
	if res := in.reconcile(); res.Summary.Attached != 2 {
		t.Fatalf("reconcile: %+v\n%s", res, in.log())
	}
	host := hostCPUs(t)
	if got, _ := meminfoTotal(t, a); got != kb256MiB {
		t.Errorf("memonly container: MemTotal %d", got)
	}
	if got := cpuCount(t, a); got != host {
		t.Errorf("memonly container sees %d CPUs, want the host's %d (cpuinfo not virtualized)", got, host)
	}
	if got := cpuCount(t, b); got != 1 {
		t.Errorf("all-files container sees %d CPUs, want 1", got)
	}
	if got := len(lxmountMounts(t, a.pid)); got != 1 {
		t.Errorf("memonly container has %d lxmount mounts, want 1", got)
	}
	// explain says why.
	out := in.mustRun("policy", "explain", strconv.Itoa(a.pid))
	if !strings.Contains(out, "memonly") {
		t.Errorf("policy explain: %q", out)
	}

	// Reload: memonly gains cpuinfo; SIGHUP applies it to the attached container.
	in.writePolicy("10-test.toml", strings.Replace(fmt.Sprintf(memOnlyPolicy, a.cgroup), "cpuinfo = false", "cpuinfo = true", 1)+"\n"+fmt.Sprintf(allPolicy, b.cgroup))
	if err := syscall.Kill(in.daemonPID(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "cpuinfo virtualized after reload", func() bool { return cpuCount(t, a) == 1 })
	if got, _ := meminfoTotal(t, a); got != kb256MiB {
		t.Errorf("after reload: MemTotal %d", got)
	}

	// A bad file on reload: the last good policies stay, status says why.
	in.writePolicy("20-bad.toml", "[[policy]]\nname = \"bad\"\n[policy.files]\nmemifo = true\n")
	if err := syscall.Kill(in.daemonPID(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "policy error in status", func() bool { return in.status().Daemon.PolicyError != "" })
	if perr := in.status().Daemon.PolicyError; !strings.Contains(perr, "20-bad.toml:4:1") || !strings.Contains(perr, "memifo") {
		t.Errorf("policy error %q does not name file:line:col and the key", perr)
	}
	if got := cpuCount(t, a); got != 1 {
		t.Errorf("after a bad reload the view changed: %d CPUs", got)
	}
	if n := len(in.status().Containers); n != 2 {
		t.Errorf("after a bad reload %d containers attached, want 2", n)
	}
	// policy check shows the same error, one line per problem, exit 1.
	_, se, code := in.run("policy", "check")
	if code != 1 || !strings.Contains(se, "20-bad.toml:4:1") {
		t.Errorf("policy check: exit %d, %q", code, se)
	}
}

// TestDaemonRefusesBadConfig: a daemon that finds a bad file at start
// refuses to start and says where.
func TestDaemonRefusesBadConfig(t *testing.T) {
	requireRoot(t)
	in := newInstance(t, "")
	in.writePolicy("10-bad.toml", "[[policy]]\nname = \"x\"\n[policy.cpu]\nview = \"quotas\"\n")
	_, se, code := in.run("daemon")
	if code != 1 || !strings.Contains(se, "10-bad.toml:4:1") || !strings.Contains(se, "quota") {
		t.Errorf("daemon with a bad policy: exit %d, stderr %q", code, se)
	}
	if in.daemonPID() != 0 {
		t.Errorf("a daemon started anyway")
	}
}

// TestAttachNamedPolicy: attach --policy applies a policy that does not
// match the container by its rules.
func TestAttachNamedPolicy(t *testing.T) {
	c := namespacedCase(t)
	in := newInstance(t, "") // its policy matches nothing
	in.writePolicy("20-mem.toml", fmt.Sprintf(memOnlyPolicy, "/nothing-here"))
	in.startDaemon()
	_, se, code := in.run("attach", strconv.Itoa(c.pid))
	if code != 1 || !strings.Contains(se, "no policy matches") {
		t.Errorf("attach without a matching policy: exit %d, %q", code, se)
	}
	out := in.mustRun("attach", strconv.Itoa(c.pid), "--policy", "memonly")
	if !strings.Contains(out, "files meminfo\n") {
		t.Errorf("attach --policy memonly printed %q", out)
	}
}

func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
