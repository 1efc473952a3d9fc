package testenv

// What the runtime harnesses (dockerd.go, containerd.go, podman.go) share:
// a daemon process started and stopped by its own PID, processes found by a
// command-line argument only this test's daemon uses, mounts lazily
// unmounted under this test's directories, and cgroup trees removed under a
// parent only this test uses.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// commandTimeout bounds every client command a harness runs (docker, ctr,
// podman), so a hung daemon fails the test instead of eating the whole
// `go test -timeout`.
const commandTimeout = 60 * time.Second

// stopGrace is how long a daemon gets between SIGTERM and SIGKILL.
const stopGrace = 10 * time.Second

// cgroupFSRoot is where every cgroup hierarchy (v1 controllers, name=systemd,
// the cgroup2 "unified" mount) has its directory.
const cgroupFSRoot = "/sys/fs/cgroup"

// daemon is a long-running process a harness started: its PID, its start
// time (so a reused PID is never signalled) and, for a direct child, the
// channel closed when Wait returns.
type daemon struct {
	name  string
	pid   int
	start uint64
	done  chan struct{} // nil for a process that is not our child
	log   string        // its log file, shown when it fails
}

// startDaemon starts path args with stdout and stderr appended to logPath,
// in its own process group so a ^C of `go test` reaches the harness's
// cleanup first, not the daemon. If the test binary dies without running
// its cleanups (a -timeout panic, SIGKILL), the daemon gets SIGTERM
// (Pdeathsig, see startLocked) and shuts down what it can.
func startDaemon(name, logPath, path string, args []string, env []string) (*daemon, error) {
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	c := exec.Command(path, args...)
	c.Stdout, c.Stderr = logFile, logFile
	if env != nil {
		c.Env = append(os.Environ(), env...)
	}
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := startLocked(c); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d := &daemon{name: name, pid: c.Process.Pid, done: make(chan struct{}), log: logPath}
	d.start, _ = procStartTime(d.pid) // 0 if it already died: alive() then says so
	go func() {
		_ = c.Wait()
		close(d.done)
	}()
	return d, nil
}

// spawner is the goroutine startLocked starts processes on, locked to its
// OS thread for the life of the test binary: the kernel sends a child's
// Pdeathsig when the thread that forked it exits, and the Go runtime ends
// a thread whenever a goroutine locked to it returns (this project's
// mountns code does that), so a daemon forked from an ordinary goroutine's
// thread could be signalled in the middle of a test. Process-wide on
// purpose: one thread serves every harness.
var spawner struct {
	once sync.Once
	reqs chan spawnReq
}

// spawnReq asks the spawner to Start cmd and send the result on done.
type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

// startLocked runs c.Start on the spawner's thread.
func startLocked(c *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for r := range spawner.reqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error)
	spawner.reqs <- spawnReq{c, done}
	return <-done
}

// alive reports whether the process still runs (a zombie counts as gone)
// and is the one started, not a later process with its PID.
func (d *daemon) alive() bool {
	if d.done != nil {
		select {
		case <-d.done:
			return false
		default:
		}
	}
	st, err := readProcStat(d.pid)
	return err == nil && st.start == d.start && st.state != 'Z'
}

// stop sends SIGTERM, waits up to grace, then SIGKILL, and waits up to 5 s
// more. It returns an error if SIGKILL was needed or the process survived it.
func (d *daemon) stop(grace time.Duration) error {
	if !d.alive() {
		return nil
	}
	_ = syscall.Kill(d.pid, syscall.SIGTERM)
	if d.waitGone(grace) {
		return nil
	}
	killErr := fmt.Errorf("%s (pid %d) still running %v after SIGTERM: killed", d.name, d.pid, grace)
	if d.alive() {
		_ = syscall.Kill(d.pid, syscall.SIGKILL)
	}
	if !d.waitGone(5 * time.Second) {
		return fmt.Errorf("%s (pid %d) survived SIGKILL", d.name, d.pid)
	}
	return killErr
}

// waitGone polls until the process is gone or timeout passes.
func (d *daemon) waitGone(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for d.alive() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// exited reports whether a daemon that is our child has exited.
func (d *daemon) exited() bool {
	return d.done != nil && !d.alive()
}

// logTail returns the last n lines of the daemon's log.
func (d *daemon) logTail(n int) string {
	return fileTail(d.log, n)
}

// fileTail returns the last n lines of the file at path (or why not).
func fileTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// procStat is what the harnesses read from /proc/<pid>/stat.
type procStat struct {
	state byte
	ppid  int
	start uint64 // starttime, field 22, in clock ticks since boot
}

// readProcStat parses /proc/<pid>/stat (proc(5)); the comm field, in
// parentheses, may hold spaces and parentheses, so fields are counted from
// its last ')':
//
//	1234 (containerd) S 1230 ... 22:starttime ...
//	 1       2        3   4
func readProcStat(pid int) (procStat, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/stat"
	b, err := os.ReadFile(path)
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("%s: no ')' in %q", path, b)
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("%s: %d fields after comm, want >= 20", path, len(f))
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procStat{}, fmt.Errorf("%s: ppid %q: %w", path, f[1], err)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("%s: starttime %q: %w", path, f[19], err)
	}
	return procStat{state: f[0][0], ppid: ppid, start: start}, nil
}

