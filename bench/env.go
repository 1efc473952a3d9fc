package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lxmount/lxmount/internal/testenv"
)

// The throwaway world of one run: cgroups, containers, LXCFS, the trivial
// server, lxmount daemons. Everything is created under names and PIDs this
// run owns, and env.cleanup undoes it in reverse order.

const cgroupRoot = "/sys/fs/cgroup"

// controllers are the v1 hierarchies a bench cgroup has a directory in:
// the ones lxmount and LXCFS read.
var controllers = []string{"memory", "cpu", "cpuacct", "cpuset", "blkio", "pids"}

// env tracks what to undo.
type env struct {
	mu       sync.Mutex
	cleanups []func()
	logf     func(format string, args ...any)
}

// onCleanup registers f to run at cleanup, last registered first.
func (e *env) onCleanup(f func()) {
	e.mu.Lock()
	e.cleanups = append(e.cleanups, f)
	e.mu.Unlock()
}

// cleanup runs the registered cleanups once.
func (e *env) cleanup() {
	e.mu.Lock()
	fs := e.cleanups
	e.cleanups = nil
	e.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// cgroup is one bench cgroup: its path relative to each hierarchy root and
// its directory per controller.
type cgroup struct {
	Path string
	Dirs []string // one per controller, in controllers order
}

// dirList is the group's directories, comma-separated (lxmount-bench read -cgroup).
func (cg *cgroup) dirList() string { return strings.Join(cg.Dirs, ",") }

// limits of a bench cgroup.
type limits struct {
	memBytes  int64 // memory.limit_in_bytes; 0: unlimited
	cpuQuota  int64 // cpu.cfs_quota_us; 0: unlimited
	cpuPeriod int64 // cpu.cfs_period_us; 0: kernel default
}

// newCgroup creates path in every controller with the given limits; the
// cleanup kills what is left in it and removes it.
func (e *env) newCgroup(path string, l limits) (*cgroup, error) {
	cg := &cgroup{Path: path}
	e.onCleanup(func() { e.removeCgroup(cg) })
	for _, ctrl := range controllers {
		dir := filepath.Join(cgroupRoot, ctrl, path)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create cgroup: %w", err)
		}
		cg.Dirs = append(cg.Dirs, dir)
	}
	cpuset := cg.dir("cpuset")
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		parent, err := os.ReadFile(filepath.Join(filepath.Dir(cpuset), f))
		if err != nil {
			return nil, err
		}
		if err := writeFile(filepath.Join(cpuset, f), strings.TrimSpace(string(parent))); err != nil {
			return nil, err
		}
	}
	if l.memBytes > 0 {
		if err := writeFile(filepath.Join(cg.dir("memory"), "memory.limit_in_bytes"), strconv.FormatInt(l.memBytes, 10)); err != nil {
			return nil, err
		}
	}
	if l.cpuPeriod > 0 {
		if err := writeFile(filepath.Join(cg.dir("cpu"), "cpu.cfs_period_us"), strconv.FormatInt(l.cpuPeriod, 10)); err != nil {
			return nil, err
		}
	}
	if l.cpuQuota > 0 {
		if err := writeFile(filepath.Join(cg.dir("cpu"), "cpu.cfs_quota_us"), strconv.FormatInt(l.cpuQuota, 10)); err != nil {
			return nil, err
		}
	}
	return cg, nil
}

func (cg *cgroup) dir(ctrl string) string {
	for i, c := range controllers {
		if c == ctrl {
			return cg.Dirs[i]
		}
	}
	return ""
}

func writeFile(path, value string) error {
	if err := os.WriteFile(path, []byte(value), 0); err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}

