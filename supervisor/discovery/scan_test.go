package discovery

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// found is the part of a Container the grouping tests compare.
type found struct {
	Init         int
	PIDNS, MntNS uint64
	Runtime, ID  string
	Name         string
}

// summarize reduces cs to what the grouping tests compare.
func summarize(cs []Container) []found {
	out := []found{}
	for _, c := range cs {
		out = append(out, found{c.InitPID, c.PIDNS, c.MountNS, c.Runtime, c.ID, c.Name})
	}
	return out
}

// Fixture namespaces: pid namespaces 10xx, mount namespaces 20xx.
func TestScanGrouping(t *testing.T) {
	tests := []struct {
		name  string
		procs []fproc
		want  []found
	}{{
		name: "pid-ns init with children forked in the same clock tick",
		procs: []fproc{
			{pid: 100, ppid: 1, start: 500, pidNS: 1001, mntNS: 2001, nspid: []int{100, 1}},
			{pid: 101, ppid: 100, start: 500, pidNS: 1001, mntNS: 2001, nspid: []int{101, 2}},
			{pid: 102, ppid: 101, start: 600, pidNS: 1001, mntNS: 2001, nspid: []int{102, 3}},
		},
		want: []found{{Init: 100, PIDNS: 1001, MntNS: 2001}},
	}, {
		name: "process exec'd into the container later, reparented to the shim outside",
		procs: []fproc{
			{pid: 100, ppid: 1, start: 500, pidNS: 1001, mntNS: 2001, nspid: []int{100, 1}},
			{pid: 150, ppid: 1, start: 900, pidNS: 1001, mntNS: 2001, nspid: []int{150, 7}},
		},
		want: []found{{Init: 100, PIDNS: 1001, MntNS: 2001}},
	}, {
		name: "exec'd in the init's clock tick with a lower pid: NSpid decides",
		procs: []fproc{
			{pid: 100, ppid: 1, start: 500, pidNS: 1001, mntNS: 2001, nspid: []int{100, 1}},
			{pid: 99, ppid: 1, start: 500, pidNS: 1001, mntNS: 2001, nspid: []int{99, 2}},
		},
		want: []found{{Init: 100, PIDNS: 1001, MntNS: 2001}},
	}, {
		name: "pid wrap: the init has a higher pid than an exec'd process",
		procs: []fproc{
			{pid: 900, ppid: 1, start: 50, pidNS: 1001, mntNS: 2001, nspid: []int{900, 1}},
			{pid: 120, ppid: 1, start: 70, pidNS: 1001, mntNS: 2001, nspid: []int{120, 9}},
		},
		want: []found{{Init: 900, PIDNS: 1001, MntNS: 2001}},
	}, {
		name: "systemd service with PrivateTmp: own mount ns, host pid ns",
		procs: []fproc{
			{pid: 200, ppid: 1, start: 100, mntNS: 2002},
		},
		want: []found{},
	}, {
		name: "unshare -p -f without -m: own pid ns, host mount ns",
		procs: []fproc{
			{pid: 300, ppid: 1, start: 100, pidNS: 1003, nspid: []int{300, 1}},
		},
		want: []found{},
	}, {
		name: "pod sharing its pid ns: pause and app in their own mount ns",
		procs: []fproc{
			{pid: 400, ppid: 1, start: 100, pidNS: 1004, mntNS: 2004, nspid: []int{400, 1}},
			{pid: 410, ppid: 1, start: 200, pidNS: 1004, mntNS: 2005, nspid: []int{410, 2}},
			{pid: 411, ppid: 410, start: 300, pidNS: 1004, mntNS: 2005, nspid: []int{411, 3}},
		},
		want: []found{{Init: 400, PIDNS: 1004, MntNS: 2004}, {Init: 410, PIDNS: 1004, MntNS: 2005}},
	}, {
		name: "service with PrivateTmp inside a system container is part of it",
		procs: []fproc{
			{pid: 500, ppid: 1, start: 100, pidNS: 1006, mntNS: 2006, nspid: []int{500, 1}},
			{pid: 510, ppid: 500, start: 300, pidNS: 1006, mntNS: 2007, nspid: []int{510, 20}},
		},
		want: []found{{Init: 500, PIDNS: 1006, MntNS: 2006}},
	}, {
		name: "two pid-ns inits in one mount ns: the older wins",
		procs: []fproc{
			{pid: 600, ppid: 1, start: 100, pidNS: 1008, mntNS: 2008, nspid: []int{600, 1}},
			{pid: 610, ppid: 600, start: 200, pidNS: 1009, mntNS: 2008, nspid: []int{610, 5, 1}},
		},
		want: []found{{Init: 600, PIDNS: 1008, MntNS: 2008}},
	}, {
		name: "container inside a container",
		procs: []fproc{
			{pid: 700, ppid: 1, start: 100, pidNS: 1010, mntNS: 2010, nspid: []int{700, 1}},
			{pid: 705, ppid: 700, start: 150, pidNS: 1010, mntNS: 2010, nspid: []int{705, 2}},
			{pid: 710, ppid: 705, start: 200, pidNS: 1011, mntNS: 2011, nspid: []int{710, 3, 1}},
		},
		want: []found{{Init: 700, PIDNS: 1010, MntNS: 2010}, {Init: 710, PIDNS: 1011, MntNS: 2011}},
	}, {
		name: "zombie without ns/mnt link is left out",
		procs: []fproc{
			{pid: 800, ppid: 1, start: 100, pidNS: 1012, zombie: true, nspid: []int{800, 1}},
		},
		want: []found{},
	}, {
		name: "command name with spaces and parentheses",
		procs: []fproc{
			{pid: 100, ppid: 1, start: 500, pidNS: 1001, mntNS: 2001, nspid: []int{100, 1}, comm: "a) (b c"},
		},
		want: []found{{Init: 100, PIDNS: 1001, MntNS: 2001}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeProcTree(t, tt.procs)
			cs, err := Scan(Options{ProcRoot: root, Sources: []Source{}})
			if err != nil {
				t.Fatal(err)
			}
			if got := summarize(cs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Scan:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// The processes the runtime-state cases share: a runc-style container (100),
// a --pid=host container (200) and a host process (300).
var stateProcs = []fproc{
	{pid: 100, ppid: 1, start: 500, pidNS: 1001, mntNS: 2001, nspid: []int{100, 1}},
	{pid: 101, ppid: 100, start: 600, pidNS: 1001, mntNS: 2001, nspid: []int{101, 2}},
	{pid: 200, ppid: 1, start: 700, mntNS: 2002},
	{pid: 300, ppid: 1, start: 800},
}

func TestScanRuntimeState(t *testing.T) {
	kube := map[string]string{
		annCRIContainerType: "container", annCRIContainerName: "app",
		annCRISandboxName: "web-0", annCRISandboxNS: "shop",
	}
	tests := []struct {
		name   string
		states []fstate
		want   []found
	}{{
		name:   "runc state matching pid and start time",
		states: []fstate{{format: RuncState, id: "c1", pid: 100, start: 500}},
		want:   []found{{Init: 100, PIDNS: 1001, MntNS: 2001, Runtime: "runc", ID: "c1", Name: "c1"}},
	}, {
		name:   "runc state with containerd CRI annotations names the container",
		states: []fstate{{format: RuncState, id: "c1", pid: 100, start: 500, annotations: kube}},
		want:   []found{{Init: 100, PIDNS: 1001, MntNS: 2001, Runtime: "runc", ID: "c1", Name: "app"}},
	}, {
		name:   "runc state whose pid was reused (other start time) is ignored",
		states: []fstate{{format: RuncState, id: "c1", pid: 100, start: 499}},
		want:   []found{{Init: 100, PIDNS: 1001, MntNS: 2001}},
	}, {
		name:   "runc state of a process in the host's mount ns is ignored",
		states: []fstate{{format: RuncState, id: "c1", pid: 300, start: 800}},
		want:   []found{{Init: 100, PIDNS: 1001, MntNS: 2001}},
	}, {
		name:   "runc state of a gone process is ignored",
		states: []fstate{{format: RuncState, id: "c1", pid: 4242, start: 800}},
		want:   []found{{Init: 100, PIDNS: 1001, MntNS: 2001}},
	}, {
		name:   "--pid=host container found through its runc state",
		states: []fstate{{format: RuncState, id: "h1", pid: 200, start: 700}},
		want:   []found{{Init: 100, PIDNS: 1001, MntNS: 2001}, {Init: 200, PIDNS: hostPIDNS, MntNS: 2002, Runtime: "runc", ID: "h1", Name: "h1"}},
	}, {
		name: "runc state names a non-init process of the mount ns: the record wins",
		states: []fstate{
			{format: RuncState, id: "c1", pid: 101, start: 600},
		},
		want: []found{{Init: 101, PIDNS: 1001, MntNS: 2001, Runtime: "runc", ID: "c1", Name: "c1"}},
	}, {
		name:   "crun status",
		states: []fstate{{format: CrunState, id: "c2", pid: 100, start: 500}},
		want:   []found{{Init: 100, PIDNS: 1001, MntNS: 2001, Runtime: "crun", ID: "c2", Name: "c2"}},
	}, {
		name: "podman's annotation in /run/runc",
		states: []fstate{{format: RuncState, id: "p1", pid: 100, start: 500,
			annotations: map[string]string{annContainerManager: "libpod", "io.kubernetes.cri-o.TTY": "false"}}},
		want: []found{{Init: 100, PIDNS: 1001, MntNS: 2001, Runtime: "podman", ID: "p1", Name: "p1"}},
	}, {
		name: "CRI-O's annotations in /run/crun",
		states: []fstate{{format: CrunState, id: "o1", pid: 100, start: 500,
			annotations: map[string]string{annCRIOContainerID: "o1", annKubeContainerName: "db", annKubePodName: "db-0"}}},
		want: []found{{Init: 100, PIDNS: 1001, MntNS: 2001, Runtime: "cri-o", ID: "o1", Name: "db"}},
	}, {
		name: "containerd task written after its init started",
		states: []fstate{{format: ContainerdTasks, id: "t1", pid: 100, pidFileAge: 6 * time.Second,
			annotations: map[string]string{annNerdctlName: "nginx"}}},
		want: []found{{Init: 100, PIDNS: 1001, MntNS: 2001, Runtime: "containerd", ID: "t1", Name: "nginx"}},
	}, {
		name:   "containerd task whose pid was reused (process started after init.pid)",
		states: []fstate{{format: ContainerdTasks, id: "t1", pid: 100, pidFileAge: 1 * time.Second}},
		want:   []found{{Init: 100, PIDNS: 1001, MntNS: 2001}},
	}, {
		name: "docker: runc root and containerd namespace moby describe one container",
		states: []fstate{
			{format: ContainerdTasks, id: "d1", ns: "moby", pid: 100, pidFileAge: 6 * time.Second},
			{format: RuncState, id: "d1", pid: 100, start: 500},
		},
		// writeState lists the runc root first; with Runtime "" it derives "runc".
		want: []found{{Init: 100, PIDNS: 1001, MntNS: 2001, Runtime: "runc", ID: "d1", Name: "d1"}},
	}, {
		name:   "containerd namespace moby is docker",
		states: []fstate{{format: ContainerdTasks, id: "d1", ns: "moby", pid: 100, pidFileAge: 6 * time.Second}},
		want:   []found{{Init: 100, PIDNS: 1001, MntNS: 2001, Runtime: "docker", ID: "d1", Name: "d1"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeProcTree(t, stateProcs)
			cs, err := Scan(Options{ProcRoot: root, Sources: writeState(t, tt.states)})
			if err != nil {
				t.Fatal(err)
			}
			if got := summarize(cs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Scan:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestScanFields(t *testing.T) {
	root := writeProcTree(t, stateProcs)
	ann := map[string]string{annCRIContainerName: "app", annCRISandboxName: "web-0", annCRISandboxNS: "shop"}
	srcs := writeState(t, []fstate{{format: RuncState, id: "c1", pid: 100, start: 500, annotations: ann}})
	cs, err := Scan(Options{ProcRoot: root, Sources: srcs})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 {
		t.Fatalf("Scan: %d containers, want 1: %+v", len(cs), cs)
	}
	c := cs[0]
	if c.InitStart != 500 {
		t.Errorf("InitStart = %d, want 500", c.InitStart)
	}
	if want := map[string]string{"memory": "/cg-100"}; !reflect.DeepEqual(c.CgroupV1, want) {
		t.Errorf("CgroupV1 = %v, want %v", c.CgroupV1, want)
	}
	if c.CgroupV2 != "/cg-100" {
		t.Errorf("CgroupV2 = %q, want /cg-100", c.CgroupV2)
	}
	if !reflect.DeepEqual(c.Annotations, ann) {
		t.Errorf("Annotations = %v, want %v", c.Annotations, ann)
	}
	if c.Bundle == "" {
		t.Errorf("Bundle empty")
	}
	if ns, pod := c.Pod(); ns != "shop" || pod != "web-0" {
		t.Errorf("Pod() = %q, %q, want shop, web-0", ns, pod)
	}
}

func TestResolve(t *testing.T) {
	procs := []fproc{
		// A container with a child and an exec'd process.
		{pid: 100, ppid: 1, start: 500, pidNS: 1001, mntNS: 2001, nspid: []int{100, 1}},
		{pid: 101, ppid: 100, start: 600, pidNS: 1001, mntNS: 2001, nspid: []int{101, 2}},
		{pid: 150, ppid: 1, start: 900, pidNS: 1001, mntNS: 2001, nspid: []int{150, 3}},
		// A service with PrivateTmp (host pid ns): its main process 200, a
		// child forked in the same tick with a lower pid, and a second service
		// joining the namespace later.
		{pid: 200, ppid: 1, start: 100, mntNS: 2002},
		{pid: 199, ppid: 200, start: 100, mntNS: 2002},
		{pid: 202, ppid: 1, start: 300, mntNS: 2002},
		// A pod sharing the pause container's pid ns.
		{pid: 400, ppid: 1, start: 100, pidNS: 1004, mntNS: 2004, nspid: []int{400, 1}},
		{pid: 410, ppid: 1, start: 200, pidNS: 1004, mntNS: 2005, nspid: []int{410, 2}},
		{pid: 411, ppid: 410, start: 300, pidNS: 1004, mntNS: 2005, nspid: []int{411, 3}},
		// A service with PrivateTmp inside a system container.
		{pid: 500, ppid: 1, start: 100, pidNS: 1006, mntNS: 2006, nspid: []int{500, 1}},
		{pid: 510, ppid: 500, start: 300, pidNS: 1006, mntNS: 2007, nspid: []int{510, 20}},
		{pid: 511, ppid: 510, start: 400, pidNS: 1006, mntNS: 2007, nspid: []int{511, 21}},
		// A --pid=host container known to runc, and its child.
		{pid: 600, ppid: 1, start: 700, mntNS: 2008},
		{pid: 601, ppid: 600, start: 700, mntNS: 2008},
		// A host process and a zombie.
		{pid: 300, ppid: 1, start: 800},
		{pid: 800, ppid: 100, start: 900, pidNS: 1001, zombie: true},
	}
	root := writeProcTree(t, procs)
	srcs := writeState(t, []fstate{{format: RuncState, id: "h1", pid: 600, start: 700}})
	tests := []struct {
		name    string
		pid     int
		want    found
		wantErr error
	}{
		{name: "container init", pid: 100, want: found{Init: 100, PIDNS: 1001, MntNS: 2001}},
		{name: "child of the init", pid: 101, want: found{Init: 100, PIDNS: 1001, MntNS: 2001}},
		{name: "exec'd process", pid: 150, want: found{Init: 100, PIDNS: 1001, MntNS: 2001}},
		{name: "PrivateTmp service: oldest process whose parent is outside", pid: 202, want: found{Init: 200, PIDNS: hostPIDNS, MntNS: 2002}},
		{name: "app of a pod sharing the pid ns", pid: 411, want: found{Init: 410, PIDNS: 1004, MntNS: 2005}},
		{name: "PrivateTmp service inside a system container", pid: 511, want: found{Init: 510, PIDNS: 1006, MntNS: 2007}},
		{name: "--pid=host container known to runc", pid: 601, want: found{Init: 600, PIDNS: hostPIDNS, MntNS: 2008, Runtime: "runc", ID: "h1", Name: "h1"}},
		{name: "host process", pid: 300, wantErr: ErrNotContainer},
		{name: "host init", pid: 1, wantErr: ErrNotContainer},
		{name: "no such pid", pid: 4242, wantErr: ErrNoProcess},
		{name: "zombie", pid: 800, wantErr: ErrNoProcess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Resolve(Options{ProcRoot: root, Sources: srcs}, tt.pid)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Resolve(%d) error = %v, want %v", tt.pid, err, tt.wantErr)
				}
				t.Logf("Resolve(%d): %v", tt.pid, err)
				return
			}
			if err != nil {
				t.Fatalf("Resolve(%d): %v", tt.pid, err)
			}
			if got := summarize([]Container{c})[0]; got != tt.want {
				t.Errorf("Resolve(%d):\n got %+v\nwant %+v", tt.pid, got, tt.want)
			}
		})
	}
}

func TestScanHostNamespacesUnreadable(t *testing.T) {
	_, err := Scan(Options{ProcRoot: t.TempDir(), Sources: []Source{}})
	if err == nil {
		t.Fatal("Scan of an empty directory: no error")
	}
	t.Log(err)
}
