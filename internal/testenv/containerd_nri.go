package testenv

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The binaries StartCRIContainerd needs in its bin directory: containerd
// (>= 1.7, which has NRI; v2.4.2 is what `make nri-containerd-deps` builds),
// the runc shim and ctr of the same release, and criclient
// (integration/testdata/criclient, a CRI client of its own module).
var criContainerdBins = []string{"containerd", "containerd-shim-runc-v2", "ctr", "criclient"}

// CRINamespace is the containerd namespace of the CRI plugin.
const CRINamespace = "k8s.io"

// CRIContainerd is a containerd with its CRI plugin and NRI on, started by
// StartCRIContainerd for one test: its own config, root, state, sockets
// (gRPC, ttrpc, NRI, the shims') and runc state under Dir. Ctr works in
// CRINamespace; CRI runs the CRI client.
type CRIContainerd struct {
	*Containerd
	// NRISocket is the socket containerd serves NRI plugins on.
	NRISocket string
	// CgroupParent is the cgroupfs parent for the pods' sandboxes
	// ("/lxmount-cri-<random>"; a container's group is
	// <CgroupParent>/<container id>); cleanup removes the tree.
	CgroupParent string
	// SandboxImage is the ref of the pod sandbox ("pause") image that
	// ImportSandboxImage imports and the CRI config names.
	SandboxImage string
	// Version is what `containerd --version` printed.
	Version string

	bin string
}

