package sources

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/lxmount/lxmount/internal/testenv"
)

func TestParseTaskState(t *testing.T) {
	tests := []struct {
		name  string
		stat  string
		state byte
		bad   bool
	}{
		{name: "plain comm", stat: "101 (sh) S 1 101 101 0", state: 'S'},
		{name: "comm with spaces", stat: "102 (busy loop) R 1 101", state: 'R'},
		{name: "comm with ') ('", stat: "103 (a) (b) R 1 101", state: 'R'},
		{name: "comm with a state letter after ')'", stat: "104 (x) R) D 1 101", state: 'D'},
		{name: "comm of parentheses only", stat: "202 (()) S 1 101", state: 'S'},
		{name: "empty comm", stat: "9 () Z 1", state: 'Z'},
		{name: "idle kernel thread", stat: "105 (kworker/u8:2-events_unbound) I 2 0", state: 'I'},
		{name: "prefix cut right after the state", stat: "7 (init) S", state: 'S'},
		{name: "no closing parenthesis", stat: "7 (init S 1", bad: true},
		{name: "nothing after comm", stat: "7 (init)", bad: true},
		{name: "no space after comm", stat: "7 (init)S 1", bad: true},
		{name: "two spaces after comm", stat: "7 (init)  S 1", bad: true},
		{name: "empty", stat: "", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTaskState([]byte(tt.stat))
			if tt.bad {
				if err == nil {
					t.Fatalf("parseTaskState(%q) = %q, want an error", tt.stat, got)
				}
				return
			}
			if err != nil || got != tt.state {
				t.Fatalf("parseTaskState(%q) = %q, %v; want %q", tt.stat, got, err, tt.state)
			}
		})
	}
}

// taskTree is the synthetic tree of testdata/tasks (see its README.md).
const taskTree = "testdata/tasks"

// taskTreeHost is the synthetic tree's host: its /proc holds the tasks.
func taskTreeHost() Host {
	return Host{ProcRoot: filepath.Join(taskTree, "proc"), SysRoot: filepath.Join(taskTree, "sys")}
}

