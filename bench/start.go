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
// is run to its end startRuns times with plain runc and as many through
// lxmount-runc, with and without the sysinfo(2) notify rule, with a daemon
// already running, in turn; each run is create + hooks + start + exit +
// delete, timed around `runc run`.

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
	// attaches. The wrapper runs with two: one that also adds the
	// sysinfo(2) notify rule (the default), one without it.
	base := fmt.Sprintf("socket = %q\nstate_dir = %q\nreconcile_interval = \"0s\"\nevents = false\n", in.socket, in.stateDir)
	noSysinfo := filepath.Join(dir, "no-sysinfo.toml")
	if err := os.WriteFile(in.config, []byte(base), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(noSysinfo, []byte(base+"sysinfo = false\n"), 0o644); err != nil {
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
	arms := []struct {
		name   string
		config string // "": plain runc
		took   []time.Duration
	}{{name: "runc"}, {name: "lxmount-runc, hook only (sysinfo = false)", config: noSysinfo}, {name: "lxmount-runc, hook and sysinfo rule (default)", config: in.config}}
	for i := range len(arms) * startRuns {
		arm := &arms[i%len(arms)]
		id := fmt.Sprintf("lxmount-bench-st-%s-%d", randomHex(3), i)
		bundle := filepath.Join(dir, id)
		if err := writeTrivialBundle(bundle, rootfs, r.root+"/st-"+id); err != nil {
			return err
		}
		argv := []string{"runc", "--root", runcRoot, "run", "--bundle", bundle, id}
		if arm.config != "" {
			argv = append([]string{wrapper, "--lxmount-config", arm.config}, argv[1:]...)
		}
		t0 := time.Now()
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		d := time.Since(t0)
		_ = exec.Command("runc", "--root", runcRoot, "delete", "-f", id).Run()
		removeLeftCgroup(r.root + "/st-" + id)
		if err != nil {
			return fmt.Errorf("%v: %v: %s", argv, err, out)
		}
		arm.took = append(arm.took, d)
		os.RemoveAll(bundle)
	}
	st, err := in.client.Status()
	if err != nil {
		return err
	}
	if want := uint64(2 * startRuns); st.Daemon.Hooks.Attached != want {
		return fmt.Errorf("the daemon attached %d of %d wrapped containers by their hook (%+v)", st.Daemon.Hooks.Attached, want, st.Daemon.Hooks)
	}
	fmt.Fprintf(r.w, "\n## Container start through lxmount-runc\n\n%d trivial runc containers run to their end each way, the ways in turn (create, hooks, start, exit, delete); the daemon was running.\n\n", startRuns)
	fmt.Fprintf(r.w, "| | p50 | p99 | added at p50 | added at p99 |\n|---|---|---|---|---|\n")
	p50, p99 := durPct(arms[0].took, 50), durPct(arms[0].took, 99)
	for _, a := range arms {
		a50, a99 := durPct(a.took, 50), durPct(a.took, 99)
		fmt.Fprintf(r.w, "| %s | %s ms | %s ms | %s ms | %s ms |\n", a.name, ms(a50), ms(a99), ms(a50-p50), ms(a99-p99))
	}
	hook := durPct(arms[1].took, 50) - p50
	r.addTarget("start through the wrapper adds <= 15 ms at p50", hook <= 15*time.Millisecond, "%s ms added at p50 by the hook (%s ms with the sysinfo rule too)", ms(hook), ms(durPct(arms[2].took, 50)-p50))
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
