//go:build nri_containerd

package integration

// The NRI plugin against a real containerd >= 1.7 (NRI; v2.4.2 here),
// driven through its CRI plugin as the kubelet drives it: containerd sends
// NRI events only from CRI, so this is the whole node path short of a
// kubelet. Opt-in, not part of `make test` (nor CI's list): it needs
// containerd, its runc shim and ctr of a release with NRI (Debian 12 ships
// 1.6, without it) and the CRI client of integration/testdata/criclient,
// which `make nri-containerd-deps` builds from the Go module proxy into
// build/cache/containerd-nri/bin (about 20 minutes for containerd on a
// 2-vCPU machine); `make test-nri-containerd` runs it (build tag
// nri_containerd). LXMOUNT_NRI_CONTAINERD_BIN names another directory
// holding those four binaries. Missing binaries fail the test: it runs only
// when asked for. Run here by hand on 2026-12-03 (containerd v2.4.2 built
// with Go 1.26.8, its runc shim, runc 1.1.5, Debian 12, kernel 6.18 on
// cgroup v1): 6 runs, all passed, the first read MemTotal 131072 kB; the
// figures are in configs/deploy/README.md ("NRI").

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lxmount/lxmount/internal/testenv"
	"github.com/lxmount/lxmount/nriplugin"
)

// nriContainerdBinDir is where the containerd with NRI and its tools are.
func nriContainerdBinDir(t *testing.T) string {
	if d := os.Getenv("LXMOUNT_NRI_CONTAINERD_BIN"); d != "" {
		return d
	}
	d, err := filepath.Abs(filepath.Join("..", "build", "cache", "containerd-nri", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// criSpec is criclient's Spec (integration/testdata/criclient).
type criSpec struct {
	PodName      string   `json:"pod_name"`
	PodNamespace string   `json:"pod_namespace"`
	PodUID       string   `json:"pod_uid"`
	CgroupParent string   `json:"cgroup_parent"`
	LogDir       string   `json:"log_dir"`
	Container    string   `json:"container"`
	Image        string   `json:"image"`
	Command      []string `json:"command"`
	MemoryLimit  int64    `json:"memory_limit"`
	CPUQuota     int64    `json:"cpu_quota"`
	CPUPeriod    int64    `json:"cpu_period"`
}

// criLogText returns what the container printed, from its CRI log file
// ("<time> <stream> <P|F> <text>" lines).
func criLogText(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var out []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if f := strings.SplitN(l, " ", 4); len(f) == 4 {
			out = append(out, f[3])
		}
	}
	return strings.Join(out, "\n")
}

// TestNRIContainerd: a pod of Kubernetes namespace X run through
// containerd's CRI (RunPodSandbox, CreateContainer, StartContainer), its
// container limited to 128 MiB and one CPU: containerd's NRI sends
// StartContainer to the daemon's plugin before the container's process
// runs, so that process's first instruction, `head -1 /proc/meminfo`,
// reads MemTotal 131072 kB; the daemon attached it by the policy matching
// kubernetes_namespace = X, which only NRI told it. StopContainer through
// CRI detaches it.
func TestNRIContainerd(t *testing.T) {
	requireRoot(t)
	binDir := nriContainerdBinDir(t)
	ns := "cri-" + randomSuffix(t)
	in, socket := nriSetup(t, ns, "")
	in.startDaemon() // before containerd: the plugin registers when the socket appears
	ctrd := testenv.StartCRIContainerd(t, binDir, socket)
	t.Logf("runtime: %s; CRI: %s", ctrd.Version, mustCRI(t, ctrd, "version"))
	waitFile(t, filepath.Join(in.stateDir, nriplugin.ReadyFile), true)
	if !strings.Contains(in.log(), "NRI plugin registered") {
		t.Fatalf("ready file but no registration in the daemon log:\n%s", in.log())
	}

	rootfs := buildBusyboxRootfs(t)
	ctrd.ImportSandboxImage(t, rootfs)
	image := "docker.io/lxmount/busybox:" + randomSuffix(t)
	ctrd.ImportImage(t, rootfs, image, []string{"/bin/sh"})

	logDir := t.TempDir()
	spec := criSpec{
		PodName: "web-0", PodNamespace: ns, PodUID: "uid-" + ns,
		CgroupParent: ctrd.CgroupParent, LogDir: logDir,
		Container: "app", Image: image,
		// The first instruction reads /proc; then it stays up so the
		// daemon's status can be read and StopContainer tried.
		Command:     []string{"/bin/sh", "-c", firstReadScript + "; exec sleep 600"},
		MemoryLimit: hookMemLimit, CPUQuota: 100000, CPUPeriod: 100000,
	}
	specFile := filepath.Join(t.TempDir(), "spec.json")
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(specFile, b, 0o644); err != nil {
		t.Fatal(err)
	}

	begin := time.Now()
	pod := mustCRI(t, ctrd, "runp", specFile)
	t.Logf("RunPodSandbox: %s in %s", pod, time.Since(begin).Round(time.Millisecond))
	created := time.Now()
	cid := mustCRI(t, ctrd, "create", specFile, pod)
	started := time.Now()
	mustCRI(t, ctrd, "start", cid)
	t.Logf("CreateContainer %s, StartContainer (NRI's StartContainer included) %s",
		started.Sub(created).Round(time.Millisecond), time.Since(started).Round(time.Millisecond))

	logPath := filepath.Join(logDir, "app.log")
	var out string
	deadline := time.Now().Add(execTimeout)
	for {
		out = criLogText(logPath)
		if strings.Count(out, "\n") >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(started)
	t.Logf("the container printed:\n%s", out)
	r := parseFirstRead(t, out)
	r.took = took
	r.wantVirtual(t, hookMemLimit)

	st := in.waitContainers(1, 10*time.Second)
	ci := st.Containers[0]
	t.Logf("attached: %s name=%s policy=%s pid=%d", ci.ID, ci.Name, ci.Policy, ci.InitPID)
	// The daemon's status gives the first 12 characters of the ID.
	if len(ci.ID) < 12 || !strings.HasPrefix(cid, ci.ID) || ci.Name != "app" || ci.Policy != "ns-"+ns {
		t.Errorf("attached %s name=%s policy=%s, want %s name=app policy=ns-%s", ci.ID, ci.Name, ci.Policy, cid, ns)
	}
	var cst struct {
		State string `json:"state"`
		Pid   int    `json:"pid"`
	}
	if err := json.Unmarshal([]byte(mustCRI(t, ctrd, "status", cid)), &cst); err != nil {
		t.Fatal(err)
	}
	if cst.State != "CONTAINER_RUNNING" || cst.Pid != ci.InitPID {
		t.Errorf("CRI says %s pid %d, the daemon attached pid %d", cst.State, cst.Pid, ci.InitPID)
	}

	mustCRI(t, ctrd, "stop", cid)
	in.waitContainers(0, 10*time.Second) // NRI's StopContainer detached it
	mustCRI(t, ctrd, "rmp", pod)
}

// mustCRI runs the CRI client and fails the test if it fails.
func mustCRI(t *testing.T, c *testenv.CRIContainerd, args ...string) string {
	t.Helper()
	out, err := c.CRI(args...)
	if err != nil {
		t.Fatalf("criclient %s: %v\ncontainerd log:\n%s", strings.Join(args, " "), err, c.Log(40))
	}
	return out
}
