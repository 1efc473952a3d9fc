package sources

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

// The fuzz targets of the parsers of kernel files. Each seeds its corpus
// with the fixtures captured from real kernels (testdata/, and
// ../../shared/fixtures when present) and asserts, besides not
// panicking, an invariant of the parse: bounds, round trips, or that
// unknown lines change nothing. Inputs worth keeping are committed
// under testdata/fuzz/<FuzzName>/.

// fixtureRoots are where captured kernel files live.
var fixtureRoots = []string{"testdata", filepath.Join("..", "..", "shared", "fixtures")}

// seedFiles adds every fixture file whose base name matches one of
// patterns to f's corpus, and the extra seeds.
func seedFiles(f *testing.F, patterns []string, extra ...string) {
	for _, root := range fixtureRoots {
		filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || filepath.Base(filepath.Dir(path)) == "fuzz" {
				return nil
			}
			for _, p := range patterns {
				if ok, _ := filepath.Match(p, d.Name()); ok {
					if b, err := os.ReadFile(path); err == nil && len(b) < 1<<16 {
						f.Add(b)
					}
					return nil
				}
			}
			return nil
		})
	}
	for _, s := range extra {
		f.Add([]byte(s))
	}
}

// lines counts the lines of b, a last one without newline included.
func lines(b []byte) int {
	n := bytes.Count(b, []byte{'\n'})
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}

// FuzzParseMemoryStat: v1 and v2 memory.stat; a line of an unknown key
// added at the end changes nothing, and parsing is deterministic.
func FuzzParseMemoryStat(f *testing.F) {
	seedFiles(f, []string{"memory.stat"}, "anon 1\nfile 2\n", "total_rss 1\ntotal_cache 2\n", "anon x\n", "anon 18446744073709551616\n")
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, parse := range []func([]byte) (MemoryStat, error){ParseMemoryStatV1, ParseMemoryStatV2} {
			st, err := parse(b)
			if err != nil {
				continue
			}
			again, err := parse(b)
			if err != nil || !reflect.DeepEqual(st, again) {
				t.Fatalf("second parse differs: %v", err)
			}
			if len(b) > 0 && b[len(b)-1] == '\n' {
				more, err := parse(append(bytes.Clone(b), "lxmount_fuzz_unknown 7\n"...))
				if err != nil || !reflect.DeepEqual(st, more) {
					t.Fatalf("an unknown key changed the parse: %v", err)
				}
			}
		}
	})
}

// FuzzParseCPUMax: v2 cpu.max; an accepted value has a positive period,
// an unlimited quota exactly for "max", at least one CPU, and formats
// back to what parses the same.
func FuzzParseCPUMax(f *testing.F) {
	seedFiles(f, []string{"cpu.max"}, "max 100000\n", "150000 100000\n", "1 1", "-5 10", "9223372036854775807 1\n")
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ParseCPUMax(b)
		if err != nil {
			return
		}
		if q.Period <= 0 || !cpusCover(q) {
			t.Fatalf("%q: %+v, %d CPUs", b, q, q.CPUs())
		}
		quota := "max"
		if q.Limited() {
			quota = strconv.FormatInt(q.Quota, 10)
		}
		back, err := ParseCPUMax([]byte(quota + " " + strconv.FormatInt(q.Period, 10) + "\n"))
		if err != nil || back.Limited() != q.Limited() || q.Limited() && back != q {
			t.Fatalf("%q: %+v formats back to %+v (%v)", b, q, back, err)
		}
	})
}

// FuzzParseCFSQuotaV1: cpu.cfs_quota_us and cpu.cfs_period_us; the period
// is positive, an unlimited quota is -1, and there is at least one CPU.
func FuzzParseCFSQuotaV1(f *testing.F) {
	f.Add([]byte("-1\n"), []byte("100000\n"))
	f.Add([]byte("150000\n"), []byte("100000\n"))
	f.Add([]byte("1"), []byte("9223372036854775807"))
	f.Fuzz(func(t *testing.T, quota, period []byte) {
		q, err := ParseCFSQuotaV1(quota, period)
		if err != nil {
			return
		}
		if q.Period <= 0 || q.Quota < -1 || !cpusCover(q) {
			t.Fatalf("%q %q: %+v, %d CPUs", quota, period, q, q.CPUs())
		}
	})
}