func TestReadTaskStatesSynthetic(t *testing.T) {
	v1 := filepath.Join(taskTree, "v1/pids/ctr")
	v1Child := filepath.Join(v1, "child")
	v2 := filepath.Join(taskTree, "v2/ctr")
	all := TaskStates{Total: 7, Running: 3, Uninterruptible: 1}
	childOnly := TaskStates{Total: 2, Running: 1}
	tests := []struct {
		name string
		cg   Cgroup
		want TaskStates
	}{
		{name: "v1 pids with child cgroup", cg: Cgroup{V1: map[string]string{"pids": v1}}, want: all},
		{name: "v1 pids preferred over cpu", cg: Cgroup{V1: map[string]string{"cpu": v1Child, "pids": v1}}, want: all},
		{name: "v1 cpu without pids", cg: Cgroup{V1: map[string]string{"cpu": v1Child, "memory": v1}}, want: childOnly},
		{name: "v1 cpuacct without pids or cpu", cg: Cgroup{V1: map[string]string{"cpuacct": v1Child}}, want: childOnly},
		{name: "v1 memory only", cg: Cgroup{V1: map[string]string{"memory": v1}}, want: all},
		{name: "v1 preferred over v2 on hybrid hosts", cg: Cgroup{V1: map[string]string{"pids": v1Child}, V2: v2}, want: childOnly},
		{name: "v2 cgroup.threads with child cgroup", cg: Cgroup{V2: v2}, want: all},
		{name: "v1 blkio only falls to v2", cg: Cgroup{V1: map[string]string{"blkio": v1Child}, V2: v2}, want: all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readTaskStates(taskTreeHost(), tt.cg)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("readTaskStates = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestTaskStatesWithCounts: with a per-cgroup count (cgroupstats), the
// totals still come from the task lists, running and blocked from one
// count per cgroup (the top one and its child), running never above the
// total; a count the kernel cannot give falls back to reading every task.
func TestTaskStatesWithCounts(t *testing.T) {
	cg := Cgroup{V1: map[string]string{"pids": filepath.Join(taskTree, "v1/pids/ctr")}}
	var asked []string
	r := pathReader()
	r.counts = func(dir string) (taskCounts, error) {
		asked = append(asked, filepath.Base(dir))
		return taskCounts{Running: 5, Blocked: 1}, nil
	}
	got, err := r.taskStates(taskTreeHost(), cg)
	if err != nil {
		t.Fatal(err)
	}
	// 9 tasks listed (2 of them have no /proc entry: exited, for the
	// task-by-task count), 2 counts of 5 running: clamped to the 9.
	if want := (TaskStates{Total: 9, Running: 9, Uninterruptible: 2}); got != want {
		t.Errorf("with counts: %+v, want %+v", got, want)
	}
	if len(asked) != 2 || asked[0] != "ctr" || asked[1] != "child" {
		t.Errorf("counted %q, want the top cgroup and its child", asked)
	}

	r.counts = func(string) (taskCounts, error) { return taskCounts{}, errNoCgroupStats }
	got, err = r.taskStates(taskTreeHost(), cg)
	if err != nil {
		t.Fatal(err)
	}
	if want := (TaskStates{Total: 7, Running: 3, Uninterruptible: 1}); got != want {
		t.Errorf("kernel cannot count: %+v, want the task-by-task %+v", got, want)
	}
}

// TestFindAttr reads netlink attributes as the kernel lays them out.
func TestFindAttr(t *testing.T) {
	// CTRL_ATTR_FAMILY_NAME "TASKSTATS\0" (14 bytes, padded to 16), then
	// CTRL_ATTR_FAMILY_ID u16 (6, padded to 8), then a truncated one.
	b := []byte{14, 0, 2, 0, 'T', 'A', 'S', 'K', 'S', 'T', 'A', 'T', 'S', 0, 0, 0,
		6, 0, 1, 0, 31, 0, 0, 0,
		40, 0, 3, 0}
	if v, ok := findAttr(b, 1); !ok || len(v) != 2 || v[0] != 31 {
		t.Errorf("family id: %v %v, want [31 0]", v, ok)
	}
	if v, ok := findAttr(b, 2); !ok || string(v) != "TASKSTATS\x00" {
		t.Errorf("family name: %q %v", v, ok)
	}
	if _, ok := findAttr(b, 3); ok {
		t.Error("found an attribute longer than the buffer")
	}
}

func TestReadTaskStatesMissingCgroup(t *testing.T) {
	tests := []struct {
		name string
		cg   Cgroup
	}{
		{name: "no cgroup bound", cg: Cgroup{}},
		{name: "v1 cgroup removed", cg: Cgroup{V1: map[string]string{"pids": filepath.Join(taskTree, "v1/pids/gone")}}},
		{name: "v2 cgroup removed", cg: Cgroup{V2: filepath.Join(taskTree, "v2/gone")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readTaskStates(taskTreeHost(), tt.cg)
			if err == nil || !isVanished(err) {
				t.Fatalf("readTaskStates = %v, want an error for which isVanished is true", err)
			}
		})
	}
}

func TestReadTaskStatesBadTaskList(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tasks"), []byte("101\nnot-a-tid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := readTaskStates(taskTreeHost(), Cgroup{V1: map[string]string{"pids": dir}})
	if err == nil || isVanished(err) {
		t.Fatalf("readTaskStates = %v, want a parse error", err)
	}
}

func TestReadTaskStateVanished(t *testing.T) {
	var scratch [taskStatPrefix]byte
	for _, tid := range []int{107, 108} { // no proc/107; proc/108/stat empty
		_, err := readTaskState(filepath.Join(taskTree, "proc"), tid, scratch[:])
		if err == nil || !isVanished(err) {
			t.Errorf("tid %d: readTaskState = %v, want an error for which isVanished is true", tid, err)
		}
	}
	state, err := readTaskState(filepath.Join(taskTree, "proc"), 105, scratch[:])
	if err != nil || state != 'I' {
		t.Errorf("tid 105: readTaskState = %q, %v; want 'I'", state, err)
	}
}

// makeTaskTestCgroup creates parent/lxmount-test-<random> and removes it in
// t.Cleanup (after the processes moved into it are killed: cleanups run
// last-in first-out).
func makeTaskTestCgroup(t *testing.T, parent string) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "lxmount-test-"+hex.EncodeToString(b[:]))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The kernel may need a moment to drop the exited tasks.
		var err error
		for i := 0; i < 50; i++ {
			if err = syscall.Rmdir(dir); err == nil || errors.Is(err, syscall.ENOENT) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Errorf("rmdir %s: %v", dir, err)
	})
	return dir
}

// startInCgroup starts cmd, moves it into the cgroup dir and kills it by
// PID in t.Cleanup.
func startInCgroup(t *testing.T, dir string, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	procs := filepath.Join(dir, "cgroup.procs")
	if err := os.WriteFile(procs, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatalf("move %d to %s: %v", cmd.Process.Pid, procs, err)
	}
}

// cgroup2Root returns where the host mounts cgroup2, or "".
func cgroup2Root() string {
	for _, dir := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		// cgroup.threads exists only in cgroup2.
		if _, err := os.Stat(filepath.Join(dir, "cgroup.threads")); err == nil {
			return dir
		}
	}
	return ""
}

