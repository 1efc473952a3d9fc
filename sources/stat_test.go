package sources

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestStatFormat(t *testing.T) {
	host := "cpu  1 2 3 4 5 6 7 8 9 10\n" +
		"cpu0 1 2 3 4 5 6 7 8 9 10\n" +
		"cpu1 0 0 0 0 0 0 0 0 0 0\n" +
		"intr 5 1 2\n" +
		"ctxt 6\n" +
		"btime 7\n" +
		"processes 8\n" +
		"procs_running 9\n" +
		"procs_blocked 10\n" +
		"softirq 11 1 2\n"
	cpus := []CPUTicks{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {11, 12, 13, 14, 15, 16, 17, 18, 19, 20}}
	tests := []struct {
		name string
		in   StatInput
		want string
	}{
		{"cpu lines replaced, sum on top, the rest kept", StatInput{Host: []byte(host), CPUs: cpus},
			"cpu  12 14 16 18 20 22 24 26 28 30\n" +
				"cpu0 1 2 3 4 5 6 7 8 9 10\n" +
				"cpu1 11 12 13 14 15 16 17 18 19 20\n" +
				host[strings.Index(host, "intr"):]},
		{"task states replace procs_running and procs_blocked", StatInput{Host: []byte(host), CPUs: cpus[:1], Tasks: &TaskStates{Total: 5, Running: 2, Uninterruptible: 3}},
			"cpu  1 2 3 4 5 6 7 8 9 10\n" +
				"cpu0 1 2 3 4 5 6 7 8 9 10\n" +
				"intr 5 1 2\nctxt 6\nbtime 7\nprocesses 8\nprocs_running 2\nprocs_blocked 3\nsoftirq 11 1 2\n"},
		{"no cpu lines keep the host's", StatInput{Host: []byte(host)}, host},
		{"a host file without a final newline gets one", StatInput{Host: []byte("ctxt 6"), CPUs: cpus[:1]},
			"cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 2 3 4 5 6 7 8 9 10\nctxt 6\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(Stat(tt.in)); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestParseStatCPUs(t *testing.T) {
	b, err := os.ReadFile("testdata/v2/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseStatCPUs(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 4 || m[2] != (CPUTicks{112, 0, 235, 932, 0, 0, 4, 0, 0, 0}) {
		t.Errorf("got %v", m)
	}
	// Linux 2.6.11 printed 7 fields; the rest did not exist yet.
	m, err = ParseStatCPUs([]byte("cpu0 1 2 3 4 5 6 7\n"))
	if err != nil || m[0] != (CPUTicks{1, 2, 3, 4, 5, 6, 7, 0, 0, 0}) {
		t.Errorf("short line: %v, %v", m, err)
	}
	for _, bad := range []string{"cpuX 1 2 3 4\n", "cpu0 1 2\n", "cpu0 1 2 3 x\n"} {
		if _, err := ParseStatCPUs([]byte(bad)); err == nil {
			t.Errorf("ParseStatCPUs(%q): want an error", bad)
		}
	}
}

func TestStatHostTicks(t *testing.T) {
	host := map[int]CPUTicks{0: {User: 1}, 2: {User: 3}, 3: {User: 4}}
	got := HostTicks(host, []int{0, 2, 5})
	if !slices.Equal(got, []CPUTicks{{User: 1}, {User: 3}}) {
		t.Errorf("got %v; an offline CPU must be left out", got)
	}
}

func TestStatSpreadUsage(t *testing.T) {
	perCPU := CPUUsage{PerCPU: []CPUTime{{1, 2}, {10, 20}, {100, 200}, {1000, 2000}}, Total: CPUTime{1111, 2222}}
	tests := []struct {
		name    string
		u       CPUUsage
		visible []int
		want    []CPUTime
	}{
		{"v1 all visible: own time", perCPU, []int{0, 1, 2, 3}, []CPUTime{{1, 2}, {10, 20}, {100, 200}, {1000, 2000}}},
		{"v1 hidden CPUs spread evenly", perCPU, []int{0, 2}, []CPUTime{{1 + 505, 2 + 1010}, {100 + 505, 200 + 1010}}},
		{"v1 remainder to the first CPUs", CPUUsage{PerCPU: []CPUTime{{0, 0}, {0, 0}, {5, 0}}}, []int{0, 1}, []CPUTime{{3, 0}, {2, 0}}},
		{"v1 visible CPU beyond the per-CPU data", CPUUsage{PerCPU: []CPUTime{{4, 4}}}, []int{0, 7}, []CPUTime{{4, 4}, {0, 0}}},
		{"v2 no per-CPU data: total spread evenly", CPUUsage{Total: CPUTime{7, 9}}, []int{0, 2, 3}, []CPUTime{{3, 3}, {2, 3}, {2, 3}}},
		{"no CPUs", perCPU, nil, []CPUTime{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SpreadUsage(tt.u, tt.visible)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStatViewTicks(t *testing.T) {
	u := CPUUsage{PerCPU: []CPUTime{{User: 2 * 1e9, System: 1e9}, {User: 5e8}}}
	in := CPUViewInput{Visible: []int{0, 1}, Usage: u, Elapsed: 10 * time.Second}
	got := ViewTicks(in)
	want := []CPUTicks{{User: 200, System: 100, Idle: 700}, {User: 50, Idle: 950}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}

	t.Run("usage above the elapsed time gives idle 0, not negative", func(t *testing.T) {
		in := in
		in.Elapsed = time.Second
		if got := ViewTicks(in); got[0].Idle != 0 || got[1].Idle != 50 {
			t.Errorf("got %v", got)
		}
	})
	t.Run("idle never goes below the floor", func(t *testing.T) {
		in := in
		in.Floor = []uint64{800, 10}
		if got := ViewTicks(in); got[0].Idle != 800 || got[1].Idle != 950 {
			t.Errorf("got %v", got)
		}
	})
	t.Run("negative elapsed time counts as 0", func(t *testing.T) {
		in := in
		in.Elapsed = -time.Hour
		if got := ViewTicks(in); got[0].Idle != 0 || got[1].Idle != 0 {
			t.Errorf("got %v", got)
		}
	})
}

// cpuStatIdle renders /proc/stat of c at now and returns the idle ticks of
// its cpuN lines.
func cpuStatIdle(t *testing.T, c *Container, now time.Time) []uint64 {
	t.Helper()
	var buf bytes.Buffer
	if err := renderStat(c, now, &buf); err != nil {
		t.Fatal(err)
	}
	_, per := cpuStatLines(t, buf.Bytes())
	var idle []uint64
	for _, p := range per {
		idle = append(idle, p.Idle)
	}
	return idle
}

// TestStatIdleNeverDecreases renders twice with the same or an earlier
// clock, or with more usage than time passed, and checks idle holds.
func TestStatIdleNeverDecreases(t *testing.T) {
	dir := cpuCopyDir(t, "testdata/v1/limited")
	c := NewContainer(cpuHost("v1"), cpuV1Cgroup(dir), cpuNowV1.Add(-time.Minute), DefaultOptions())
	first := cpuStatIdle(t, c, cpuNowV1)

	if got := cpuStatIdle(t, c, cpuNowV1); !slices.Equal(got, first) {
		t.Errorf("same clock and usage: idle %v, then %v", first, got)
	}
	if got := cpuStatIdle(t, c, cpuNowV1.Add(-10*time.Second)); !slices.Equal(got, first) {
		t.Errorf("clock stepped back: idle %v, then %v", first, got)
	}
	// One more second of usage on cpu0 but only half a second later.
	cpuWrite(t, filepath.Join(dir, "cpuacct"), "cpuacct.usage_all",
		"cpu user system\n0 2715825149 48000000\n1 1511417348 36000000\n")
	got := cpuStatIdle(t, c, cpuNowV1.Add(500*time.Millisecond))
	if got[0] != first[0] || got[1] != first[1]+50 {
		t.Errorf("usage ahead of the clock: idle %v, then %v; want cpu0 held, cpu1 +50", first, got)
	}
}

// TestStatFallbacks covers missing or unreadable usage and a cgroup
// removed between two reads.
func TestStatFallbacks(t *testing.T) {
	hostV1, err := os.ReadFile("testdata/v1/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	hostLines := string(hostV1[strings.Index(string(hostV1), "cpu0"):])

	t.Run("unreadable usage: host cpu lines", func(t *testing.T) {
		dir := cpuCopyDir(t, "testdata/v1/limited")
		p := filepath.Join(dir, "cpuacct", "cpuacct.usage_all")
		os.Remove(p)
		os.Mkdir(p, 0o755)
		c := NewContainer(cpuHost("v1"), cpuV1Cgroup(dir), cpuNowV1.Add(-time.Minute), DefaultOptions())
		var buf bytes.Buffer
		if err := renderStat(c, cpuNowV1, &buf); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(buf.String(), hostLines) {
			t.Errorf("want the host's cpuN lines, got\n%s", buf.String())
		}
	})
	t.Run("cgroup removed between reads: host values, no floor left over", func(t *testing.T) {
		dir := cpuCopyDir(t, "testdata/v1/limited")
		c := NewContainer(cpuHost("v1"), cpuV1Cgroup(dir), cpuNowV1.Add(-time.Minute), DefaultOptions())
		cpuStatIdle(t, c, cpuNowV1)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		got := cpuRenderAll(t, c, cpuNowV1)
		gone := NewContainer(cpuHost("v1"), cpuV1Cgroup(dir), cpuNowV1.Add(-time.Minute), DefaultOptions())
		want := cpuRenderAll(t, gone, cpuNowV1)
		for name := range want {
			if !bytes.Equal(got[name], want[name]) {
				t.Errorf("%s after removal:\n%s\nwant\n%s", name, got[name], want[name])
			}
		}
		if !strings.HasSuffix(string(got["stat"]), hostLines) {
			t.Errorf("want the host's cpuN lines, got\n%s", got["stat"])
		}
	})
	t.Run("garbled host stat: an error, not a crash", func(t *testing.T) {
		proc := t.TempDir()
		cpuWrite(t, proc, "stat", "cpuX\n")
		host := cpuHost("v1")
		host.ProcRoot = proc
		c := NewContainer(host, cpuV1Cgroup("testdata/v1/does-not-exist"), time.Time{}, DefaultOptions())
		if err := renderStat(c, cpuNowV1, new(bytes.Buffer)); err == nil {
			t.Error("want an error")
		}
	})
	t.Run("missing host stat: an error", func(t *testing.T) {
		host := cpuHost("v1")
		host.ProcRoot = t.TempDir()
		c := NewContainer(host, cpuV1Cgroup("testdata/v1/limited"), cpuNowV1.Add(-time.Minute), DefaultOptions())
		if err := renderStat(c, cpuNowV1, new(bytes.Buffer)); err == nil {
			t.Error("want an error")
		}
	})
}

// TestStatConcurrentReads renders /proc/stat and /proc/uptime of one
// container from several goroutines (run with -race); idle must never go
// backwards for any reader.
func TestStatConcurrentReads(t *testing.T) {
	c := NewContainer(cpuHost("v2"), Cgroup{V2: "testdata/v2/limited"}, cpuNowV2.Add(-10*time.Second), DefaultOptions())
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				var buf bytes.Buffer
				now := cpuNowV2.Add(time.Duration((g*7+i)%11) * time.Second)
				if err := renderStat(c, now, &buf); err != nil {
					t.Error(err)
					return
				}
				buf.Reset()
				if err := renderUptime(c, now, &buf); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// The latest clock was +10 s: 2000 ticks per CPU minus usage 177.
	if got := cpuStatIdle(t, c, cpuNowV2); !slices.Equal(got, []uint64{1823, 1823}) {
		t.Errorf("idle after concurrent reads = %v, want the maximum handed out, [1823 1823]", got)
	}
}