// procStartTime returns the start time of process pid (readProcStat).
func procStartTime(pid int) (uint64, error) {
	st, err := readProcStat(pid)
	return st.start, err
}

// Proc is a process found by FindProcs.
type Proc struct {
	PID  int
	Argv []string
}

// FindProcs returns the live (not zombie) processes whose argv has an
// argument containing substr. The harnesses look for what their own daemons
// started with a substring only they use (their socket address, their
// storage root), so this never matches another test's or the host's
// processes.
func FindProcs(substr string) ([]Proc, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var found []Proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || len(b) == 0 {
			continue // gone, or a kernel thread
		}
		argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		for _, a := range argv {
			if strings.Contains(a, substr) {
				if st, err := readProcStat(pid); err == nil && st.state != 'Z' {
					found = append(found, Proc{PID: pid, Argv: argv})
				}
				break
			}
		}
	}
	return found, nil
}

// killProcs SIGKILLs the live processes FindProcs(substr) returns and
// reports each as an error: after a clean shutdown there are none.
func killProcs(t testing.TB, what, substr string) {
	t.Helper()
	procs, err := FindProcs(substr)
	if err != nil {
		t.Errorf("%s cleanup: %v", what, err)
	}
	for _, p := range procs {
		t.Errorf("%s cleanup: pid %d still running, killing it: %q", what, p.PID, p.Argv)
		if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s cleanup: kill %d: %v", what, p.PID, err)
		}
	}
}

