package sources

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"
)

// The expected values below were computed with a line-by-line
// transcription of calc_load, fixed_power_int and get_avenrun from
// kernel/sched/loadavg.c and fs/proc/loadavg.c.
func TestLoadAverageKernelNumbers(t *testing.T) {
	after12 := LoadAverage{1299, 378, 132}
	tests := []struct {
		name    string
		start   LoadAverage
		active  int
		samples int
		want    LoadAverage
		text    string // what /proc/loadavg shows
	}{
		{name: "one task for one period", active: 1, samples: 1, want: LoadAverage{164, 34, 11}, text: "0.08 0.02 0.01"},
		{name: "one task for a minute is 1-1/e", active: 1, samples: 12, want: after12, text: "0.63 0.18 0.06"},
		{name: "then idle for a minute", start: after12, active: 0, samples: 12, want: LoadAverage{474, 303, 120}, text: "0.23 0.15 0.06"},
		{name: "four tasks for 15 minutes", active: 4, samples: 180, want: LoadAverage{8192, 7817, 5141}, text: "4.00 3.82 2.51"},
		{name: "negative count is no task", start: after12, active: -3, samples: 12, want: LoadAverage{474, 303, 120}, text: "0.23 0.15 0.06"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.start
			for i := 0; i < tt.samples; i++ {
				got.Sample(tt.active)
			}
			if got != tt.want {
				t.Fatalf("after %d samples of %d: %v, want %v", tt.samples, tt.active, got, tt.want)
			}
			out, err := Loadavg(nil, []byte("9.99 9.99 9.99 1/84 10706\n"), got, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.text + " 1/84 10706\n"; string(out) != want {
				t.Fatalf("Loadavg = %q, want %q", out, want)
			}
		})
	}
}

func TestLoadAverageSampleN(t *testing.T) {
	after12 := LoadAverage{1299, 378, 132}
	tests := []struct {
		name   string
		start  LoadAverage
		active int
		n      uint
		want   LoadAverage
	}{
		{name: "n=0 changes nothing", start: after12, active: 5, n: 0, want: after12},
		{name: "n=1 is one Sample", start: LoadAverage{}, active: 1, n: 1, want: LoadAverage{164, 34, 11}},
		// calc_load_n rounds exp^n once, so it differs from n single steps
		// ({1010, 357, 129}) by a few units, exactly as in the kernel.
		{name: "3 missed idle periods like calc_load_n", start: after12, active: 0, n: 3, want: LoadAverage{1011, 359, 129}},
		{name: "a minute at once", start: LoadAverage{}, active: 1, n: 12, want: LoadAverage{1297, 371, 129}},
		{name: "days of absence decay to 0", start: after12, active: 0, n: maxLoadPeriods, want: LoadAverage{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.start
			got.SampleN(tt.active, tt.n)
			if got != tt.want {
				t.Fatalf("SampleN(%d, %d) from %v = %v, want %v", tt.active, tt.n, tt.start, got, tt.want)
			}
		})
	}
}

