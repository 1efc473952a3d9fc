package sources

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Benchmarks of every renderer and cgroup reader, on the captured fixtures
// (files read through their path, as fixtures are) and on the running
// kernel (the process's own cgroup, read through the file cache). Run with
//
//	go test -run '^$' -bench . -benchmem ./sources

// fixtureContainer binds every file's inputs to the captured fixtures of
// gen ("v1" or "v2"), variant "limited".
func fixtureContainer(gen string) *Container {
	root := filepath.Join("testdata", gen)
	host := Host{ProcRoot: filepath.Join(root, "proc"), SysRoot: filepath.Join(root, "sys")}
	var cg Cgroup
	if gen == "v1" {
		cg.V1 = map[string]string{}
		for _, ctrl := range []string{"memory", "cpu", "cpuacct", "cpuset", "blkio"} {
			cg.V1[ctrl] = filepath.Join(root, "limited", ctrl)
		}
	} else {
		cg.V2 = filepath.Join(root, "limited")
	}
	now := cpuNowV1
	if gen == "v2" {
		now = cpuNowV2
	}
	return NewContainer(host, cg, now.Add(-time.Minute), DefaultOptions())
}

// benchRender renders f for c in a loop.
func benchRender(b *testing.B, c *Container, f File) {
	var buf bytes.Buffer
	if err := c.Render(f, &buf); err != nil {
		b.Skipf("render %s: %v", f.Name, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := c.Render(f, &buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderFixture renders every file from the fixtures. Task
// counts find no tasks there (no pids fixture): see BenchmarkReadTaskStates.
func BenchmarkRenderFixture(b *testing.B) {
	for _, gen := range []string{"v1", "v2"} {
		c := fixtureContainer(gen)
		for _, f := range Files() {
			if !f.Available(c) {
				continue
			}
			b.Run(gen+"/"+f.Name, func(b *testing.B) { benchRender(b, c, f) })
		}
	}
}

// liveControllers are the v1 controllers a live benchmark cgroup gets.
var liveControllers = []string{"memory", "cpu", "cpuacct", "cpuset", "blkio", "pids"}

// liveContainer binds a container to the running kernel: host /proc and
// a fresh, empty cgroup v1 group with a 256 MiB limit, created for the
// benchmark and removed after it. Skips without root or cgroup v1.
func liveContainer(b *testing.B) *Container {
	var st unix.Statfs_t
	if os.Geteuid() != 0 || unix.Statfs("/sys/fs/cgroup/memory", &st) != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
		b.Skip("needs root and cgroup v1 controllers under /sys/fs/cgroup")
	}
	name := "lxmount-bench-live-" + strconv.Itoa(os.Getpid())
	cg := Cgroup{V1: map[string]string{}}
	b.Cleanup(func() {
		for _, dir := range cg.V1 {
			unix.Rmdir(dir)
		}
	})
	for _, ctrl := range liveControllers {
		dir := filepath.Join("/sys/fs/cgroup", ctrl, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Skip(err)
		}
		cg.V1[ctrl] = dir
	}
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		v, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/cpuset", f))
		if err == nil {
			err = os.WriteFile(filepath.Join(cg.V1["cpuset"], f), v, 0)
		}
		if err != nil {
			b.Skip(err)
		}
	}
	if err := os.WriteFile(filepath.Join(cg.V1["memory"], "memory.limit_in_bytes"), []byte("268435456"), 0); err != nil {
		b.Skip(err)
	}
	c := NewContainer(DefaultHost(), cg, time.Now().Add(-time.Hour), DefaultOptions())
	b.Cleanup(c.Close)
	return c
}

// BenchmarkRenderLive renders every file for a live cgroup (see
// liveContainer) through the container's file cache: what one read of a
// virtual file costs the daemon, FUSE aside. Its task list is empty:
// each task of a container adds a /proc/<tid>/stat read to stat and
// loadavg (BenchmarkReadTaskStates).
func BenchmarkRenderLive(b *testing.B) {
	c := liveContainer(b)
	for _, f := range Files() {
		if !f.Available(c) {
			continue
		}
		b.Run(f.Name, func(b *testing.B) { benchRender(b, c, f) })
	}
}

// BenchmarkReadMemoryLive compares the memory reader through the file
// cache (pread of kept descriptors) with opening every file each time.
func BenchmarkReadMemoryLive(b *testing.B) {
	c := liveContainer(b)
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 4096)
		for b.Loop() {
			readMemory(c.read, buf, c.Cgroup)
		}
	})
	b.Run("path", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 4096)
		for b.Loop() {
			readMemory(readPath, buf, c.Cgroup)
		}
	})
}

