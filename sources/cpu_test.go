package sources

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestCPUParseCFSQuotaV1(t *testing.T) {
	tests := []struct {
		name          string
		quota, period string
		want          CFSQuota
		limited       bool
		cpus          int
	}{
		{"fixture fx-limited: 1.5 CPUs", "150000\n", "100000\n", CFSQuota{150000, 100000}, true, 2},
		{"fixture fx-nolimit: -1", "-1\n", "100000\n", CFSQuota{-1, 100000}, false, 0},
		{"half a CPU", "50000\n", "100000\n", CFSQuota{50000, 100000}, true, 1},
		{"whole CPUs", "300000\n", "100000\n", CFSQuota{300000, 100000}, true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCFSQuotaV1([]byte(tt.quota), []byte(tt.period))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || got.Limited() != tt.limited || got.CPUs() != tt.cpus {
				t.Errorf("got %+v limited=%v cpus=%d, want %+v %v %d", got, got.Limited(), got.CPUs(), tt.want, tt.limited, tt.cpus)
			}
		})
	}
	for _, bad := range [][2]string{{"x", "100000"}, {"1000", "0"}, {"1000", ""}} {
		if _, err := ParseCFSQuotaV1([]byte(bad[0]), []byte(bad[1])); err == nil {
			t.Errorf("ParseCFSQuotaV1(%q, %q): want an error", bad[0], bad[1])
		}
	}
}