func TestLoadavgFormat(t *testing.T) {
	host := []byte("0.70 0.48 0.26 1/84 10706\n")
	tests := []struct {
		name  string
		avg   LoadAverage
		tasks *TaskStates
		want  string
	}{
		{name: "before the first sample", want: "0.00 0.00 0.00 1/84 10706\n"},
		{name: "cgroup task counts", avg: LoadAverage{1299, 378, 132}, tasks: &TaskStates{Total: 7, Running: 3, Uninterruptible: 1}, want: "0.63 0.18 0.06 3/7 10706\n"},
		{name: "empty cgroup", tasks: &TaskStates{}, want: "0.00 0.00 0.00 0/0 10706\n"},
		{name: "rounding up by FIXED_1/200", avg: LoadAverage{2048 - 10, 2048 - 11, 0}, want: "1.00 0.99 0.00 1/84 10706\n"},
		{name: "large loads", avg: LoadAverage{123 * 2048, 4096 + 1024, 2048 * 1000}, want: "123.00 2.50 1000.00 1/84 10706\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Loadavg(nil, host, tt.avg, tt.tasks)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadavgMalformedHost(t *testing.T) {
	for _, host := range []string{"", "0.70 0.48 0.26 1/84\n", "0.70 0.48 0.26 84 10706\n", "0.70 0.48 0.26 1/84 10706 7\n"} {
		if got, err := Loadavg(nil, []byte(host), LoadAverage{}, nil); err == nil {
			t.Errorf("Loadavg(%q) = %q, want an error", host, got)
		}
	}
}

func TestLoadPeriods(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		last, now time.Time
		want      uint
	}{
		{name: "first sample", now: t0, want: 1},
		{name: "on time", last: t0, now: t0.Add(5 * time.Second), want: 1},
		{name: "a little early", last: t0, now: t0.Add(4900 * time.Millisecond), want: 1},
		{name: "a little late", last: t0, now: t0.Add(7 * time.Second), want: 1},
		{name: "duplicate call", last: t0, now: t0.Add(time.Second), want: 0},
		{name: "clock went back", last: t0, now: t0.Add(-time.Minute), want: 0},
		{name: "three periods missed", last: t0, now: t0.Add(20 * time.Second), want: 4},
		{name: "weeks missed", last: t0, now: t0.Add(21 * 24 * time.Hour), want: maxLoadPeriods},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := loadPeriods(tt.last, tt.now); got != tt.want {
				t.Fatalf("loadPeriods = %d, want %d", got, tt.want)
			}
		})
	}
}

// taskTreeContainer binds a container to the synthetic task tree:
// gen "v1" or "v2", cgroup "ctr" (7 tasks: 3 R, 1 D) or a missing one.
func taskTreeContainer(gen, cgroup string) *Container {
	var cg Cgroup
	if gen == "v1" {
		cg.V1 = map[string]string{"pids": filepath.Join(taskTree, "v1/pids", cgroup)}
	} else {
		cg.V2 = filepath.Join(taskTree, "v2", cgroup)
	}
	return NewContainer(taskTreeHost(), cg, time.Time{}, DefaultOptions())
}

func TestLoadavgGolden(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, gen := range []string{"v1", "v2"} {
		t.Run(gen, func(t *testing.T) {
			c := taskTreeContainer(gen, "ctr")
			matchGoldenFile(t, "loadavg/"+gen+"-before-sampling", renderFile(t, c, "loadavg"))
			// A minute of 4 active tasks (3 R + 1 D), sampled every 5 s.
			for i := 0; i < 12; i++ {
				if err := c.SampleLoad(t0.Add(time.Duration(i) * LoadPeriod)); err != nil {
					t.Fatal(err)
				}
			}
			matchGoldenFile(t, "loadavg/"+gen+"-one-minute", renderFile(t, c, "loadavg"))
		})
	}
}

func TestSampleLoadIgnoresEarlyCalls(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	c := taskTreeContainer("v1", "ctr")
	for _, at := range []time.Duration{0, time.Second, 2 * time.Second} {
		if err := c.SampleLoad(t0.Add(at)); err != nil {
			t.Fatal(err)
		}
	}
	want := LoadAverage{}
	want.Sample(4)
	if got := c.state.load.avg; got != want {
		t.Fatalf("after one sample and two early calls: %v, want %v", got, want)
	}
}

func TestLoadavgCgroupGone(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	c := taskTreeContainer("v1", "ctr")
	if err := c.SampleLoad(t0); err != nil {
		t.Fatal(err)
	}
	// The cgroup disappears: sampling fails and keeps the averages, the
	// task counts fall back to the host's.
	c.Cgroup = Cgroup{V1: map[string]string{"pids": filepath.Join(taskTree, "v1/pids/gone")}}
	if err := c.SampleLoad(t0.Add(LoadPeriod)); err == nil {
		t.Fatal("SampleLoad on a removed cgroup: no error")
	}
	got := renderFile(t, c, "loadavg")
	if want := "0.32 0.07 0.02 1/84 10706\n"; string(got) != want { // one sample of 4 tasks
		t.Fatalf("got %q, want %q", got, want)
	}
}