// cpusCover reports whether q.CPUs() is ceil(Quota/Period), at least 1,
// for a limiting quota (0 otherwise): enough CPUs for the quota, and one
// fewer would not be.
func cpusCover(q CFSQuota) bool {
	n := int64(q.CPUs())
	if !q.Limited() {
		return n == 0
	}
	return n >= 1 && n >= q.Quota/q.Period && (n-1)*q.Period < q.Quota
}

// FuzzParseCPUList: cpuset lists; the result is sorted, free of
// duplicates, non-negative, and formatting it as ranges parses back to
// the same list.
func FuzzParseCPUList(f *testing.F) {
	seedFiles(f, []string{"cpuset.cpus*", "cpuset.effective_cpus", "online"}, "0-3,5\n", "", "0,0,1", "3-1", "0-4095", "1,-2", " 7 \n")
	f.Fuzz(func(t *testing.T, b []byte) {
		cpus, err := ParseCPUList(b)
		if err != nil {
			return
		}
		for i, c := range cpus {
			if c < 0 || i > 0 && c <= cpus[i-1] {
				t.Fatalf("%q: %v is not sorted, unique and non-negative", b, cpus)
			}
		}
		back, err := ParseCPUList([]byte(formatCPUList(cpus)))
		if err != nil || !reflect.DeepEqual(back, cpus) {
			t.Fatalf("%q: %v formats as %q, which parses as %v (%v)", b, cpus, formatCPUList(cpus), back, err)
		}
	})
}

// formatCPUList writes cpus as the kernel does ("%*pbl": 0-3,5).
func formatCPUList(cpus []int) string {
	var b bytes.Buffer
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j == i {
			fmt.Fprintf(&b, "%d", cpus[i])
		} else {
			fmt.Fprintf(&b, "%d-%d", cpus[i], cpus[j])
		}
		i = j + 1
	}
	return b.String()
}

// FuzzParseCPUStat: v2 cpu.stat and v1 cpuacct.stat, usage_all and
// usage_percpu; per-CPU figures are bounded (usage_all: by the highest
// CPU number accepted; usage_percpu: by its fields). Only bounds are asserted: the kernel keeps no other relation
// between these counters that a parser could check.
func FuzzParseCPUStat(f *testing.F) {
	seedFiles(f, []string{"cpu.stat", "cpuacct.stat", "cpuacct.usage_all", "cpuacct.usage_percpu*"},
		"usage_usec 10\nuser_usec 6\nsystem_usec 4\n", "user 1\nsystem 2\n", "cpu user system\n0 1 2\n1 3 4\n", "1 2 3 4\n")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseCPUStatV2(b)
		_, _, _ = ParseCpuacctStat(b)
		// usage_all is indexed by CPU number: as long as the highest
		// CPU listed, which is bounded.
		if all, err := ParseCpuacctUsageAll(b); err == nil && len(all) > maxCPUListSpan+1 {
			t.Fatalf("%q: %d CPUs", b, len(all))
		}
		if per, err := ParseCpuacctUsagePercpu(b); err == nil && len(per) > len(bytes.Fields(b)) {
			t.Fatalf("%q: %d CPUs from %d fields", b, len(per), len(bytes.Fields(b)))
		}
	})
}

// FuzzParseIOStat: v2 io.stat; no more devices than lines, each device
// named in the input, and devices unique.
func FuzzParseIOStat(f *testing.F) {
	seedFiles(f, []string{"io.stat"}, "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6\n", "8:0 rbytes=x\n", "259:0\n", "1:2 a=b=c\n")
	f.Fuzz(func(t *testing.T, b []byte) {
		devs, err := parseIOStat(b)
		if err != nil {
			return
		}
		checkDevices(t, b, len(devs), true, func(i int) (uint32, uint32) { return devs[i].Major, devs[i].Minor })
	})
}

// FuzzParseBlkio: v1 blkio.throttle.io_service_bytes, io_serviced and
// the other "maj:min Op value" files; same bounds as io.stat.
func FuzzParseBlkio(f *testing.F) {
	seedFiles(f, []string{"blkio.*"}, "8:0 Read 1\n8:0 Write 2\n8:0 Total 3\nTotal 3\n", "8:0 Read\n", "x:y Read 1\n")
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseBlkioRWStat(b)
		if err != nil {
			return
		}
		// A device's lines may repeat in garbage (never in the kernel's
		// files): then it is listed twice, and the first one wins.
		checkDevices(t, b, len(st), false, func(i int) (uint32, uint32) { return st[i].Major, st[i].Minor })
	})
}

