package deploy_test

// The DaemonSet's NRI settings: the ConfigMap turns the plugin on with a
// socket under the NRI volume (the host's socket directory, so a
// restarted runtime's new socket is seen), and the readiness probe says
// ready when the plugin is registered or the node has no NRI socket,
// checked by running its command.

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lxmount/lxmount/configs"
	"github.com/lxmount/lxmount/nriplugin"
)

func TestKubernetesNRI(t *testing.T) {
	m, err := decodeManifest(readFile(t, "kubernetes/daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	spec := m.DaemonSet.Spec.Template.Spec
	c := spec.Containers[0]

	cfg := filepath.Join(t.TempDir(), "lxmount.toml")
	if err := os.WriteFile(cfg, []byte(m.ConfigMap.Data["lxmount.toml"]), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := configs.LoadDaemon(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !d.NRI || !d.Events {
		t.Errorf("nri %t, events %t: want both (the event watch for nodes without NRI)", d.NRI, d.Events)
	}
	// The socket's directory is a mount of the host's /var/run/nri, a
	// directory that may not exist yet.
	var mountPath string
	for _, vm := range c.VolumeMounts {
		for _, v := range spec.Volumes {
			if v.Name == vm.Name && v.HostPath != nil && v.HostPath.Path == "/var/run/nri" {
				mountPath = vm.MountPath
				if v.HostPath.Type != "DirectoryOrCreate" {
					t.Errorf("volume %s: hostPath type %q, want DirectoryOrCreate (a node without NRI starts the pod all the same)", v.Name, v.HostPath.Type)
				}
			}
		}
	}
	if mountPath == "" || filepath.Dir(d.NRISocket) != mountPath || filepath.Base(d.NRISocket) != filepath.Base(nriplugin.DefaultSocket) {
		t.Errorf("nri_socket %s: want %s in the mount of the host's /var/run/nri (%q)", d.NRISocket, filepath.Base(nriplugin.DefaultSocket), mountPath)
	}

	p := c.ReadinessProbe
	if p == nil || p.Exec == nil || len(p.Exec.Command) != 3 || p.Exec.Command[0] != "/bin/sh" || p.Exec.Command[1] != "-c" {
		t.Fatalf("readinessProbe %+v: want an exec of /bin/sh -c", p)
	}
	script := p.Exec.Command[2]
	ready := filepath.Join(d.StateDir, nriplugin.ReadyFile)
	if !strings.Contains(script, ready) || !strings.Contains(script, d.NRISocket) {
		t.Fatalf("readiness script %q does not test %s and %s", script, ready, d.NRISocket)
	}

	// Run it with the paths moved under a temporary directory.
	tmp, err := os.MkdirTemp("", "probe") // short: a socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	readyAt, socketAt := filepath.Join(tmp, "nri.ready"), filepath.Join(tmp, "nri.sock")
	local := strings.NewReplacer(ready, readyAt, d.NRISocket, socketAt).Replace(script)
	probe := func() bool { return exec.Command("/bin/sh", "-c", local).Run() == nil }
	if !probe() {
		t.Error("not ready on a node without an NRI socket (the event watch attaches there)")
	}
	l, err := net.Listen("unix", socketAt)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if probe() {
		t.Error("ready while the runtime's NRI socket exists and the plugin is not registered")
	}
	if err := os.WriteFile(readyAt, []byte("containerd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !probe() {
		t.Error("not ready with the plugin registered")
	}
}