func BenchmarkLoadavg(b *testing.B) {
	host := []byte("0.70 0.48 0.26 1/84 10706\n")
	b.Run("format", func(b *testing.B) {
		b.ReportAllocs()
		dst := make([]byte, 0, 64)
		avg := LoadAverage{1299, 378, 132}
		tasks := &TaskStates{Total: 7, Running: 3}
		for b.Loop() {
			if _, err := Loadavg(dst, host, avg, tasks); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("render 7 tasks", func(b *testing.B) {
		b.ReportAllocs()
		c := taskTreeContainer("v1", "ctr")
		f, _ := Lookup("loadavg")
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			if err := c.Render(f, &buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sample 7 tasks", func(b *testing.B) {
		b.ReportAllocs()
		c := taskTreeContainer("v1", "ctr")
		now := time.Now()
		for b.Loop() {
			now = now.Add(LoadPeriod)
			if err := c.SampleLoad(now); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestEstimateLoad(t *testing.T) {
	fixed := func(v float64) uint64 { return uint64(v*loadFixed1 + 0.5) }
	tests := []struct {
		name          string
		busy, elapsed time.Duration
		want          [3]float64 // as loadavg prints them
	}{
		{"idle", 0, time.Hour, [3]float64{0, 0, 0}},
		{"not started", time.Second, 0, [3]float64{0, 0, 0}},
		// The case: a steady load of 1 for 8 minutes.
		{"one busy task for 8 min", 8 * time.Minute, 8 * time.Minute, [3]float64{1.00, 0.80, 0.41}},
		{"two busy tasks for an hour", 2 * time.Hour, time.Hour, [3]float64{2.00, 2.00, 1.96}},
		{"half a CPU for 1 min", 30 * time.Second, time.Minute, [3]float64{0.32, 0.09, 0.03}},
	}
	for _, tt := range tests {
		got := EstimateLoad(tt.busy, tt.elapsed)
		for i := range got {
			// Within one hundredth, as printed.
			if d := int64(got[i]) - int64(fixed(tt.want[i])); d > loadFixed1/100 || d < -loadFixed1/100 {
				t.Errorf("%s: EstimateLoad[%d] = %.3f, want %.2f", tt.name, i, float64(got[i])/loadFixed1, tt.want[i])
			}
		}
	}
}

// TestEstimateLoadMatchesSampling: the estimate of a constant load is what
// sampling that load every 5 s from 0.00 gives, within 0.02: calc_load
// rounds up at every step while the load rises, about 1/2048 a step.
func TestEstimateLoadMatchesSampling(t *testing.T) {
	var sampled LoadAverage
	for range 96 { // 8 minutes
		sampled.Sample(1)
	}
	est := EstimateLoad(8*time.Minute, 8*time.Minute)
	for i := range est {
		if d := int64(est[i]) - int64(sampled[i]); d > loadFixed1/50 || d < -loadFixed1/50 {
			t.Errorf("average %d: estimate %d, sampled %d (fixed point)", i, est[i], sampled[i])
		}
	}
}

func TestRestoreLoadFoldsTheGap(t *testing.T) {
	c := NewContainer(Host{}, Cgroup{}, time.Now(), DefaultOptions())
	saved := LoadAverage{2048, 2048, 2048}
	at := time.Unix(1000, 0)
	c.RestoreLoad(saved, at)
	if avg, last := c.Load(); avg != saved || !last.Equal(at) {
		t.Fatalf("Load = %v %v, want %v %v", avg, last, saved, at)
	}
	if n := loadPeriods(at, at.Add(30*time.Second)); n != 6 {
		t.Errorf("a 30 s gap folds %d periods, want 6", n)
	}
}