// MountsUnder returns the mount points (in the caller's mount namespace) at
// or under any of dirs, deepest first.
func MountsUnder(dirs ...string) ([]string, error) {
	var points []string
	for _, dir := range dirs {
		infos, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
		if err != nil {
			return nil, err
		}
		for _, m := range infos {
			points = append(points, m.Mountpoint)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	return points, nil
}

// unmountUnder lazily unmounts (MNT_DETACH) everything mounted at or under
// dirs, deepest first, and returns the mount points it unmounted. A mount
// point stacked twice is unmounted until it is gone.
func unmountUnder(dirs ...string) ([]string, error) {
	var done []string
	for round := 0; round < 8; round++ {
		points, err := MountsUnder(dirs...)
		if err != nil || len(points) == 0 {
			return done, err
		}
		for _, p := range points {
			if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				return done, &os.PathError{Op: "umount", Path: p, Err: err}
			}
			done = append(done, p)
		}
	}
	return done, fmt.Errorf("mounts under %v still there after 8 rounds of unmounting", dirs)
}

// removeTree unmounts what is left under dir (logged: a daemon that shut
// down cleanly leaves nothing) and removes it.
func removeTree(t testing.TB, what, dir string) {
	t.Helper()
	left, err := unmountUnder(dir)
	if err != nil {
		t.Errorf("%s cleanup: %v", what, err)
	}
	if len(left) > 0 {
		t.Logf("%s cleanup: unmounted leftovers (MNT_DETACH): %v", what, left)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Errorf("%s cleanup: %v", what, err)
	}
}

// CgroupDirs returns the directories of the cgroup rel (a path relative to
// each hierarchy's root, e.g. "/lxmount-test-docker-1a2b3c4d") that exist in
// any hierarchy under /sys/fs/cgroup, v1, name=systemd and cgroup2 alike.
func CgroupDirs(rel string) []string {
	if rel == "" || rel == "/" || strings.Contains(rel, "..") {
		return nil
	}
	var dirs []string
	hier, _ := filepath.Glob(filepath.Join(cgroupFSRoot, "*"))
	for _, h := range hier {
		real, err := filepath.EvalSymlinks(h)
		if err != nil || real != h {
			continue // cpu,cpuacct-style symlinks name a hierarchy twice
		}
		d := filepath.Join(h, rel)
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// removeCgroupTree removes the cgroup rel and every group below it in every
// hierarchy, SIGKILLing processes still in them first. rel must be a cgroup
// only this test creates (a parent named lxmount-test-...-<random>): a
// runtime removes a container's own group but leaves the parents it made.
func removeCgroupTree(t testing.TB, what, rel string) {
	t.Helper()
	for _, top := range CgroupDirs(rel) {
		var dirs []string
		_ = filepath.WalkDir(top, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for _, d := range dirs {
			pids, _ := readCgroupProcs(filepath.Join(d, "cgroup.procs"))
			for _, pid := range pids {
				t.Errorf("%s cleanup: pid %d still in cgroup %s, killing it", what, pid, d)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		for i := len(dirs) - 1; i >= 0; i-- { // children before parents
			if err := RmdirRetry(dirs[i], 5*time.Second); err != nil {
				t.Errorf("%s cleanup: %v", what, err)
			}
		}
	}
}

// readCgroupProcs parses a cgroup.procs file: one PID a line.
func readCgroupProcs(path string) ([]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%s: bad pid %q", path, f)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// runClient runs a client command (docker, ctr, podman) under
// commandTimeout with extra environment env and returns its stdout and
// stderr; a failure's error carries the command line and exit status.
func runClient(env []string, name string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, name, args...)
	if env != nil {
		c.Env = append(os.Environ(), env...)
	}
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	c.WaitDelay = 5 * time.Second // a daemonized grandchild may keep the pipes
	if err := c.Run(); err != nil {
		return out.String(), errb.String(), fmt.Errorf("%s: %w; stderr: %s", strings.Join(c.Args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), errb.String(), nil
}

// randomHex returns n random bytes as hex, for names no other test uses.
func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}

// shortTempDir makes a directory under /tmp with a short name, for daemons
// whose unix socket paths must stay under the 108-byte sun_path limit
// (t.TempDir's names carry the test name). The caller removes it.
func shortTempDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	return dir
}

// waitUntil calls ok every 50 ms until it returns true, stop returns true
// (the daemon died) or timeout passes.
func waitUntil(timeout time.Duration, ok func() bool, stop func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if ok() {
			return true
		}
		if (stop != nil && stop()) || time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hostDirs are directories outside a harness's own that its daemons create
// when missing, with no setting to move them (paths hard-coded in
// containerd 1.6 and Docker 20.10), deepest first.
var hostDirs = []string{
	"/run/containerd/s",    // shim sockets (shimSocketDir)
	"/run/containerd/fifo", // ctr's stdio fifos without --fifo-dir
	"/run/containerd/runc", // runc state of the v2 shim without --runc-root
	"/run/containerd",      //
	"/run/docker/plugins",  // dockerd's plugin exec root (getPluginExecRoot)
	"/run/docker",          //
	"/run/runc",            // runc's default --root (podman passes none)
	"/run/crun",            // crun's default --root
	"/etc/docker",          // dockerd's config directory, made for key.json
	"/opt/containerd/bin",  // containerd's opt plugin (configured away here)
	"/opt/containerd/lib",  //
	"/opt/containerd",      //
	"/var/lib/containers",  // podman's storage (configured away here)
	"/etc/cni/net.d",       // podman's CNI config (configured away here)
}

// missingHostDirs returns the hostDirs that do not exist now.
func missingHostDirs() map[string]bool {
	missing := map[string]bool{}
	for _, d := range hostDirs {
		if _, err := os.Lstat(d); errors.Is(err, os.ErrNotExist) {
			missing[d] = true
		}
	}
	return missing
}

// removeHostDirs removes, deepest first, the hostDirs that were in missing
// (did not exist before the harness started) and are empty now: a harness
// leaves the host as it found it. It removes nothing while another engine
// process runs (another test's daemon, which may be about to use one of
// them), and one in use is not empty and stays.
func removeHostDirs(t testing.TB, missing map[string]bool) {
	t.Helper()
	if len(missing) == 0 {
		return
	}
	if others := engineProcs(); len(others) > 0 {
		t.Logf("not removing %v: other engine processes run: %v", keys(missing), others)
		return
	}
	for _, d := range hostDirs {
		if !missing[d] {
			continue
		}
		if err := syscall.Rmdir(d); err == nil {
			t.Logf("removed %s, which this test's daemons created", d)
		}
	}
}

// engineNames are the comm names (at most 15 bytes, proc(5)) of the
// processes whose presence keeps removeHostDirs from removing anything.
var engineNames = map[string]bool{
	"containerd": true, "containerd-shim": true, "dockerd": true,
	"conmon": true, "podman": true, "runc": true, "crun": true,
}

// engineProcs returns "comm:pid" of the live processes named in engineNames.
func engineProcs() []string {
	ents, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		name := strings.TrimSpace(string(comm))
		if err != nil || !engineNames[name] {
			continue
		}
		if st, err := readProcStat(pid); err == nil && st.state != 'Z' {
			found = append(found, name+":"+e.Name())
		}
	}
	return found
}

// keys returns m's keys, sorted.
func keys(m map[string]bool) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}
