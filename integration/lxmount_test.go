package integration

// Helpers that run the real lxmount binary, as an operator would.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lxmount/lxmount/internal/testenv"
	"github.com/lxmount/lxmount/supervisor"
)

// lxmountBin and wrapperBin (lxmount-runc, beside it, where it finds
// lxmount) are the binaries built once by TestMain.
var lxmountBin, wrapperBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "lxmount-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if prebuilt := os.Getenv("LXMOUNT_BIN"); prebuilt != "" {
		lxmountBin = prebuilt
		wrapperBin = filepath.Join(filepath.Dir(prebuilt), "lxmount-runc")
	} else {
		lxmountBin = filepath.Join(dir, "lxmount")
		wrapperBin = filepath.Join(dir, "lxmount-runc")
		// `go` may not be on PATH (sudo, CI): use the toolchain that built us.
		goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goBin); err != nil {
			goBin = "go"
		}
		for bin, pkg := range map[string]string{lxmountBin: "../cmd/lxmount", wrapperBin: "../cmd/lxmount-runc"} {
			out, err := exec.Command(goBin, "build", "-o", bin, pkg).CombinedOutput()
			if err != nil {
				fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
				return 1
			}
		}
	}
	return m.Run()
}

// instance is one lxmount daemon with its own socket and state dir.
type instance struct {
	t        testing.TB
	stateDir string
	socket   string
	config   string
}

// newInstance prepares a socket, a state dir and a config whose one policy
// matches only the given cgroup globs: tests run side by side with other
// tests' containers, which their daemon must leave alone. The daemon's own
// reconcile loop is off ("0s") unless interval says otherwise. No daemon
// runs yet. Cleanup stops whatever daemon wrote its PID file there (it is
// ours).
func newInstance(t testing.TB, interval string, cgroupGlobs ...string) *instance {
	t.Helper()
	dir := t.TempDir()
	in := &instance{t: t, stateDir: filepath.Join(dir, "state"), socket: filepath.Join(dir, "lxmount.sock"), config: filepath.Join(dir, "lxmount.toml")}
	if interval == "" {
		interval = "0s"
	}
	if len(cgroupGlobs) == 0 {
		cgroupGlobs = []string{"/lxmount-matches-nothing"}
	}
	in.writeConfig(fmt.Sprintf("reconcile_interval = %q\n", interval))
	in.writePolicy("10-test.toml", fmt.Sprintf("[[policy]]\nname = \"test\"\n[policy.match]\ncgroup = %s\n", tomlList(cgroupGlobs)))
	t.Cleanup(in.stopDaemon)
	return in
}

func (in *instance) writeConfig(body string) {
	in.t.Helper()
	if err := os.WriteFile(in.config, []byte(body), 0o644); err != nil {
		in.t.Fatal(err)
	}
}

// writePolicy writes a file into the config's policy.d.
func (in *instance) writePolicy(name, body string) {
	in.t.Helper()
	dir := filepath.Join(filepath.Dir(in.config), "policy.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		in.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		in.t.Fatal(err)
	}
}