// BenchmarkReadMemory is the memory cgroup reader on the fixtures.
func BenchmarkReadMemory(b *testing.B) {
	for _, tt := range []struct {
		name string
		cg   Cgroup
	}{{"v1", memV1(memV1Limited)}, {"v2", memV2(memV2Limited)}} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ReadMemory(tt.cg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCPUReaders are the CPU cgroup readers on the fixtures.
func BenchmarkCPUReaders(b *testing.B) {
	v1 := filepath.Join("testdata", "v1", "limited")
	v2 := filepath.Join("testdata", "v2", "limited")
	for _, tt := range []struct {
		name string
		read func() error
	}{
		{"ReadCPUUsageV1", func() error { _, err := ReadCPUUsageV1(filepath.Join(v1, "cpuacct")); return err }},
		{"ReadCPUUsageV2", func() error { _, err := ReadCPUUsageV2(v2); return err }},
		{"ReadCFSQuotaV1", func() error { _, err := ReadCFSQuotaV1(filepath.Join(v1, "cpu")); return err }},
		{"ReadCPUMax", func() error { _, err := ReadCPUMax(filepath.Join(v2, v2CPUMax)); return err }},
		{"ReadCPUList", func() error { _, err := ReadCPUList(filepath.Join(v2, v2CpusetEffective)); return err }},
		{"visibleCPUs v1", func() error { _, err := fixtureContainer("v1").visibleCPUs(); return err }},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := tt.read(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadCgroupIO is the block I/O reader on the fixtures.
func BenchmarkReadCgroupIO(b *testing.B) {
	for _, gen := range []string{"v1", "v2"} {
		cg := ioFixtureContainer(gen, "limited").Cgroup
		b.Run(gen, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := readCgroupIO(cg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadTaskStates counts the 7 tasks of the synthetic task tree
// (one child cgroup) and, live, the tasks of this process's memory cgroup
// through a container's file cache: with cgroupstats (v1), and task by
// task.
func BenchmarkReadTaskStates(b *testing.B) {
	for _, gen := range []string{"v1", "v2"} {
		c := taskTreeContainer(gen, "ctr")
		b.Run("synthetic "+gen, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := readTaskStates(c.Host, c.Cgroup); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, byTask := range []bool{false, true} {
		name := "live"
		if byTask {
			name = "live task by task" // what a cgroup2 container does
		}
		b.Run(name, func(b *testing.B) {
			cg, err := selfMemoryCgroup()
			if err != nil {
				b.Skip(err)
			}
			c := NewContainer(DefaultHost(), cg, time.Time{}, DefaultOptions())
			defer c.Close()
			r := c.fileReader()
			defer c.putReader(r)
			if byTask {
				r.counts = nil
			}
			ts, err := r.taskStates(c.Host, c.Cgroup)
			if err != nil {
				b.Skip(err)
			}
			b.ReportMetric(float64(ts.Total), "tasks")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.taskStates(c.Host, c.Cgroup); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// selfMemoryCgroup is this process's v1 memory cgroup, unless it is the
// root (whose task list is the whole host).
func selfMemoryCgroup() (Cgroup, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return Cgroup{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) == 3 && parts[1] == "memory" && parts[2] != "/" {
			return Cgroup{V1: map[string]string{"memory": filepath.Join("/sys/fs/cgroup/memory", parts[2])}}, nil
		}
	}
	return Cgroup{}, errors.New("no v1 memory cgroup other than the root")
}

// BenchmarkSwapsRender is the pure /proc/swaps renderer.
func BenchmarkSwapsRender(b *testing.B) {
	host, err := os.ReadFile(filepath.Join(memV2Proc, "swaps"))
	if err != nil {
		b.Fatal(err)
	}
	meminfo, err := os.ReadFile(filepath.Join(memV2Proc, "meminfo"))
	if err != nil {
		b.Fatal(err)
	}
	m, err := ReadMemory(memV2(memV2Limited))
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		dst = Swaps(dst[:0], host, meminfo, m, SwapCgroup)
	}
}
