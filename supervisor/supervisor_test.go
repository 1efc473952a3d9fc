package supervisor

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lxmount/lxmount/supervisor/discovery"
)

func TestNewIDFromRuntimeOrCgroup(t *testing.T) {
	s := &Supervisor{byID: map[string]*attachment{"taken": {}}}
	for _, tc := range []struct {
		name string
		c    discovery.Container
		want string
	}{
		{"runtime id", discovery.Container{ID: "web-1"}, "web-1"},
		{"long hex id is shortened", discovery.Container{ID: "0123456789abcdef0123456789abcdef"}, "0123456789ab"},
		{"docker scope", discovery.Container{CgroupV1: map[string]string{"memory": "/system.slice/docker-abcdef0123456789abcdef.scope"}}, "abcdef012345"},
		{"cri-containerd", discovery.Container{CgroupV2: "/kubepods/pod1/cri-containerd-deadbeefdeadbeefdead.scope"}, "deadbeefdead"},
		{"plain cgroup", discovery.Container{CgroupV1: map[string]string{"memory": "/lxmount-test-a"}}, "lxmount-test-a"},
		{"root cgroup falls back", discovery.Container{CgroupV2: "/", MountNS: 42}, "ns-42"},
		{"clash falls back", discovery.Container{ID: "taken", MountNS: 7}, "ns-7"},
		{"unsafe characters dropped", discovery.Container{ID: "a b/c"}, "abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.newID(tc.c); got != tc.want {
				t.Errorf("newID = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHierarchiesDirs(t *testing.T) {
	h := Hierarchies{V1: map[string]string{"memory": "/sys/fs/cgroup/memory", "cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct"}, Unified: "/sys/fs/cgroup/unified"}
	cg := h.Dirs(map[string]string{"memory": "/a", "cpu": "/b", "blkio": "/c"}, "/d")
	if cg.V1["memory"] != "/sys/fs/cgroup/memory/a" || cg.V1["cpu"] != "/sys/fs/cgroup/cpu,cpuacct/b" {
		t.Errorf("v1 dirs %v", cg.V1)
	}
	if _, ok := cg.V1["blkio"]; ok {
		t.Errorf("a controller with no mounted hierarchy got a dir: %v", cg.V1)
	}
	if cg.V2 != "/sys/fs/cgroup/unified/d" {
		t.Errorf("v2 dir %q", cg.V2)
	}
}

func TestStateFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	st := Status{Containers: []ContainerInfo{{ID: "x", InitPID: 42, InitStart: 7, MountNS: 9, Policy: "p"}}}
	if err := writeFileAtomic(filepath.Join(dir, StateFile), st); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, StateFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi, err)
	}
	prev := readPrevious(dir).containers
	if len(prev) != 1 || prev[0].ID != "x" || prev[0].InitPID != 42 || prev[0].InitStart != 7 || prev[0].MountNS != 9 || prev[0].Policy != "p" {
		t.Errorf("readPrevious = %+v", prev)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*")); len(leftovers) != 0 {
		t.Errorf("temp files left: %v", leftovers)
	}
	if p := readPrevious(t.TempDir()); p.containers != nil || p.err != nil {
		t.Errorf("no state file should mean nothing to recover")
	}
}

func TestSummaryLine(t *testing.T) {
	s := Summary{Attached: 3, Healed: 2, Detached: 1, Unchanged: 40}
	want := "attached 3, healed 2, reapplied 0, detached 1, unchanged 40, failed 0"
	if s.String() != want {
		t.Errorf("%q, want %q", s.String(), want)
	}
}

// TestAssembleState checks that the state file assembled from the cached
// per-container encodings is byte for byte json.MarshalIndent of Status.
func TestAssembleState(t *testing.T) {
	at := time.Date(2026, 11, 26, 12, 0, 1, 123456789, time.UTC)
	full := ContainerInfo{
		ID: "web-1", Runtime: "runc", Name: "web <1> & co", InitPID: 4242, InitStart: 1234567, MountNS: 4026532301,
		Cgroup: "/web-1", CgroupDirs: map[string]string{"memory": "/sys/fs/cgroup/memory/web-1", "unified": "/sys/fs/cgroup/unified/web-1"},
		Policy: "default", Files: []string{"meminfo", "cpuinfo"}, Targets: []string{"/proc/meminfo", "/proc/cpuinfo"},
		Refused: map[string]string{"pressure_cpu": "not available for this container"}, AttachedAt: at,
		Reads: 17, Errors: 1, LastError: "render \"x\": failed\n", Health: "healthy", CheckedAt: at.Add(time.Second),
	}
	daemon := DaemonInfo{PID: 123, Version: "v0.1.0", StartedAt: at, Socket: "/run/lxmount/lxmount.sock", StateDir: "/run/lxmount",
		Goroutines: 12, Threads: 9, FDs: 14,
		LastReconcile: &LastReconcile{At: at, Summary: Summary{Attached: 3}, Took: "1ms"}, PolicyError: "bad"}
	for _, st := range []Status{
		{Daemon: daemon, Containers: []ContainerInfo{}},
		{Daemon: DaemonInfo{PID: 1}, Containers: []ContainerInfo{{ID: "x"}}},
		{Daemon: daemon, Containers: []ContainerInfo{full, {ID: "y", Files: []string{}}, full}},
	} {
		want, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		d, err := json.MarshalIndent(st.Daemon, "  ", "  ")
		if err != nil {
			t.Fatal(err)
		}
		var entries [][]byte
		for _, ci := range st.Containers {
			e, err := encodeEntry(ci)
			if err != nil {
				t.Fatal(err)
			}
			entries = append(entries, e)
		}
		if got := assembleState(d, entries); !bytes.Equal(got, want) {
			t.Errorf("assembled state:\n%s\nwant (json.MarshalIndent):\n%s", got, want)
		}
	}
}

// TestCountFDs compares countFDs with a listing of /proc/self/fd.
func TestCountFDs(t *testing.T) {
	for range 20 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
	}
	des, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	if got := countFDs(); got != len(des) {
		t.Errorf("countFDs() = %d, a listing of /proc/self/fd shows %d", got, len(des))
	}
}