func TestParseCPUMax(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want CFSQuota
	}{
		{"fixture fx-limited", "150000 100000\n", CFSQuota{150000, 100000}},
		{"fixture fx-nolimit: max", "max 100000\n", CFSQuota{-1, 100000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCPUMax([]byte(tt.in))
			if err != nil || got != tt.want {
				t.Errorf("ParseCPUMax(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "max", "150000", "x 100000", "max 0", "0 100000", "1 2 3"} {
		if _, err := ParseCPUMax([]byte(bad)); err == nil {
			t.Errorf("ParseCPUMax(%q): want an error", bad)
		}
	}
}

func TestCPUReadCFSQuotaFixtures(t *testing.T) {
	q, err := ReadCFSQuotaV1("testdata/v1/limited/cpu")
	if err != nil || q != (CFSQuota{150000, 100000}) {
		t.Errorf("v1 limited = %+v, %v", q, err)
	}
	q, err = ReadCPUMax("testdata/v2/limited/cpu.max")
	if err != nil || q != (CFSQuota{150000, 100000}) {
		t.Errorf("v2 limited = %+v, %v", q, err)
	}
	if _, err := ReadCPUMax("testdata/v2/missing/cpu.max"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing cpu.max: err = %v, want ErrNotExist", err)
	}
}

func TestParseCpuacctUsageAll(t *testing.T) {
	// 1…N values, so a swapped column shows at once.
	got, err := ParseCpuacctUsageAll([]byte("cpu user system\n0 1 2\n1 3 4\n3 5 6\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []CPUTime{{1, 2}, {3, 4}, {}, {5, 6}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"", "user system\n0 1 2\n", "cpu user system\n0 1\n", "cpu user system\nx 1 2\n", "cpu user system\n0 -1 2\n"} {
		if _, err := ParseCpuacctUsageAll([]byte(bad)); err == nil {
			t.Errorf("ParseCpuacctUsageAll(%q): want an error", bad)
		}
	}
}

func TestParseCpuacctUsagePercpu(t *testing.T) {
	// The kernel ends the line with a space.
	got, err := ParseCpuacctUsagePercpu([]byte("1725569432 1518117196 \n"))
	if err != nil || !slices.Equal(got, []uint64{1725569432, 1518117196}) {
		t.Errorf("got %v, %v", got, err)
	}
	if _, err := ParseCpuacctUsagePercpu([]byte("1 x\n")); err == nil {
		t.Error("want an error for a bad value")
	}
}

func TestParseCpuacctStat(t *testing.T) {
	u, s, err := ParseCpuacctStat([]byte("user 1\nsystem 2\n"))
	if err != nil || u != 1 || s != 2 {
		t.Errorf("got %d %d %v, want 1 2", u, s, err)
	}
	for _, bad := range []string{"", "user 1\n", "user x\nsystem 2\n", "user 1 2\nsystem 2\n"} {
		if _, _, err := ParseCpuacctStat([]byte(bad)); err == nil {
			t.Errorf("ParseCpuacctStat(%q): want an error", bad)
		}
	}
}

func TestCpuacctSplitPercpu(t *testing.T) {
	tests := []struct {
		name      string
		percpu    []uint64
		user, sys uint64
		want      []CPUTime
	}{
		{"ratio 3:1", []uint64{400, 800}, 3, 1, []CPUTime{{300, 100}, {600, 200}}},
		{"no ticks sampled: all user", []uint64{909185, 180555}, 0, 0, []CPUTime{{909185, 0}, {180555, 0}}},
		{"all system", []uint64{10}, 0, 5, []CPUTime{{0, 10}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SplitPercpu(tt.percpu, tt.user, tt.sys); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseCPUStatV2(t *testing.T) {
	got, err := ParseCPUStatV2([]byte("usage_usec 3\nuser_usec 1\nsystem_usec 2\nnr_periods 27\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got.PerCPU != nil || got.Total != (CPUTime{User: 1000, System: 2000}) {
		t.Errorf("got %+v", got)
	}
	for _, bad := range []string{"", "usage_usec 3\n", "user_usec x\nsystem_usec 2\n"} {
		if _, err := ParseCPUStatV2([]byte(bad)); err == nil {
			t.Errorf("ParseCPUStatV2(%q): want an error", bad)
		}
	}
}

func TestReadCPUUsageFixtures(t *testing.T) {
	t.Run("v1 usage_all", func(t *testing.T) {
		u, err := ReadCPUUsageV1("testdata/v1/limited/cpuacct")
		if err != nil {
			t.Fatal(err)
		}
		want := []CPUTime{{1715825149, 48000000}, {1511417348, 36000000}}
		if !slices.Equal(u.PerCPU, want) || u.Total != (CPUTime{3227242497, 84000000}) {
			t.Errorf("got %+v", u)
		}
	})
	t.Run("v1 without usage_all: usage_percpu split by cpuacct.stat", func(t *testing.T) {
		dir := cpuCopyDir(t, "testdata/v1/limited/cpuacct")
		os.Remove(filepath.Join(dir, "cpuacct.usage_all"))
		u, err := ReadCPUUsageV1(dir)
		if err != nil {
			t.Fatal(err)
		}
		// cpuacct.stat: user 316, system 8.
		if len(u.PerCPU) != 2 || u.PerCPU[0].User+u.PerCPU[0].System != 1725569432 ||
			u.PerCPU[0].System != 1725569432*8/324 {
			t.Errorf("got %+v", u)
		}
	})
	t.Run("v1 without usage_all and cpuacct.stat is an error", func(t *testing.T) {
		dir := cpuCopyDir(t, "testdata/v1/limited/cpuacct")
		os.Remove(filepath.Join(dir, "cpuacct.usage_all"))
		os.Remove(filepath.Join(dir, "cpuacct.stat"))
		if u, err := ReadCPUUsageV1(dir); err == nil {
			t.Errorf("got %+v, want an error", u)
		}
	})
	t.Run("v2 cpu.stat", func(t *testing.T) {
		u, err := ReadCPUUsageV2("testdata/v2/limited")
		if err != nil || u.Total != (CPUTime{2976962000, 598789000}) {
			t.Errorf("got %+v, %v", u, err)
		}
	})
	t.Run("no cgroup", func(t *testing.T) {
		if _, err := readCPUUsage(Cgroup{}); !errors.Is(err, errNoCPUCgroup) {
			t.Errorf("err = %v, want errNoCPUCgroup", err)
		}
	})
}