// checkDevices asserts that the n devices dev returns are no more than
// b's lines and, with unique, that none is listed twice.
func checkDevices(t *testing.T, b []byte, n int, unique bool, dev func(int) (uint32, uint32)) {
	t.Helper()
	if n > lines(b) {
		t.Fatalf("%q: %d devices from %d lines", b, n, lines(b))
	}
	seen := map[[2]uint32]bool{}
	for i := range n {
		maj, min := dev(i)
		k := [2]uint32{maj, min}
		if unique && seen[k] {
			t.Fatalf("%q: device %d:%d twice", b, maj, min)
		}
		seen[k] = true
	}
}

// FuzzParseStatCPUs: /proc/stat's cpuN lines; no more CPUs than lines,
// and only non-negative CPU numbers.
func FuzzParseStatCPUs(f *testing.F) {
	seedFiles(f, []string{"stat"}, "cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 2 3 4 5 6 7 8 9 10\n", "cpu0 1\n", "cpu-1 1 2 3 4\n")
	f.Fuzz(func(t *testing.T, b []byte) {
		cpus, err := ParseStatCPUs(b)
		if err != nil {
			return
		}
		if len(cpus) > lines(b) {
			t.Fatalf("%q: %d CPUs from %d lines", b, len(cpus), lines(b))
		}
		for n := range cpus {
			if n < 0 {
				t.Fatalf("%q: cpu %d", b, n)
			}
		}
	})
}

// FuzzHostMeminfo: the host's /proc/meminfo; every value known was
// written in the input, and a container view built on it ends with a
// newline when the input does.
func FuzzHostMeminfo(f *testing.F) {
	seedFiles(f, []string{"meminfo"}, "MemTotal:       16384 kB\nMemFree: 1 kB\n", "MemTotal: x kB\n", "MemTotal:\n", ":\n")
	f.Fuzz(func(t *testing.T, b []byte) {
		v := parseHostMeminfo(b)
		for fld := range meminfoField(mfCount) {
			if kb, ok := v.get(fld); ok && !bytes.Contains(b, []byte(strconv.FormatUint(kb, 10))) {
				t.Fatalf("%q: field %d is %d, which the input does not hold", b, fld, kb)
			}
		}
	})
}

// FuzzCpuinfo: the host's /proc/cpuinfo cut to visible CPUs; never more
// processor blocks than visible CPUs, and deterministic.
func FuzzCpuinfo(f *testing.F) {
	seedFiles(f, []string{"cpuinfo"}, "processor\t: 0\nphysical id\t: 0\n\nprocessor\t: 1\n\n", "processor: x\n", "\n\n\n")
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, visible := range [][]int{nil, {0}, {1, 3}, {0, 1, 2, 3, 4, 5, 6, 7}} {
			out := Cpuinfo(b, visible)
			if n := bytes.Count(out, []byte("\nprocessor")) + boolInt(bytes.HasPrefix(out, []byte("processor"))); n > len(visible) && n > bytes.Count(b, []byte("processor")) {
				t.Fatalf("%q for %v: %d processor blocks", b, visible, n)
			}
			if !bytes.Equal(out, Cpuinfo(b, visible)) {
				t.Fatalf("%q: not deterministic", b)
			}
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// FuzzDiskstats: the host's /proc/diskstats rewritten for a cgroup's
// devices; no more lines than the host's, each ending in a newline.
func FuzzDiskstats(f *testing.F) {
	seedFiles(f, []string{"diskstats"}, "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18\n", "8 0\n", "x y z\n")
	devs := []DeviceIO{{Major: 8, Minor: 0, ReadIOs: 1, ReadBytes: 4096}, {Major: 259, Minor: 0, WriteIOs: 2}, {Major: 253, Minor: 0}}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := Diskstats(nil, b, devs)
		if err != nil {
			return
		}
		if lines(out) > min(lines(b), len(devs)) || len(out) > 0 && out[len(out)-1] != '\n' {
			t.Fatalf("%q gave %q", b, out)
		}
	})
}

// FuzzParseTaskState: /proc/<pid>/stat's state field; a state is a byte
// the input holds.
func FuzzParseTaskState(f *testing.F) {
	seedFiles(f, []string{"stat"}, "1 (sh) S 0 1 1\n", "1 (a) b) R 0\n", "1 (x\n", ")")
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseTaskState(b)
		if err == nil && bytes.IndexByte(b, st) < 0 {
			t.Fatalf("%q: state %q", b, st)
		}
	})
}