// removeCgroup kills the processes still in cg (only they: the group is
// ours), waits for it to empty and removes its directories.
func (e *env) removeCgroup(cg *cgroup) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		pids := cgroupPIDs(cg)
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			e.logf("cleanup: cgroup %s still has processes %v", cg.Path, pids)
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := len(cg.Dirs) - 1; i >= 0; i-- {
		if err := testenv.RmdirRetry(cg.Dirs[i], 5*time.Second); err != nil {
			e.logf("cleanup: %v", err)
		}
	}
}

func cgroupPIDs(cg *cgroup) []int {
	var pids []int
	for _, d := range cg.Dirs {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// container is a minimal container: `unshare -m -p -f --mount-proc sleep`
// in its own cgroup. Init is the sleep, PID 1 of the new PID namespace.
type container struct {
	Cgroup *cgroup
	Init   int       // host PID of the container's init
	cmd    *exec.Cmd // the unshare parent
}

// joinScript moves the shell into the cgroups named by its first $1
// arguments, then execs the rest: the container starts inside its group.
const joinScript = `n=$1; shift
while [ "$n" -gt 0 ]; do echo $$ > "$1/cgroup.procs" || exit 125; shift; n=$((n-1)); done
exec "$@"`

// startContainer starts a container in cg and waits until its init runs
// sleep with its own /proc mounted.
func (e *env) startContainer(cg *cgroup) (*container, error) {
	args := []string{"-c", joinScript, "join", strconv.Itoa(len(cg.Dirs))}
	args = append(args, cg.Dirs...)
	args = append(args, "unshare", "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private", "--kill-child", "sleep", "1000000")
	cmd := exec.Command("/bin/sh", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &container{Cgroup: cg, cmd: cmd}
	e.onCleanup(func() {
		if c.Init > 0 {
			_ = syscall.Kill(c.Init, syscall.SIGKILL)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
		if f := strings.Fields(string(b)); len(f) == 1 {
			pid, _ := strconv.Atoi(f[0])
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			if strings.TrimSpace(string(comm)) == "sleep" {
				c.Init = pid
				return c, nil
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil, fmt.Errorf("container in %s did not start", cg.Path)
}

// nsFile is the container's mount namespace file.
func (c *container) nsFile() string { return fmt.Sprintf("/proc/%d/ns/mnt", c.Init) }

// startLXCFS runs lxcfs in the foreground on mnt with a private pidfile,
// with loadavg and CPU-view virtualization on (lxmount does both), and
// waits until it serves meminfo. It is stopped by PID at cleanup.
func (e *env) startLXCFS(bin, dir string) (string, error) {
	mnt := filepath.Join(dir, "lxcfs")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return "", err
	}
	logf, err := os.Create(filepath.Join(dir, "lxcfs.log"))
	if err != nil {
		return "", err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--foreground", "--enable-loadavg", "--enable-cfs", "--pidfile", filepath.Join(dir, "lxcfs.pid"), mnt)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start lxcfs: %w", err)
	}
	e.onCleanup(func() {
		stopProcess(cmd, 5*time.Second)
		_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(filepath.Join(mnt, "proc/meminfo")); err == nil && len(b) > 0 {
			return mnt, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	log, _ := os.ReadFile(logf.Name())
	return "", fmt.Errorf("lxcfs does not serve %s after 10s; its log: %s", mnt, log)
}

// stopProcess sends SIGTERM to a child we started, waits, then SIGKILL.
func stopProcess(cmd *exec.Cmd, grace time.Duration) {
	if cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

// startTrivial runs `lxmount-bench serve-trivial` on dir/trivial with one
// entry per file, each a copy of the host's file.
func (e *env) startTrivial(self, dir string, files []benchFile) (string, error) {
	mnt := filepath.Join(dir, "trivial")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return "", err
	}
	args := []string{"serve-trivial", "-dir", mnt}
	for _, f := range files {
		args = append(args, f.Name+"="+f.Native)
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	e.onCleanup(func() {
		stopProcess(cmd, 5*time.Second)
		_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
	})
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		return "", fmt.Errorf("trivial server did not start (%q)", line)
	}
	return mnt, nil
}
