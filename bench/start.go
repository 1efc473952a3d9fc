package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/lxmount/lxmount/internal/testenv"
)

// The start phase: how much the runtime wrapper and its hook add to a
// container's start. The same trivial runc container (its process is
// `true`, in a cgroup of the run with a memory limit and a one-CPU quota)
// is run to its end `start.runs` times with plain runc and as many through
// lxmount-runc with a daemon already running, alternating; each run is
// create + hook + start + exit + delete, timed around `runc run`.

// startRuns is how many containers each way.
const startRuns = 50

func (r *runner) start() error {
	dir := filepath.Join(r.dir, "start")
	rootfs := filepath.Join(dir, "rootfs")
	if err := testenv.WriteBusyboxRootfs(rootfs); err != nil {
		return err
	}
	in, err := r.e.newInstance(r.c.lxmount, filepath.Join(dir, "lx"), r.root+"/st-*")
	if err != nil {
		return err
	}
	// The hook reads only the configuration file; nothing but the hook
	// attaches.
	cfg := fmt.Sprintf("socket = %q\nstate_dir = %q\nreconcile_interval = \"0s\"\nevents = false\n", in.socket, in.stateDir)
	if err := os.WriteFile(in.config, []byte(cfg), 0o644); err != nil {
		return err
	}
	if err := in.start(); err != nil {
		return err
	}
	wrapper := filepath.Join(filepath.Dir(r.c.lxmount), "lxmount-runc")
	if _, err := os.Stat(wrapper); err != nil {
		return fmt.Errorf("no lxmount-runc beside %s (make build): %w", r.c.lxmount, err)
	}
	runcRoot := filepath.Join(dir, "runc-root")
	var plain, wrapped []time.Duration
	for i := range 2 * startRuns {
		id := fmt.Sprintf("lxmount-bench-st-%s-%d", randomHex(3), i)
		bundle := filepath.Join(dir, id)
		if err := writeTrivialBundle(bundle, rootfs, r.root+"/st-"+id); err != nil {
			return err
		}
		argv := []string{"runc", "--root", runcRoot, "run", "--bundle", bundle, id}
		if i%2 == 1 {
			argv = append([]string{wrapper, "--lxmount-config", in.config}, argv[1:]...)
		}
		t0 := time.Now()
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		d := time.Since(t0)
		_ = exec.Command("runc", "--root", runcRoot, "delete", "-f", id).Run()
		removeLeftCgroup(r.root + "/st-" + id)
		if err != nil {
			return fmt.Errorf("%v: %v: %s", argv, err, out)
		}
		if i%2 == 1 {
			wrapped = append(wrapped, d)
		} else {
			plain = append(plain, d)
		}
		os.RemoveAll(bundle)
	}
	st, err := in.client.Status()
	if err != nil {
		return err
	}
	if st.Daemon.Hooks.Attached != startRuns {
		return fmt.Errorf("the daemon attached %d of %d wrapped containers by their hook (%+v)", st.Daemon.Hooks.Attached, startRuns, st.Daemon.Hooks)
	}
	pp := [2]time.Duration{durPct(plain, 50), durPct(plain, 99)}
	pw := [2]time.Duration{durPct(wrapped, 50), durPct(wrapped, 99)}
	fmt.Fprintf(r.w, "\n## Container start through lxmount-runc\n\n%d trivial runc containers run to their end each way, alternating (create, hook, start, exit, delete); the daemon was running.\n\n", startRuns)
	fmt.Fprintf(r.w, "| | p50 | p99 |\n|---|---|---|\n| runc | %s ms | %s ms |\n| lxmount-runc | %s ms | %s ms |\n| added | %s ms | %s ms |\n",
		ms(pp[0]), ms(pp[1]), ms(pw[0]), ms(pw[1]), ms(pw[0]-pp[0]), ms(pw[1]-pp[1]))
	r.addTarget("start through the wrapper adds <= 15 ms at p50", pw[0]-pp[0] <= 15*time.Millisecond, "%s ms added at p50 (%s ms at p99)", ms(pw[0]-pp[0]), ms(pw[1]-pp[1]))
	return nil
}

// writeTrivialBundle writes a runc bundle whose process is `true`, in
// cgroup cgPath with 128 MiB and one CPU.
func writeTrivialBundle(bundle, rootfs, cgPath string) error {
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		return err
	}
	if out, err := exec.Command("runc", "spec", "--bundle", bundle).CombinedOutput(); err != nil {
		return fmt.Errorf("runc spec: %v: %s", err, out)
	}
	path := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		return err
	}
	process, _ := spec["process"].(map[string]any)
	linux, _ := spec["linux"].(map[string]any)
	if process == nil || linux == nil {
		return fmt.Errorf("%s: no process or linux", path)
	}
	process["terminal"] = false
	process["args"] = []string{"true"}
	spec["root"] = map[string]any{"path": rootfs}
	linux["cgroupsPath"] = cgPath
	linux["resources"] = map[string]any{
		"memory": map[string]any{"limit": 128 << 20},
		"cpu":    map[string]any{"quota": 100000, "period": 100000},
	}
	if b, err = json.Marshal(spec); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// removeLeftCgroup removes what runc left of cgroup path (it removes its
// own on delete; this only guards against a failed run).
func removeLeftCgroup(path string) {
	for _, ctrl := range controllers {
		dir := filepath.Join(cgroupRoot, ctrl, path)
		if _, err := os.Stat(dir); err == nil {
			_ = testenv.RmdirRetry(dir, 5*time.Second)
		}
	}
}

