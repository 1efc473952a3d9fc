package integration

// sysinfo(2) through seccomp user notification (issue 14): containers
// created through lxmount-runc get a notify rule for sysinfo, and the
// daemon answers with the container's memory, swap, uptime and load, the
// values of the container's own /proc files. A C program built statically
// into the rootfs (testdata/sysinfo_probe.c) calls it.

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// probePath is where the probe lands in a rootfs.
const probePath = "/sysinfo_probe"

var (
	probeOnce sync.Once
	probeBin  string
	probeErr  error
)

// prebuiltProbe is where the cgroup v2 VM, which has no gcc, carries the
// probe (integration/v2vm/run.sh builds it).
const prebuiltProbe = "/v2vm/bin/sysinfo_probe"

// sysinfoProbe compiles testdata/sysinfo_probe.c once, statically (or
// uses the VM's prebuilt one).
func sysinfoProbe(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(prebuiltProbe); err == nil {
		return prebuiltProbe
	}
	requireCommands(t, "gcc")
	probeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lxmount-probe-")
		if err != nil {
			probeErr = err
			return
		}
		probeBin = filepath.Join(dir, "sysinfo_probe")
		out, err := exec.Command("gcc", "-static", "-O2", "-pthread", "-o", probeBin, "testdata/sysinfo_probe.c").CombinedOutput()
		if err != nil {
			probeErr = fmt.Errorf("gcc -static: %v: %s", err, out)
		}
	})
	if probeErr != nil {
		t.Fatal(probeErr)
	}
	return probeBin
}

