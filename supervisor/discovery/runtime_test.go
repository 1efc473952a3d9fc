package discovery

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// open opens a testdata file or fails the test.
func open(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestParseRuncState(t *testing.T) {
	tests := []struct {
		name string
		file string // in testdata; or
		json string // inline
		want record
	}{{
		name: "runc 1.1.5 with containerd CRI annotations",
		file: "runc-state.json",
		want: record{id: "cap1", pid: 28856, start: 139777, bundle: "/tmp/exp/b1", annotations: map[string]string{
			annCRIContainerType: "container", annCRIContainerName: "app", annCRISandboxName: "web-0",
			annCRISandboxNS: "shop", "io.kubernetes.cri.sandbox-id": "5d1c0e",
		}},
	}, {
		name: "podman 4.3.1 via runc",
		file: "podman/state.json",
		want: record{id: "cd5343d9803d9fb1de429c2cc6395ac0756490ec2c63f57dee2c73a53857adab", pid: 29255, start: 140810,
			bundle: "/tmp/exp/pt2/root/vfs-containers/cd5343d9803d9fb1de429c2cc6395ac0756490ec2c63f57dee2c73a53857adab/userdata",
			annotations: map[string]string{
				"io.podman.annotations.publish-all": "FALSE", "org.opencontainers.image.stopSignal": "15",
				annContainerManager: "libpod", "io.kubernetes.cri-o.Created": "2026-11-26T12:40:07.234053831Z",
				"io.kubernetes.cri-o.TTY": "false", "io.podman.annotations.autoremove": "FALSE",
				"io.podman.annotations.init": "FALSE", "io.podman.annotations.privileged": "FALSE",
			}},
	}, {
		name: "runc before 1.0 wrote the start time as a string",
		json: `{"id": "old", "init_process_pid": 5, "init_process_start": "123", "config": {"labels": ["bundle=/b"]}}`,
		want: record{id: "old", pid: 5, start: 123, bundle: "/b"},
	}, {
		name: "annotation value holding '=' and an annotation named bundle",
		json: `{"id": "x", "init_process_pid": 5, "init_process_start": 1, "config": {"labels": ["a=b=c", "bundle=/ann", "bundle=/real"]}}`,
		want: record{id: "x", pid: 5, start: 1, bundle: "/real", annotations: map[string]string{"a": "b=c"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got record
			var err error
			if tt.file != "" {
				got, err = parseRuncState(open(t, tt.file))
			} else {
				got, err = parseRuncState(strings.NewReader(tt.json))
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseRuncState:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseRuncStateErrors(t *testing.T) {
	for _, j := range []string{
		`{"id": "x", "init_process_pid": 0}`,
		`{"id": "x", "init_process_pid": 5, "init_process_start": "soon"}`,
		`not json`,
	} {
		if got, err := parseRuncState(strings.NewReader(j)); err == nil {
			t.Errorf("parseRuncState(%s) = %+v, want an error", j, got)
		}
	}
}

func TestParseCrunStatus(t *testing.T) {
	got, err := parseCrunStatus(open(t, "crun-status.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := record{pid: 139179, start: 263473330, bundle: "/home/jwang/my_container"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseCrunStatus = %+v, want %+v", got, want)
	}
}

func TestReadBundleConfigContainerd(t *testing.T) {
	got := readBundleConfig(nil, filepath.Join("testdata", "containerd-task", "config.json"))
	if want := (bundleConfig{annotations: map[string]string{annNerdctlName: "web"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("bundle config = %+v, want %+v", got, want)
	}
	if got := readBundleConfig(nil, filepath.Join("testdata", "missing.json")); !reflect.DeepEqual(got, bundleConfig{}) {
		t.Errorf("bundle config of a missing file = %+v, want the zero value", got)
	}
}

func TestPodmanStore(t *testing.T) {
	names, err := parseStoreContainers(open(t, "podman/containers.json"))
	if err != nil {
		t.Fatal(err)
	}
	const id = "cd5343d9803d9fb1de429c2cc6395ac0756490ec2c63f57dee2c73a53857adab"
	if names[id] != "web" {
		t.Errorf("names[%s] = %q, want web (all: %v)", id, names[id], names)
	}

	// Podman's layout: <graphroot>/<driver>-containers/{containers.json,<id>/userdata}.
	dir := filepath.Join(t.TempDir(), "vfs-containers")
	b, err := os.ReadFile(filepath.Join("testdata", "podman", "containers.json"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "containers.json"), string(b))
	store := newNameStore(nil)
	tests := []struct{ bundle, id, want string }{
		{bundle: filepath.Join(dir, id, "userdata"), id: id, want: "web"},
		{bundle: filepath.Join(dir, id, "userdata"), id: "unknown", want: ""},
		{bundle: filepath.Join(dir, id), id: id, want: ""}, // not a podman bundle
		{bundle: "", id: id, want: ""},
	}
	for _, tt := range tests {
		if got := store.podman(tt.bundle, tt.id); got != tt.want {
			t.Errorf("podman(%q, %q) = %q, want %q", tt.bundle, tt.id, got, tt.want)
		}
	}
}

func TestRuntimeName(t *testing.T) {
	tests := []struct {
		name string
		src  Source
		ns   string
		ann  map[string]string
		want string
	}{
		{name: "runc root", src: Source{Format: RuncState}, want: "runc"},
		{name: "crun root", src: Source{Format: CrunState}, want: "crun"},
		{name: "containerd", src: Source{Format: ContainerdTasks}, ns: "default", want: "containerd"},
		{name: "containerd CRI", src: Source{Format: ContainerdTasks}, ns: "k8s.io", ann: map[string]string{annCRIContainerType: "container"}, want: "containerd"},
		{name: "docker's containerd namespace", src: Source{Format: ContainerdTasks}, ns: "moby", want: "docker"},
		{name: "podman", src: Source{Format: RuncState}, ann: map[string]string{annContainerManager: "libpod", "io.kubernetes.cri-o.TTY": "false"}, want: "podman"},
		{name: "cri-o", src: Source{Format: CrunState}, ann: map[string]string{annCRIOContainerID: "abc"}, want: "cri-o"},
		{name: "set by the source", src: Source{Format: RuncState, Runtime: "docker"}, ann: map[string]string{annCRIOContainerID: "abc"}, want: "docker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runtimeName(tt.src, tt.ns, tt.ann); got != tt.want {
				t.Errorf("runtimeName = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNameFromAnnotations(t *testing.T) {
	tests := []struct {
		name string
		ann  map[string]string
		want string
	}{
		{name: "containerd CRI container", ann: map[string]string{annCRIContainerType: "container", annCRIContainerName: "app", annCRISandboxName: "web-0"}, want: "app"},
		{name: "containerd CRI sandbox", ann: map[string]string{annCRIContainerType: "sandbox", annCRISandboxName: "web-0"}, want: "web-0"},
		{name: "CRI-O container", ann: map[string]string{annKubeContainerName: "db", annKubePodName: "db-0"}, want: "db"},
		{name: "CRI-O sandbox", ann: map[string]string{annCRIOContainerType: "sandbox", annKubePodName: "db-0"}, want: "db-0"},
		{name: "nerdctl", ann: map[string]string{annNerdctlName: "nginx"}, want: "nginx"},
		{name: "pod name alone is not a container name", ann: map[string]string{annKubePodName: "db-0"}, want: ""},
		{name: "none", ann: nil, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nameFromAnnotations(tt.ann); got != tt.want {
				t.Errorf("nameFromAnnotations = %q, want %q", got, tt.want)
			}
		})
	}
}
