package discovery

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestScanRunc starts real runc containers whose bundles carry the
// annotations of a plain `runc run`, of containerd's CRI plugin (what a
// kubelet on containerd gets) and of CRI-O, and checks that Scan finds each
// one through procfs and names it from runc's state.json in a private
// --root.
func TestScanRunc(t *testing.T) {
	requireRoot(t)
	requireCommands(t, "runc")
	rootfs := buildBusyboxRootfs(t)
	root := filepath.Join(t.TempDir(), "runc-root")

	tests := []struct {
		name        string
		annotations map[string]string
		runtime     string
		wantName    string // "" : the id
		wantPod     [2]string
	}{{
		name:    "plain",
		runtime: "runc",
	}, {
		name: "containerd-cri",
		annotations: map[string]string{
			annCRIContainerType: "container", annCRIContainerName: "app",
			annCRISandboxName: "web-0", annCRISandboxNS: "shop",
			"io.kubernetes.cri.sandbox-id": "5d1c0e",
		},
		runtime:  "runc",
		wantName: "app",
		wantPod:  [2]string{"shop", "web-0"},
	}, {
		name: "cri-o",
		annotations: map[string]string{
			annCRIOContainerID: "0f3a", annCRIOContainerType: "container",
			annKubeContainerName: "db", annKubePodName: "db-0", annKubePodNamespace: "store",
		},
		runtime:  "cri-o",
		wantName: "db",
		wantPod:  [2]string{"store", "db-0"},
	}}
	started := make([]*runcContainer, len(tests))
	for i, tt := range tests {
		started[i] = startRunc(t, root, rootfs, tt.name, tt.annotations)
	}
	opts := Options{Sources: append(DefaultSources(), Source{Format: RuncState, Dir: root})}
	cs, err := Scan(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := started[i]
			c, ok := findByPID(cs, rc.PID)
			if !ok {
				t.Fatalf("runc container %s (pid %d) not found; Scan: %+v", rc.ID, rc.PID, cs)
			}
			wantName := tt.wantName
			if wantName == "" {
				wantName = rc.ID
			}
			if c.Runtime != tt.runtime || c.ID != rc.ID || c.Name != wantName || c.Bundle != rc.Bundle {
				t.Errorf("got runtime %q id %q name %q bundle %q; want %q %q %q %q",
					c.Runtime, c.ID, c.Name, c.Bundle, tt.runtime, rc.ID, wantName, rc.Bundle)
			}
			if c.InitStart != procStart(t, rc.PID) {
				t.Errorf("InitStart = %d, want %d", c.InitStart, procStart(t, rc.PID))
			}
			checkNamespaces(t, c)
			if c.CgroupV1["memory"] != rc.CgroupPath || c.CgroupV2 != rc.CgroupPath {
				t.Errorf("cgroups v1 %v, v2 %q; want memory and unified %q", c.CgroupV1, c.CgroupV2, rc.CgroupPath)
			}
			for k, v := range tt.annotations {
				if c.Annotations[k] != v {
					t.Errorf("annotation %s = %q, want %q (all: %v)", k, c.Annotations[k], v, c.Annotations)
				}
			}
			if ns, pod := c.Pod(); [2]string{ns, pod} != tt.wantPod {
				t.Errorf("Pod() = %q, %q; want %q", ns, pod, tt.wantPod)
			}
		})
	}

	t.Run("resolve exec'd process", func(t *testing.T) {
		rc := started[0]
		pidFile := filepath.Join(t.TempDir(), "exec.pid")
		// Detached, the process keeps runc's stdio: a file, not a pipe that
		// would hold Wait until the process exits.
		if err := runDetached(filepath.Join(t.TempDir(), "exec.log"), "runc", "--root", root, "exec", "-d", "--pid-file", pidFile, rc.ID, "/bin/sleep", "999"); err != nil {
			t.Fatal(err)
		}
		execPID := readPID(t, pidFile) // dies with the container's pid namespace
		c, err := Resolve(opts, execPID)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := findByPID(cs, rc.PID)
		if !reflect.DeepEqual(c, want) {
			t.Errorf("Resolve(%d) (runc exec) = %+v\nwant the container %+v", execPID, c, want)
		}
	})

	t.Run("resolve host process", func(t *testing.T) {
		self, err := readNS("/proc/self", "mnt")
		if err != nil {
			t.Fatal(err)
		}
		_, host, err := hostNamespaces("/proc")
		if err != nil {
			t.Fatal(err)
		}
		if host != self {
			t.Skipf("the test runs outside the host's mount namespace (mnt:[%d], host mnt:[%d])", self, host)
		}
		_, err = Resolve(opts, os.Getpid())
		if !errors.Is(err, ErrNotContainer) {
			t.Fatalf("Resolve(self) error = %v, want ErrNotContainer", err)
		}
		t.Log(err)
	})
}

// TestScanBare checks that a container made by nothing but clone(2) with
// CLONE_NEWPID|CLONE_NEWNS is found, without runtime fields, and that Resolve
// agrees with Scan.
func TestScanBare(t *testing.T) {
	requireRoot(t)
	pid := startBare(t)
	cs, err := Scan(Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, ok := findByPID(cs, pid)
	if !ok {
		t.Fatalf("namespaced process %d not found; Scan: %+v", pid, cs)
	}
	if c.Runtime != "" || c.ID != "" || c.Name != "" || c.Annotations != nil {
		t.Errorf("runtime fields set for a process no runtime started: %+v", c)
	}
	checkNamespaces(t, c)
	r, err := Resolve(Options{}, pid)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, c) {
		t.Errorf("Resolve(%d) = %+v, Scan found %+v", pid, r, c)
	}
}

// checkNamespaces compares c's namespaces with the kernel's view of its init.
func checkNamespaces(t *testing.T, c Container) {
	t.Helper()
	dir := filepath.Join("/proc", itoa(c.InitPID))
	for kind, got := range map[string]uint64{"mnt": c.MountNS, "pid": c.PIDNS} {
		want, err := readNS(dir, kind)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s namespace %d, kernel says %d", kind, got, want)
		}
	}
}