// installProbe copies the probe into rootfs.
func installProbe(t testing.TB, rootfs string) {
	t.Helper()
	b, err := os.ReadFile(sysinfoProbe(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, probePath), b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// bundleRootfs returns the root file system of c's bundle.
func bundleRootfs(t testing.TB, c *RuncContainer) string {
	t.Helper()
	var spec struct {
		Root struct {
			Path string `json:"path"`
		} `json:"root"`
	}
	b, err := os.ReadFile(filepath.Join(c.Bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	if filepath.IsAbs(spec.Root.Path) {
		return spec.Root.Path
	}
	return filepath.Join(c.Bundle, spec.Root.Path)
}

// probeReading is one `sysinfo_probe once`: sysinfo's fields and the
// container's /proc files read right after.
type probeReading struct {
	si      map[string]string
	meminfo map[string]uint64 // kB
	uptime  float64
	loadavg []float64
}

var probeLine = regexp.MustCompile(`(\w+)=([\d,]+)`)

func parseProbe(t testing.TB, out string) probeReading {
	t.Helper()
	r := probeReading{si: map[string]string{}, meminfo: map[string]uint64{}}
	section := ""
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "sysinfo "):
			for _, m := range probeLine.FindAllStringSubmatch(line, -1) {
				r.si[m[1]] = m[2]
			}
		case strings.HasPrefix(line, "== "):
			section = strings.TrimPrefix(line, "== ")
		case section == "/proc/meminfo":
			f := strings.Fields(line)
			if len(f) >= 2 {
				v, _ := strconv.ParseUint(f[1], 10, 64)
				r.meminfo[strings.TrimSuffix(f[0], ":")] = v
			}
		case section == "/proc/uptime" && line != "":
			r.uptime, _ = strconv.ParseFloat(strings.Fields(line)[0], 64)
		case section == "/proc/loadavg" && line != "":
			for _, f := range strings.Fields(line)[:3] {
				v, _ := strconv.ParseFloat(f, 64)
				r.loadavg = append(r.loadavg, v)
			}
		}
	}
	if len(r.si) == 0 || r.meminfo["MemTotal"] == 0 {
		t.Fatalf("probe printed no sysinfo or meminfo:\n%s", out)
	}
	return r
}

func (r probeReading) u(t testing.TB, name string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(r.si[name], 10, 64)
	if err != nil {
		t.Fatalf("sysinfo %s = %q", name, r.si[name])
	}
	return v
}

// wantAgrees checks that sysinfo says what the container's /proc files
// say: totalram is MemTotal (the limit), freeram MemFree and the swap
// fields SwapTotal/SwapFree within what moves between the reads, uptime
// /proc/uptime within a second, loads /proc/loadavg's.
func (r probeReading) wantAgrees(t testing.TB, limit uint64) {
	t.Helper()
	unit := r.u(t, "mem_unit")
	kb := func(name string) uint64 { return r.u(t, name) * unit / 1024 }
	if kb("totalram") != limit/1024 || r.meminfo["MemTotal"] != limit/1024 {
		t.Errorf("totalram %d kB, MemTotal %d kB, want both %d kB (the limit)", kb("totalram"), r.meminfo["MemTotal"], limit/1024)
	}
	const slack = 4 << 10 // kB: what usage moves between the two reads
	if d := int64(kb("freeram")) - int64(r.meminfo["MemFree"]); d > slack || d < -slack || kb("freeram") > kb("totalram") {
		t.Errorf("freeram %d kB, MemFree %d kB", kb("freeram"), r.meminfo["MemFree"])
	}
	if kb("totalswap") != r.meminfo["SwapTotal"] {
		t.Errorf("totalswap %d kB, SwapTotal %d kB", kb("totalswap"), r.meminfo["SwapTotal"])
	}
	if kb("bufferram") != r.meminfo["Buffers"] {
		t.Errorf("bufferram %d kB, Buffers %d kB", kb("bufferram"), r.meminfo["Buffers"])
	}
	up := float64(r.u(t, "uptime"))
	if math.Abs(up-r.uptime) > 1.01 || r.uptime > 60 {
		t.Errorf("sysinfo uptime %v s, /proc/uptime %v s: want them within a second, under a minute", up, r.uptime)
	}
	for i, f := range strings.Split(r.si["loads"], ",") {
		l, _ := strconv.ParseFloat(f, 64)
		if l = l / 65536; math.Abs(l-r.loadavg[i]) > 0.011 {
			t.Errorf("load %d: sysinfo %.2f, /proc/loadavg %.2f", i, l, r.loadavg[i])
		}
	}
	if p := r.u(t, "procs"); p == 0 || p > 50 {
		t.Errorf("procs %d, want the container's few tasks", p)
	}
}

// TestSysinfoRunc: runc through lxmount-runc: the bundle's profile gets
// the notify rule and the listener, and the probe's sysinfo agrees with
// its /proc, at its first instruction.
func TestSysinfoRunc(t *testing.T) {
	script := probePath + " once"
	if d := os.Getenv("DEBUG_SCRIPT"); d != "" {
		script = d
	}
	c := hookBundle(t, "sysinfo", hookMemLimit, 100000, 100000, script)
	installProbe(t, bundleRootfs(t, c))
	in := newHookInstance(t, "", c.CgroupPath)
	out, stderr, err := runWrapped(t, c, nil, "--lxmount-config", in.config)
	if err != nil {
		t.Fatalf("lxmount-runc run: %v\nstdout: %s\nstderr: %s\ndaemon log:\n%s\nholder log:\n%s", err, out, stderr, in.log(), holderLog(in))
	}
	t.Logf("probe:\n%s", firstLines(out, 4))
	parseProbe(t, out).wantAgrees(t, hookMemLimit)
	var spec struct {
		Linux struct {
			Seccomp struct {
				ListenerPath string `json:"listenerPath"`
			} `json:"seccomp"`
		} `json:"linux"`
	}
	b, _ := os.ReadFile(filepath.Join(c.Bundle, "config.json"))
	json.Unmarshal(b, &spec)
	if want := filepath.Join(in.stateDir, "seccomp.sock"); spec.Linux.Seccomp.ListenerPath != want {
		t.Errorf("listenerPath %q, want %q", spec.Linux.Seccomp.ListenerPath, want)
	}
}

// TestSysinfoOff: sysinfo = false in lxmount.toml leaves the profile
// alone: the host's sysinfo.
func TestSysinfoOff(t *testing.T) {
	c := hookBundle(t, "sysinfooff", hookMemLimit, 100000, 100000, probePath+" once")
	installProbe(t, bundleRootfs(t, c))
	in := newHookInstance(t, "sysinfo = false\n", c.CgroupPath)
	out, stderr, err := runWrapped(t, c, nil, "--lxmount-config", in.config)
	if err != nil {
		t.Fatalf("lxmount-runc run: %v\nstderr: %s", err, stderr)
	}
	r := parseProbe(t, out)
	if r.u(t, "totalram")*r.u(t, "mem_unit") == hookMemLimit {
		t.Errorf("sysinfo = false, yet totalram is the limit")
	}
	b, _ := os.ReadFile(filepath.Join(c.Bundle, "config.json"))
	if strings.Contains(string(b), "SCMP_ACT_NOTIFY") {
		t.Errorf("sysinfo = false, yet config.json has a notify rule")
	}
}

func holderLog(in *instance) string {
	b, _ := os.ReadFile(filepath.Join(in.stateDir, "seccomp-holder.log"))
	return string(b)
}

func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	if len(l) > n {
		l = l[:n]
	}
	return strings.Join(l, "\n")
}