// StartCRIContainerd starts binDir/containerd with the CRI plugin (runc
// through binDir/containerd-shim-runc-v2, cgroupfs, runc's state under Dir,
// no CNI: pods must use the host's network) and NRI enabled on nriSocket,
// and waits until both ctr and the CRI client answer. Missing binaries
// fail the test: the test using it is opt-in (build tag nri_containerd).
//
// t.Cleanup, which runs also when the test fails: stops and removes every
// pod sandbox through CRI, then what StartContainerd's cleanup does (every
// task, container, image, snapshot of every namespace; containerd stopped;
// shims left killed, as errors; mounts under Dir unmounted and Dir
// removed), then removes the CgroupParent tree.
func StartCRIContainerd(t testing.TB, binDir, nriSocket string) *CRIContainerd {
	t.Helper()
	RequireRoot(t)
	RequireCommands(t, RuncPath)
	for _, b := range criContainerdBins {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			t.Fatalf("needs %s (make nri-containerd-deps): %v", filepath.Join(binDir, b), err)
		}
	}
	missing := missingHostDirs()
	t.Cleanup(func() { removeHostDirs(t, missing) }) // runs after c's cleanup
	dir := shortTempDir(t, "lxm-cri-")
	rnd := randomHex(t, 4)
	c := &CRIContainerd{
		Containerd: &Containerd{
			Address:   filepath.Join(dir, "containerd.sock"),
			Namespace: CRINamespace,
			Dir:       dir,
			RuncRoot:  filepath.Join(dir, "runc"),
			FifoDir:   filepath.Join(dir, "fifo"),
			ctrBin:    filepath.Join(binDir, "ctr"),
			socketDir: filepath.Join(dir, "s"),
		},
		NRISocket:    nriSocket,
		CgroupParent: "/lxmount-cri-" + rnd,
		SandboxImage: "docker.io/lxmount/pause:" + rnd,
		bin:          binDir,
	}
	t.Cleanup(func() { c.cleanup(t) })
	out, _, err := runClient(nil, filepath.Join(binDir, "containerd"), "--version")
	if err != nil {
		t.Fatal(err)
	}
	c.Version = strings.TrimSpace(out)
	for _, d := range []string{c.RuncRoot, c.FifoDir, filepath.Dir(nriSocket)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	config := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(config, []byte(c.config()), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := startDaemon("containerd", filepath.Join(dir, "containerd.log"), filepath.Join(binDir, "containerd"), []string{"--config", config}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.d = d
	ready := func() bool {
		out, _, err := c.Ctr("version")
		if err != nil || !strings.Contains(out, "Server:") {
			return false
		}
		_, err = c.CRI("version")
		return err == nil
	}
	if !waitUntil(60*time.Second, ready, d.exited) {
		t.Fatalf("containerd (pid %d) not answering ctr and CRI on %s after 60 s; its log:\n%s", d.pid, c.Address, d.logTail(40))
	}
	return c
}

// config is the config.toml (version 3, containerd 2.x) of c.
func (c *CRIContainerd) config() string {
	dir := c.Dir
	return fmt.Sprintf(`version = 3
root = %[1]q
state = %[2]q
disabled_plugins = [
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.erofs",
]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = %[5]q
  [plugins."io.containerd.shim.v1.manager"]
    socket_dir = %[6]q
  [plugins."io.containerd.nri.v1.nri"]
    disable = false
    socket_path = %[7]q
    plugin_path = %[8]q
    plugin_config_path = %[9]q
  [plugins."io.containerd.grpc.v1.cri"]
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
  [plugins."io.containerd.cri.v1.images"]
    snapshotter = "overlayfs"
    [plugins."io.containerd.cri.v1.images".pinned_images]
      sandbox = %[10]q
  [plugins."io.containerd.cri.v1.runtime"]
    enable_cdi = false
    # No CAP_SYS_RESOURCE here (a container): runc cannot lower
    # oom_score_adj below the daemon's own, and CRI gives sandboxes -998.
    restrict_oom_score_adj = true
    [plugins."io.containerd.cri.v1.runtime".containerd]
      default_runtime_name = "runc"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        runtime_path = %[11]q
        [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
          BinaryName = %[12]q
          Root = %[13]q
          SystemdCgroup = false
    [plugins."io.containerd.cri.v1.runtime".cni]
      bin_dirs = [%[14]q]
      conf_dir = %[15]q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.Address, c.Address+".ttrpc",
		filepath.Join(dir, "opt"), c.socketDir, c.NRISocket,
		filepath.Join(dir, "nri", "plugins"), filepath.Join(dir, "nri", "conf.d"),
		c.SandboxImage, filepath.Join(c.bin, "containerd-shim-runc-v2"), RuncPath, c.RuncRoot,
		filepath.Join(dir, "cni", "bin"), filepath.Join(dir, "cni", "conf"))
}

// CRI runs binDir/criclient -addr <Address> args... (see
// integration/testdata/criclient) and returns its stdout, trimmed; err
// carries the exit status and stderr.
func (c *CRIContainerd) CRI(args ...string) (string, error) {
	out, _, err := runClient(nil, filepath.Join(c.bin, "criclient"), append([]string{"-addr", c.Address}, args...)...)
	return strings.TrimSpace(out), err
}

// ImportImage imports the root filesystem at rootfsDir as image ref with
// cmd as its Cmd into CRINamespace (`ctr images import`), where the CRI
// plugin finds it.
func (c *CRIContainerd) ImportImage(t testing.TB, rootfsDir, ref string, cmd []string) {
	t.Helper()
	archive := filepath.Join(t.TempDir(), "image.oci.tar")
	if err := writeTarFile(archive, func(w io.Writer) error { return WriteOCIArchiveCmd(rootfsDir, ref, cmd, w) }); err != nil {
		t.Fatalf("containerd import %s: %v", ref, err)
	}
	if _, _, err := c.Ctr("images", "import", archive); err != nil {
		t.Fatalf("containerd import %s: %v", ref, err)
	}
	out, _, err := c.Ctr("images", "ls", "-q")
	if err != nil {
		t.Fatalf("containerd import %s: %v", ref, err)
	}
	if !containsLine(out, ref) {
		t.Fatalf("containerd import %s: not in `ctr images ls`: %q", ref, out)
	}
}

// ImportSandboxImage imports rootfsDir (a busybox) as SandboxImage, whose
// Cmd sleeps for as long as the pod lives: no registry here to pull the
// real pause image from.
func (c *CRIContainerd) ImportSandboxImage(t testing.TB, rootfsDir string) {
	t.Helper()
	c.ImportImage(t, rootfsDir, c.SandboxImage, []string{"/bin/sleep", "2147483647"})
}

// cleanup is StartCRIContainerd's t.Cleanup.
func (c *CRIContainerd) cleanup(t testing.TB) {
	t.Helper()
	if c.d != nil && c.d.alive() {
		pods, err := c.CRI("pods")
		if err != nil {
			t.Errorf("containerd cleanup: %v", err)
		}
		for _, p := range strings.Fields(pods) {
			if _, err := c.CRI("rmp", p); err != nil {
				t.Errorf("containerd cleanup: pod %s: %v", p, err)
			}
		}
	}
	c.Containerd.cleanup(t)
	removeCgroupTree(t, "containerd", c.CgroupParent)
}
