package sources

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The -update flag rewrites golden files. Another test file of the package
// may declare it too; a package-level var is initialised before any init
// func runs, so registering only when absent works either way.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files under testdata/golden")
	}
}

// cpuUpdateGolden reports whether -update was given.
func cpuUpdateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// Fixed clocks for the fixtures: the host's boot time plus its uptime at
// capture (testdata/vN/proc/stat btime, testdata/vN/proc/uptime).
var (
	cpuNowV1 = time.Unix(1795694366+800, 720_000_000)
	cpuNowV2 = time.Unix(1795695130+14, 630_000_000)
)

// cpuHost returns the fixture host of a cgroup version ("v1" or "v2").
func cpuHost(version string) Host {
	root := filepath.Join("testdata", version)
	return Host{ProcRoot: filepath.Join(root, "proc"), SysRoot: filepath.Join(root, "sys")}
}

// cpuV1Cgroup binds the v1 cpu, cpuacct and cpuset controllers below dir.
func cpuV1Cgroup(dir string) Cgroup {
	return Cgroup{V1: map[string]string{
		"cpu":     filepath.Join(dir, "cpu"),
		"cpuacct": filepath.Join(dir, "cpuacct"),
		"cpuset":  filepath.Join(dir, "cpuset"),
	}}
}

// cpuCopyDir copies the fixture tree src into a temporary directory, so a
// test can change or remove files.
func cpuCopyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// cpuWrite writes a file below dir.
func cpuWrite(t testing.TB, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// cpuCase is one container setup rendered against golden files.
type cpuCase struct {
	name string
	now  time.Time
	make func(t testing.TB) *Container
}

// cpuCases are the golden cases: v1 (2 CPUs, quota 1.5) and v2 (4 CPUs,
// cpuset 0,2-3, quota 1.5) fixtures, limited and not, and the fallbacks.
func cpuCases() []cpuCase {
	opts := DefaultOptions()
	cpusetView := opts
	cpusetView.CPUView = CPUViewCpuset
	hostUptime := opts
	hostUptime.Uptime = UptimeHost
	v1 := func(dir string, o Options) func(testing.TB) *Container {
		return func(testing.TB) *Container {
			return NewContainer(cpuHost("v1"), cpuV1Cgroup(dir), cpuNowV1.Add(-60*time.Second), o)
		}
	}
	v2 := func(dir string, start time.Time, o Options) func(testing.TB) *Container {
		return func(testing.TB) *Container {
			return NewContainer(cpuHost("v2"), Cgroup{V2: dir}, start, o)
		}
	}
	v2Start := cpuNowV2.Add(-10 * time.Second)
	return []cpuCase{
		// quota 1.5 CPUs on a 2-CPU cpuset: rounded up to 2, no cut.
		{"v1-limited", cpuNowV1, v1("testdata/v1/limited", opts)},
		{"v1-nolimit", cpuNowV1, v1("testdata/v1/nolimit", opts)},
		// quota 0.5 CPU: one CPU; the time of cpu1 is spread onto cpu0.
		{"v1-quota-half", cpuNowV1, func(t testing.TB) *Container {
			dir := cpuCopyDir(t, "testdata/v1/limited")
			cpuWrite(t, filepath.Join(dir, "cpu"), "cpu.cfs_quota_us", "50000\n")
			return v1(dir, opts)(t)
		}},
		// cgroup removed: host CPUs and host cpu lines, container uptime.
		{"v1-removed", cpuNowV1, v1("testdata/v1/does-not-exist", opts)},
		// cpuset 0,2-3 with quota 1.5: the first two, host CPUs 0 and 2.
		{"v2-limited", cpuNowV2, v2("testdata/v2/limited", v2Start, opts)},
		// cpuset view: all three cpuset CPUs despite the quota.
		{"v2-limited-cpuset-view", cpuNowV2, v2("testdata/v2/limited", v2Start, cpusetView)},
		{"v2-nolimit", cpuNowV2, v2("testdata/v2/nolimit", v2Start, opts)},
		// start unknown: host cpu lines of the view, host uptime.
		{"v2-no-initstart", cpuNowV2, v2("testdata/v2/limited", time.Time{}, opts)},
		{"v2-uptime-host", cpuNowV2, v2("testdata/v2/limited", v2Start, hostUptime)},
	}
}

// cpuRenderers are the renderers under test, by golden file name.
var cpuRenderers = []struct {
	name   string
	render func(*Container, time.Time, *bytes.Buffer) error
}{
	{"cpuinfo", renderCpuinfo},
	{"stat", renderStat},
	{"uptime", renderUptime},
	{"online", renderCPUOnline},
}

// cpuRenderAll renders every CPU file of c at now.
func cpuRenderAll(t testing.TB, c *Container, now time.Time) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, r := range cpuRenderers {
		var buf bytes.Buffer
		if err := r.render(c, now, &buf); err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		out[r.name] = buf.Bytes()
	}
	return out
}