// TestSysinfoDaemonKill: a container calling sysinfo every 100 ms while
// its daemon is killed with SIGKILL and a new one started never gets an
// error nor the host's values: its calls wait in the kernel while the
// fd holder keeps the notify fd, and the new daemon answers them.
func TestSysinfoDaemonKill(t *testing.T) {
	const calls = 80 // 8 s
	c := hookBundle(t, "sysinfokill", hookMemLimit, 100000, 100000, fmt.Sprintf("%s loop %d 100", probePath, calls))
	installProbe(t, bundleRootfs(t, c))
	in := newHookInstance(t, "", c.CgroupPath)
	in.startDaemon()
	type result struct {
		out, stderr string
		err         error
	}
	done := make(chan result, 1)
	go func() {
		o, e, err := runWrapped(t, c, nil, "--lxmount-config", in.config)
		done <- result{o, e, err}
	}()
	in.waitContainers(1, 10*time.Second)
	time.Sleep(1500 * time.Millisecond)
	pid := in.daemonPID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	for syscall.Kill(pid, 0) == nil && !isZombie(pid) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(time.Second) // calls wait meanwhile
	in.startDaemon()
	t.Logf("daemon %d killed; a new one answers after %s", pid, time.Since(killed).Round(time.Millisecond))
	r := <-done
	if r.err != nil {
		t.Fatalf("container: %v\nstderr: %s\nout:\n%s\ndaemon log:\n%s", r.err, r.stderr, r.out, in.log())
	}
	n, bad := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(r.out), "\n") {
		f := strings.Fields(line)
		n++
		if len(f) != 3 || f[0] != "ok" || f[1] != strconv.Itoa(hookMemLimit) {
			bad++
			t.Errorf("call %d: %q, want ok %d", n, line, hookMemLimit)
		}
	}
	if n != calls || bad != 0 {
		t.Errorf("%d calls, %d bad; want %d good", n, bad, calls)
	}
}

// TestSysinfoDocker: through a real dockerd with lxmount-runc as its
// default runtime (Docker's default seccomp profile gets the rule):
// busybox free shows the 128 MiB limit, busybox uptime the container's
// age and load, and the probe's sysinfo agrees with its /proc.
func TestSysinfoDocker(t *testing.T) {
	d, in := dockerWithLxmount(t)
	rootfs := buildBusyboxRootfs(t)
	installProbe(t, rootfs)
	const image = "docker.io/lxmount/busybox:sysinfo"
	d.ImportRootfs(t, rootfs, image)

	out := mustDocker(t, d, "run", "--rm", "--network", "none", "-m", "128m", image, "free")
	t.Logf("free:\n%s", out)
	var total, used, free uint64
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 4 && f[0] == "Mem:" {
			total, _ = strconv.ParseUint(f[1], 10, 64)
			used, _ = strconv.ParseUint(f[2], 10, 64)
			free, _ = strconv.ParseUint(f[3], 10, 64)
		}
	}
	if total != 131072 || used == 0 || free == 0 || used+free > total {
		t.Errorf("free: total %d used %d free %d, want total 131072 and used+free within it\n%s", total, used, free, in.log())
	}

	out = mustDocker(t, d, "run", "--rm", "--network", "none", "-m", "128m", image, "uptime")
	t.Logf("uptime: %s", out)
	if !regexp.MustCompile(`up 0 min,.*load average: 0\.\d\d, 0\.\d\d, 0\.\d\d`).MatchString(out) {
		t.Errorf("uptime %q, want up 0 min and the container's (idle) load", out)
	}

	out = mustDocker(t, d, "run", "--rm", "--network", "none", "-m", "128m", image, probePath, "once")
	t.Logf("probe:\n%s", firstLines(out, 4))
	parseProbe(t, out).wantAgrees(t, 128<<20)
}

// TestSysinfoCrun: crun through lxmount-runc: its listener gets the
// notify fd too, and the probe's sysinfo agrees with its /proc.
func TestSysinfoCrun(t *testing.T) {
	requireCgroupV1(t)
	c := hookBundle(t, "sysinfocrun", hookMemLimit, 100000, 100000, probePath+" once")
	installProbe(t, bundleRootfs(t, c))
	in := newHookInstance(t, "", c.CgroupPath)
	in.startDaemon()
	out, stderr, err := runWrapped(t, c, crunPrefix(t), "--lxmount-config", in.config, "--lxmount-runtime", "crun")
	if err != nil {
		t.Fatalf("crun run: %v\nstdout: %s\nstderr: %s\ndaemon log:\n%s", err, out, stderr, in.log())
	}
	t.Logf("probe:\n%s", firstLines(out, 4))
	parseProbe(t, out).wantAgrees(t, hookMemLimit)
}
