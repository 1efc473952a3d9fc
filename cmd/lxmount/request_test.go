package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// runArgsEnv makes the test binary run the CLI with these arguments
// (separated by 0x1f) instead of the tests: TestStatusPermissionDenied runs it
// as another user.
const runArgsEnv = "LXMOUNT_TEST_RUN_ARGS"

// TestMain runs the CLI for runArgsEnv. A test binary started as
// `<binary> daemon ...` (by a command that starts a daemon) exits at once
// instead of running the suite again.
func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(runArgsEnv); ok {
		os.Exit(run(strings.Split(args, "\x1f"), os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "daemon" {
		os.Exit(3)
	}
	os.Exit(m.Run())
}

// runCLI runs the CLI in-process and returns its exit code and output.
func runCLI(args ...string) (int, string, string) {
	var so, se bytes.Buffer
	code := run(args, &so, &se)
	return code, so.String(), se.String()
}

// noPID is a PID no process has (above the kernel's pid_max limit).
const noPID = "4194305"

// TestAttachNoSuchPIDStartsNothing: with no daemon, attach of a PID that
// does not exist fails at once, and no daemon is started: the state dir
// (where it would log) is not even created.
func TestAttachNoSuchPIDStartsNothing(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	code, _, se := runCLI("--state-dir", state, "--config", filepath.Join(state, "none.toml"), "attach", noPID)
	if code != 1 || !strings.Contains(se, "no such process") || !strings.Contains(se, "no daemon was started") {
		t.Errorf("exit %d, stderr %q; want 1 and no such process", code, se)
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir created (a daemon was started): %v", err)
	}
}

// TestAttachHostProcessStartsNothing: the test's own process is in the
// host's mount namespace, not a container.
func TestAttachHostProcessStartsNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("reading another mount namespace's links needs root")
	}
	state := filepath.Join(t.TempDir(), "state")
	code, _, se := runCLI("--state-dir", state, "--config", filepath.Join(state, "none.toml"), "attach", strconv.Itoa(os.Getpid()))
	if code != 1 || !strings.Contains(se, "not in a container") {
		t.Errorf("exit %d, stderr %q; want 1 and not in a container", code, se)
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir created (a daemon was started): %v", err)
	}
}

// TestDryRunWithoutDaemon: reconcile --dry-run with no daemon says so,
// exits 1, and starts, locks and creates nothing.
func TestDryRunWithoutDaemon(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	code, so, se := runCLI("--state-dir", state, "reconcile", "--dry-run")
	if code != 1 || !strings.Contains(se, "no daemon answers") || !strings.Contains(se, "a dry run starts none") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, so, se)
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir created: %v", err)
	}
}

// TestStartedDaemonIsOnRequest: the daemon a command starts is told to
// attach only what it is asked to, and gets the command's globals.
func TestStartedDaemonIsOnRequest(t *testing.T) {
	args := daemonArgs(globals{socket: "/s", stateDir: "/d", config: "/c"})
	want := []string{"daemon", "--on-request", "--socket", "/s", "--state-dir", "/d", "--config", "/c"}
	if !slices.Equal(args, want) {
		t.Errorf("daemon args %q, want %q", args, want)
	}
	// The daemon command accepts the flag.
	if _, _, err := parseFlags(daemonCommand(), []string{"--on-request"}); err != nil {
		t.Errorf("daemon --on-request: %v", err)
	}
}

// TestBadConfigStartsNoDaemon: a configuration the daemon would refuse
// is reported by the command, which starts nothing.
func TestBadConfigStartsNoDaemon(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lxmount.toml")
	os.WriteFile(cfg, []byte("\x04"), 0o644)
	state := filepath.Join(dir, "state")
	code, _, se := runCLI("--state-dir", state, "--config", cfg, "reconcile")
	if code != 1 || !strings.Contains(se, "none was started") {
		t.Errorf("exit %d, stderr %q", code, se)
	}
	if _, err := os.Stat(filepath.Join(state, "daemon.log")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a daemon was started: %v", err)
	}
}

// TestPolicyCheckPrintsItsGlobals: policy check prints the socket and
// state dir it was given, not the defaults.
func TestPolicyCheckPrintsItsGlobals(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lxmount.toml")
	os.WriteFile(cfg, []byte("log_level = \"debug\"\n"), 0o644)
	sock, state := filepath.Join(dir, "x.sock"), filepath.Join(dir, "st")
	code, so, se := runCLI("--socket", sock, "--state-dir", state, "--config", cfg, "policy", "check")
	if code != 0 || !strings.Contains(so, "socket "+sock+", state_dir "+state+",") || !strings.Contains(so, "config "+cfg+",") {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, so, se)
	}
	// Only --state-dir: the socket follows it.
	_, so, _ = runCLI("--state-dir", state, "--config", cfg, "policy", "check")
	if !strings.Contains(so, "socket "+filepath.Join(state, "lxmount.sock")+", state_dir "+state+",") {
		t.Errorf("--state-dir alone:\n%s", so)
	}
	// From the file when no flag says otherwise.
	os.WriteFile(cfg, []byte("socket = \"/run/other/s.sock\"\nstate_dir = \"/run/other\"\n"), 0o644)
	_, so, _ = runCLI("--config", cfg, "policy", "check")
	if !strings.Contains(so, "socket /run/other/s.sock, state_dir /run/other,") {
		t.Errorf("from the file:\n%s", so)
	}
}

// TestStatusPermissionDenied: a caller the socket refuses is told so
// (permission denied: run as root), not that no daemon answers.
func TestStatusPermissionDenied(t *testing.T) {
	// Not t.TempDir: its parent is 0700, which another user cannot pass.
	dir, err := os.MkdirTemp("", "lxmount-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	sock := filepath.Join(dir, "lxmount.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	os.Chmod(sock, 0o600)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	var out string
	var code int
	if os.Geteuid() == 0 {
		code, out = runAsNobody(t, dir, "--socket", sock, "status")
	} else {
		os.Chmod(sock, 0) // refuses its owner too
		var se string
		code, _, se = runCLI("--socket", sock, "status")
		out = se
	}
	if code != 1 || !strings.Contains(out, "permission denied") || !strings.Contains(out, "run as root") || strings.Contains(out, "no daemon answers") {
		t.Errorf("exit %d, output %q; want permission denied: run as root", code, out)
	}
}

// runAsNobody runs the CLI with args as uid/gid 65534 through a copy of
// the test binary in dir, and returns its exit code and output.
func runAsNobody(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "lxmount.test")
	src, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), runArgsEnv+"="+strings.Join(args, "\x1f"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String()
	}
	t.Fatalf("run as nobody: %v", err)
	return 0, ""
}