func TestCPUGolden(t *testing.T) {
	for _, tc := range cpuCases() {
		t.Run(tc.name, func(t *testing.T) {
			got := cpuRenderAll(t, tc.make(t), tc.now)
			for _, r := range cpuRenderers {
				path := filepath.Join("testdata", "golden", "cpu", tc.name, r.name)
				if cpuUpdateGolden() {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, got[r.name], 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update to create)", err)
				}
				if !bytes.Equal(got[r.name], want) {
					t.Errorf("%s differs from %s:\n--- got\n%s--- want\n%s", r.name, path, got[r.name], want)
				}
			}
		})
	}
}

// TestCPUViewInvariants checks, for every golden case, that the four files
// agree on one view and that /proc/stat adds up.
func TestCPUViewInvariants(t *testing.T) {
	for _, tc := range cpuCases() {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.make(t)
			got := cpuRenderAll(t, c, tc.now)
			for name, b := range got {
				if len(b) == 0 || b[len(b)-1] != '\n' {
					t.Errorf("%s does not end with a newline", name)
				}
			}
			visible, err := c.visibleCPUs()
			if err != nil {
				t.Fatal(err)
			}
			n := len(visible)
			if want := string(CPUOnline(n)); string(got["online"]) != want {
				t.Errorf("online = %q, want %q", got["online"], want)
			}
			procs := cpuinfoProcessors(got["cpuinfo"])
			for i, p := range procs {
				if p != i {
					t.Errorf("cpuinfo processors = %v, want 0..%d", procs, n-1)
					break
				}
			}
			if len(procs) != n {
				t.Errorf("cpuinfo has %d processors, view has %d", len(procs), n)
			}
			sum, per := cpuStatLines(t, got["stat"])
			if len(per) != n {
				t.Errorf("stat has %d cpuN lines, view has %d", len(per), n)
			}
			var add CPUTicks
			for _, p := range per {
				add.add(p)
			}
			if add != sum {
				t.Errorf("cpuN lines add up to %+v, cpu line is %+v", add, sum)
			}
			if c.Options.Uptime != UptimeHost && !c.InitStart.IsZero() {
				f := strings.Fields(string(got["uptime"]))
				if want := string(appendCentis(nil, time.Duration(sum.Idle)*10*time.Millisecond)); f[1] != want {
					t.Errorf("uptime idle = %s, stat idle = %s s", f[1], want)
				}
			}
		})
	}
}

// cpuinfoProcessors returns the processor numbers of a cpuinfo text.
func cpuinfoProcessors(b []byte) []int {
	var out []int
	for line := range bytes.Lines(b) {
		if key, val, ok := cpuinfoField(line); ok && string(key) == "processor" {
			n, _ := strconv.Atoi(string(val))
			out = append(out, n)
		}
	}
	return out
}

// cpuStatLines parses the cpu line and the cpuN lines (in order, checking
// they are numbered 0..n-1) of a /proc/stat text.
func cpuStatLines(t testing.TB, b []byte) (sum CPUTicks, per []CPUTicks) {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("cpu  ")) {
		t.Fatalf("stat does not start with the cpu line: %q", b[:min(len(b), 40)])
	}
	m, err := ParseStatCPUs(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(m) {
		p, ok := m[i]
		if !ok {
			t.Fatalf("stat cpu lines are not numbered 0..%d", len(m)-1)
		}
		per = append(per, p)
	}
	// Parse the sum line by renaming it to a cpuN line.
	line, _, _ := bytes.Cut(b, []byte("\n"))
	s, err := ParseStatCPUs(append([]byte("cpu999999"), line[3:]...))
	if err != nil {
		t.Fatal(err)
	}
	return s[999999], per
}

func BenchmarkStat(b *testing.B) {
	c := NewContainer(cpuHost("v1"), cpuV1Cgroup("testdata/v1/limited"), cpuNowV1.Add(-time.Minute), DefaultOptions())
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := renderStat(c, cpuNowV1, &buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCpuinfo(b *testing.B) {
	c := NewContainer(cpuHost("v1"), cpuV1Cgroup("testdata/v1/limited"), cpuNowV1.Add(-time.Minute), DefaultOptions())
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := renderCpuinfo(c, cpuNowV1, &buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUptime(b *testing.B) {
	c := NewContainer(cpuHost("v1"), cpuV1Cgroup("testdata/v1/limited"), cpuNowV1.Add(-time.Minute), DefaultOptions())
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := renderUptime(c, cpuNowV1, &buf); err != nil {
			b.Fatal(err)
		}
	}
}