// TestReadTaskStatesLive counts a sleeping and a busy process moved into a
// fresh cgroup, in the v1 pids hierarchy and in cgroup2.
func TestReadTaskStatesLive(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "%s", "creating cgroups needs root")
	}
	ran := 0
	live := func(t *testing.T, parent string, bind func(dir string) Cgroup) {
		ran++
		dir := makeTaskTestCgroup(t, parent)
		startInCgroup(t, dir, exec.Command("sleep", "60"))
		// The busy one in a child cgroup: children are counted too.
		startInCgroup(t, makeTaskTestCgroup(t, dir), exec.Command("sh", "-c", "while :; do :; done"))
		cg := bind(dir)

		// Until sh has exec'd and runs its loop it may be briefly in D or S.
		var got TaskStates
		deadline := time.Now().Add(5 * time.Second)
		for {
			var err error
			got, err = readTaskStates(DefaultHost(), cg)
			if err != nil {
				t.Fatal(err)
			}
			if got.Total == 2 && got.Running == 1 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got.Total != 2 || got.Running != 1 {
			t.Fatalf("readTaskStates = %+v, want 2 tasks, 1 running (sleep 60 and a busy loop)", got)
		}

		// A container's renders count through its file cache: on v1 with
		// one cgroupstats request per cgroup, on cgroup2 (which
		// cgroupstats refuses) task by task. Same counts either way.
		c := NewContainer(DefaultHost(), cg, time.Now(), DefaultOptions())
		t.Cleanup(c.Close)
		r := c.fileReader()
		cached, err := r.taskStates(c.Host, c.Cgroup)
		c.putReader(r)
		if err != nil {
			t.Fatal(err)
		}
		if cached != got {
			t.Errorf("through the file cache: %+v, task by task: %+v", cached, got)
		}
		c.files.tasks.mu.Lock()
		usedStats := c.files.tasks.stats != nil && !c.files.tasks.noStats
		c.files.tasks.mu.Unlock()
		if want := cg.V2 == ""; usedStats != want {
			t.Errorf("counted with cgroupstats: %v, want %v (v1 only)", usedStats, want)
		}

		// The whole /proc/loadavg path on the live cgroup.
		start := time.Now()
		for i := 0; i < 12; i++ {
			if err := c.SampleLoad(start.Add(time.Duration(i) * LoadPeriod)); err != nil {
				t.Fatal(err)
			}
		}
		c.mu.Lock()
		avg := c.state.load.avg
		c.mu.Unlock()
		// One busy task for a minute: 0.63 (see TestLoadAverageKernelNumbers),
		// a little more if sleep was caught in D.
		if avg[0] < 1299 || avg[0] > 2*1299 {
			t.Errorf("1-minute average after 12 samples = %d/2048, want about 1299 (0.63)", avg[0])
		}
	}
	t.Run("v1 pids", func(t *testing.T) {
		root := "/sys/fs/cgroup/pids"
		if _, err := os.Stat(filepath.Join(root, "tasks")); err != nil {
			t.Skip("no cgroup v1 pids hierarchy")
		}
		live(t, root, func(dir string) Cgroup { return Cgroup{V1: map[string]string{"pids": dir}} })
	})
	t.Run("v2", func(t *testing.T) {
		root := cgroup2Root()
		if root == "" {
			t.Skip("no cgroup2 mount")
		}
		live(t, root, func(dir string) Cgroup { return Cgroup{V2: dir} })
	})
	if ran == 0 {
		testenv.SkipOrFail(t, "%s", "neither a cgroup v1 pids hierarchy nor cgroup2")
	}
}
