package discovery

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// containerdConfig is a minimal containerd 1.6 configuration for a private
// daemon: its own root, state and sockets, no CRI plugin, no snapshotter
// that needs a kernel module or a special file system, the opt plugin's
// directory private too (it defaults to /opt/containerd).
const containerdConfig = `version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = %[3]q

[debug]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %[4]q
`

// containerdDaemon is a containerd started by startContainerd.
type containerdDaemon struct {
	Address string // gRPC socket
	State   string // --state; tasks live in State/io.containerd.runtime.v2.task
	tmp     string
}

// startContainerd starts Debian's containerd on a private socket, root and
// state under t.TempDir() and waits until `ctr version` answers. t.Cleanup
// stops it (SIGTERM, then SIGKILL) and reaps it; the tasks are cleaned up by
// runCtr's cleanups, which run first.
func startContainerd(t *testing.T) *containerdDaemon {
	t.Helper()
	requireRoot(t)
	requireCommands(t, "containerd", "ctr", "containerd-shim-runc-v2", "runc")
	tmp := t.TempDir()
	d := &containerdDaemon{Address: filepath.Join(tmp, "c.sock"), State: filepath.Join(tmp, "state"), tmp: tmp}
	cfg := filepath.Join(tmp, "config.toml")
	conf := fmt.Sprintf(containerdConfig, filepath.Join(tmp, "root"), d.State, d.Address, filepath.Join(tmp, "opt"))
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(tmp, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	c := exec.Command("containerd", "--config", cfg)
	c.Stdout, c.Stderr = log, log
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	t.Cleanup(func() {
		_ = c.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("containerd %d ignored SIGTERM, killing it", c.Process.Pid)
			_ = c.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := runCommand(nil, "ctr", "--address", d.Address, "version")
		if err == nil {
			return d
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(log.Name())
			t.Fatalf("containerd not ready after 30 s: %v; its log:\n%s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ctrTask is a container run by runCtr.
type ctrTask struct {
	Namespace, ID string
	PID           int    // host PID of the task's init
	Bundle        string // the v2 shim's bundle directory
	CgroupPath    string
}

// runCtr runs `ctr run -d --rootfs rootfs <id> /bin/sleep 1000` in the
// containerd namespace ns with the given OCI annotations, runc's state in a
// private --runc-root (by default the shim would use the host's
// /run/containerd/runc) and cgroup /lxmount-test-ctr-<random>, and returns
// the task read from its bundle. t.Cleanup kills and deletes the task and
// the container, kills the shim if it is still alive, removes the cgroups,
// and removes the directories under /run/containerd the shim creates for its
// socket when the test made them.
func runCtr(t *testing.T, d *containerdDaemon, ns, rootfs, name string, annotations map[string]string) *ctrTask {
	t.Helper()
	suffix := randomSuffix(t)
	task := &ctrTask{
		Namespace:  ns,
		ID:         "lxmount-test-" + name + "-" + suffix,
		CgroupPath: "/lxmount-test-ctr-" + suffix,
	}
	task.Bundle = filepath.Join(d.State, "io.containerd.runtime.v2.task", ns, task.ID)
	ctr := []string{"--address", d.Address, "--namespace", ns}

	// The shim puts its socket in /run/containerd/s whatever containerd's
	// --state (containerd 1.6), and ctr its fifos in /run/containerd/fifo.
	var madeRun []string
	for _, dir := range []string{"/run/containerd", "/run/containerd/s", "/run/containerd/fifo"} {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			madeRun = append(madeRun, dir)
		}
	}
	shimPID := 0
	t.Cleanup(func() {
		_, _ = runCommand(nil, "ctr", append(ctr, "task", "kill", "--signal", "SIGKILL", task.ID)...)
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err := runCommand(nil, "ctr", append(ctr, "task", "delete", task.ID)...)
			if err == nil || strings.Contains(err.Error(), "not found") || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if _, err := runCommand(nil, "ctr", append(ctr, "container", "delete", task.ID)...); err != nil && !strings.Contains(err.Error(), "not found") {
			t.Errorf("ctr cleanup: %v", err)
		}
		if shimPID > 0 && isShimOf(shimPID, task.ID) {
			t.Errorf("ctr cleanup: shim %d of %s still alive, killing it", shimPID, task.ID)
			_ = syscall.Kill(shimPID, syscall.SIGKILL)
		}
		removeCgroupTree(t, task.CgroupPath)
		for i := len(madeRun) - 1; i >= 0; i-- {
			if err := syscall.Rmdir(madeRun[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
				t.Logf("ctr cleanup: leaving %s: %v", madeRun[i], err)
			}
		}
	})

	args := append(ctr, "run", "--detach", "--rootfs",
		"--runc-root", filepath.Join(d.tmp, "runc-root"),
		"--cgroup", task.CgroupPath)
	for k, v := range annotations {
		args = append(args, "--annotation", k+"="+v)
	}
	args = append(args, rootfs, task.ID, "/bin/sleep", "1000")
	if err := runDetached(filepath.Join(t.TempDir(), "ctr.log"), "ctr", args...); err != nil {
		t.Fatal(err)
	}
	task.PID = readPID(t, filepath.Join(task.Bundle, "init.pid"))
	if st, err := readStat(fmt.Sprintf("/proc/%d/stat", task.PID)); err == nil && isShimOf(st.PPID, task.ID) {
		shimPID = st.PPID
	}
	return task
}

// isShimOf reports whether pid is a containerd-shim-runc-v2 serving id.
func isShimOf(pid int, id string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(string(b), "\x00")
	if !strings.HasSuffix(args[0], "containerd-shim-runc-v2") {
		return false
	}
	for i := range args[:len(args)-1] {
		if args[i] == "-id" && args[i+1] == id {
			return true
		}
	}
	return false
}

// TestScanContainerd starts Debian's containerd on a private socket and
// state, runs two containers with `ctr run --rootfs` (one with a nerdctl
// name annotation) and checks that Scan finds both through procfs and names
// them from the v2 shim's bundle directory.
func TestScanContainerd(t *testing.T) {
	requireRoot(t)
	rootfs := buildBusyboxRootfs(t)
	d := startContainerd(t)
	ns := "lxmount-test-" + randomSuffix(t)

	tests := []struct {
		name        string
		annotations map[string]string
		wantName    string // "" : the id
	}{
		{name: "plain"},
		{name: "nerdctl-name", annotations: map[string]string{annNerdctlName: "web"}, wantName: "web"},
	}
	tasks := make([]*ctrTask, len(tests))
	for i, tt := range tests {
		tasks[i] = runCtr(t, d, ns, rootfs, tt.name, tt.annotations)
	}
	src := Source{Format: ContainerdTasks, Dir: filepath.Join(d.State, "io.containerd.runtime.v2.task")}
	cs, err := Scan(Options{Sources: append(DefaultSources(), src)})
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := tasks[i]
			c, ok := findByPID(cs, task.PID)
			if !ok {
				t.Fatalf("containerd task %s (pid %d) not found; Scan: %+v", task.ID, task.PID, cs)
			}
			wantName := tt.wantName
			if wantName == "" {
				wantName = task.ID
			}
			if c.Runtime != "containerd" || c.ID != task.ID || c.Name != wantName || c.Bundle != task.Bundle {
				t.Errorf("got runtime %q id %q name %q bundle %q; want containerd %q %q %q",
					c.Runtime, c.ID, c.Name, c.Bundle, task.ID, wantName, task.Bundle)
			}
			checkNamespaces(t, c)
			if c.CgroupV1["memory"] != task.CgroupPath {
				t.Errorf("cgroups v1 %v; want memory %q", c.CgroupV1, task.CgroupPath)
			}
			for k, v := range tt.annotations {
				if c.Annotations[k] != v {
					t.Errorf("annotation %s = %q, want %q (all: %v)", k, c.Annotations[k], v, c.Annotations)
				}
			}
		})
	}
}
