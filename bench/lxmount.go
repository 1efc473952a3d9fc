package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lxmount/lxmount/supervisor"
)

// instance is one lxmount daemon of this run with its own socket, state
// dir and config, whose one policy matches only the run's cgroups.
type instance struct {
	bin      string
	dir      string
	socket   string
	stateDir string
	config   string
	client   *supervisor.Client
	env      []string // added to the daemon's environment
}

// newInstance writes the config of a daemon whose policy matches glob.
func (e *env) newInstance(bin, dir, glob string) (*instance, error) {
	in := &instance{
		bin:      bin,
		dir:      dir,
		socket:   filepath.Join(dir, "lxmount.sock"),
		stateDir: filepath.Join(dir, "state"),
		config:   filepath.Join(dir, "lxmount.toml"),
	}
	in.client = supervisor.NewClient(in.socket)
	if err := os.MkdirAll(filepath.Join(dir, "policy.d"), 0o755); err != nil {
		return nil, err
	}
	// The daemon's own reconcile loop and event watch are off: attaches
	// and reconciles are timed here (the events phase turns the watch on).
	if err := os.WriteFile(in.config, []byte("reconcile_interval = \"0s\"\nevents = false\n"), 0o644); err != nil {
		return nil, err
	}
	policy := fmt.Sprintf("[[policy]]\nname = \"bench\"\n[policy.match]\ncgroup = [%q]\n", glob)
	if err := os.WriteFile(filepath.Join(dir, "policy.d", "10-bench.toml"), []byte(policy), 0o644); err != nil {
		return nil, err
	}
	e.onCleanup(in.stop)
	return in, nil
}

// args are the global flags naming this instance.
func (in *instance) args(rest ...string) []string {
	return append([]string{"--socket", in.socket, "--state-dir", in.stateDir, "--config", in.config}, rest...)
}

// start runs `lxmount daemon` in the background and waits until it answers.
func (in *instance) start() error {
	if err := os.MkdirAll(in.stateDir, 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(in.stateDir, "daemon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(in.bin, in.args("daemon")...)
	cmd.Env = append(os.Environ(), in.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }() // reaped here; stopped by the PID in daemon.pid
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if in.client.Ping() == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("daemon does not answer on %s; log:\n%s", in.socket, in.log())
}

func (in *instance) log() string {
	b, _ := os.ReadFile(filepath.Join(in.stateDir, "daemon.log"))
	return string(b)
}

// pid is the daemon's PID from its PID file, 0 if none.
func (in *instance) pid() int {
	b, err := os.ReadFile(filepath.Join(in.stateDir, supervisor.PIDFile))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// stop sends SIGTERM to the daemon of this instance (the PID in its state
// dir, if that process still runs our binary), waits, then SIGKILL.
func (in *instance) stop() {
	pid := in.pid()
	if pid <= 0 || !isOurDaemon(pid, in.bin) {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// kill9 kills the daemon with SIGKILL and waits until it is gone.
func (in *instance) kill9() error {
	pid := in.pid()
	if pid <= 0 || !isOurDaemon(pid, in.bin) {
		return fmt.Errorf("no daemon of ours in %s", in.stateDir)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return err
	}
	for alive(pid) {
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// isOurDaemon reports whether pid runs the lxmount binary bin.
func isOurDaemon(pid int, bin string) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return false
	}
	want, _ := filepath.Abs(bin)
	return strings.TrimSuffix(exe, " (deleted)") == want
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || len(b) < i+3 || b[i+2] != 'Z'
}

// run runs the lxmount CLI against this instance and returns its output.
func (in *instance) run(args ...string) (string, error) {
	cmd := exec.Command(in.bin, in.args(args...)...)
	cmd.Env = append(os.Environ(), in.env...) // reconcile may start the daemon
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("lxmount %s: %w: %s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// attach attaches c through the control API and returns how long it took.
func (in *instance) attach(c *container) (time.Duration, error) {
	t0 := time.Now()
	res, err := in.client.Attach(c.Init, "")
	d := time.Since(t0)
	if err != nil {
		return d, fmt.Errorf("attach %d: %w", c.Init, err)
	}
	if len(res.Container.Refused) > 0 {
		return d, fmt.Errorf("attach %d: refused %v", c.Init, res.Container.Refused)
	}
	return d, nil
}

// procStatus returns a field of /proc/<pid>/status in kB or as a count.
func procStatus(pid int, field string) int64 {
	return procStatusFile(fmt.Sprintf("/proc/%d/status", pid), field)
}

// procStatusFile returns the number after "field:" in a "key: value" file.
func procStatusFile(path, field string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}