func tomlList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// run runs `lxmount --socket S --state-dir D args...` and returns stdout,
// stderr and the exit code.
func (in *instance) run(args ...string) (string, string, int) {
	in.t.Helper()
	full := append([]string{"--socket", in.socket, "--state-dir", in.stateDir, "--config", in.config}, args...)
	cmd := exec.Command(lxmountBin, full...)
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			in.t.Fatalf("run lxmount %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return so.String(), se.String(), code
}

// mustRun runs lxmount and fails the test unless it exits 0.
func (in *instance) mustRun(args ...string) string {
	in.t.Helper()
	so, se, code := in.run(args...)
	if code != 0 {
		in.t.Fatalf("lxmount %v: exit %d\nstdout: %s\nstderr: %s\ndaemon log:\n%s", args, code, so, se, in.log())
	}
	return so
}

// startDaemon starts `lxmount daemon` in the background and waits until it
// answers.
func (in *instance) startDaemon() {
	in.t.Helper()
	if err := os.MkdirAll(in.stateDir, 0o700); err != nil {
		in.t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(in.stateDir, "daemon.log"))
	if err != nil {
		in.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(lxmountBin, "daemon", "--socket", in.socket, "--state-dir", in.stateDir, "--config", in.config, "--log-level", "debug")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		in.t.Fatal(err)
	}
	go cmd.Wait() // reap it; stopDaemon kills it by the PID in daemon.pid
	in.waitReady()
}

func (in *instance) waitReady() {
	in.t.Helper()
	cl := supervisor.NewClient(in.socket)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		// Ready once its spare instance is mounted, so that counts of
		// fds and mounts taken now include it; and idle: 100 ms after
		// its last request (vfs hotWindow) the spare's reader waits in
		// the Go poller on a duplicate of /dev/fuse, one descriptor more
		// than while it was hot.
		if st, err := cl.Status(); err == nil && st.Daemon.Spares == 1 {
			time.Sleep(300 * time.Millisecond)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	in.t.Fatalf("daemon does not answer on %s\nlog:\n%s", in.socket, in.log())
}

// daemonPID reads the PID file, 0 if there is none.
func (in *instance) daemonPID() int {
	b, err := os.ReadFile(filepath.Join(in.stateDir, supervisor.PIDFile))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// stopDaemon sends SIGTERM to our daemon (the PID in our state dir) and
// waits for it to go; SIGKILL after 10 s. Then it stops the seccomp holder
// of our state dir, which the daemon or lxmount-runc started and which
// outlives a daemon by design.
func (in *instance) stopDaemon() {
	in.stopDaemonProcess()
	in.stopHolders()
}

// stopHolders stops the `lxmount seccomp-holder` processes of our state
// dir (its --state-dir names it: no other test's matches): SIGTERM, then
// SIGKILL after 5 s.
func (in *instance) stopHolders() {
	procs, err := testenv.FindProcs(in.stateDir)
	if err != nil {
		in.t.Errorf("find seccomp holders: %v", err)
		return
	}
	for _, p := range procs {
		if !slices.Contains(p.Argv, "seccomp-holder") || !slices.Contains(p.Argv, in.stateDir) {
			continue
		}
		_ = syscall.Kill(p.PID, syscall.SIGTERM)
		deadline := time.Now().Add(5 * time.Second)
		for syscall.Kill(p.PID, 0) == nil && !isZombie(p.PID) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if syscall.Kill(p.PID, 0) == nil && !isZombie(p.PID) {
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
	}
}

func (in *instance) stopDaemonProcess() {
	pid := in.daemonPID()
	if pid <= 0 {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil || isZombie(pid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	in.t.Errorf("daemon %d ignored SIGTERM for 10s; killing it\nlog:\n%s", pid, in.log())
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] == 'Z'
}

func (in *instance) log() string {
	b, _ := os.ReadFile(filepath.Join(in.stateDir, "daemon.log"))
	return string(b)
}

// status returns the daemon's status via `lxmount status --json`.
func (in *instance) status() supervisor.Status {
	in.t.Helper()
	var st supervisor.Status
	out := in.mustRun("status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		in.t.Fatalf("status --json: %v\n%s", err, out)
	}
	return st
}

// waitContainers waits until the daemon has n attached containers.
func (in *instance) waitContainers(n int, within time.Duration) supervisor.Status {
	in.t.Helper()
	deadline := time.Now().Add(within)
	var st supervisor.Status
	for {
		st = in.status()
		if len(st.Containers) == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(st.Containers) != n {
		in.t.Fatalf("daemon has %d containers, want %d\nlog:\n%s", len(st.Containers), n, in.log())
	}
	return st
}

// daemonMounts counts the daemon's own FUSE mounts (under its state dir)
// in its namespace that serve containers: its spare (mnt/spare-N, mounted
// ahead of the next attach) is not counted. Other mounts it copied from
// the host when it made its namespace (other tests' instances) are not its.
func (in *instance) daemonMounts() int {
	in.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", in.daemonPID()))
	if err != nil {
		in.t.Fatalf("daemon mountinfo: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], in.stateDir+"/") && !isSpareDir(f[4]) {
			n++
		}
	}
	return n
}

// isSpareDir reports whether a mountpoint is one of the daemon's spare
// instances.
func isSpareDir(path string) bool { return strings.HasPrefix(filepath.Base(path), "spare-") }

// memTotalKB extracts MemTotal from meminfo text.
func memTotalKB(t testing.TB, meminfo string) int64 {
	t.Helper()
	for _, line := range strings.Split(meminfo, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			v, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatalf("bad MemTotal line %q", line)
			}
			return v
		}
	}
	t.Fatalf("no MemTotal in %q", meminfo)
	return 0
}

// freeTotalKB extracts the Mem: total column of procps `free -k`.
func freeTotalKB(t testing.TB, out string) int64 {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Mem:" {
			v, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatalf("bad free line %q", line)
			}
			return v
		}
	}
	t.Fatalf("no Mem: line in free output %q", out)
	return 0
}

// hostMemTotalKB is the host's MemTotal.
func hostMemTotalKB(t testing.TB) int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	return memTotalKB(t, string(b))
}
