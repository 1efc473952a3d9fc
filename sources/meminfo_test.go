package sources

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// memCase is one container setup rendered by the meminfo and swaps tests.
type memCase struct {
	name  string // golden file suffix
	proc  string // host proc root
	setup func(t *testing.T) Cgroup
	swap  SwapMode
	gone  bool // the cgroup does not exist: output must be the host's
}

// memCases are the setups of the golden tests: the fixtures as captured,
// and temporary copies changed to cover limits above host RAM, swap
// accounting and missing files.
func memCases() []memCase {
	fixed := func(cg Cgroup) func(*testing.T) Cgroup { return func(*testing.T) Cgroup { return cg } }
	gone := func(v2 bool) func(*testing.T) Cgroup {
		return func(t *testing.T) Cgroup {
			dir := filepath.Join(t.TempDir(), "gone")
			if v2 {
				return memV2(dir)
			}
			return memV1(dir)
		}
	}
	v1 := func(src string, edit func(t *testing.T, dir string)) func(*testing.T) Cgroup {
		return func(t *testing.T) Cgroup {
			dir := memCopy(t, src)
			edit(t, dir)
			return memV1(dir)
		}
	}
	v2 := func(src string, edit func(t *testing.T, dir string)) func(*testing.T) Cgroup {
		return func(t *testing.T) Cgroup {
			dir := memCopy(t, src)
			edit(t, dir)
			return memV2(dir)
		}
	}
	return []memCase{
		{name: "v1-limited", proc: memV1Proc, setup: fixed(memV1(memV1Limited))},
		{name: "v1-nolimit", proc: memV1Proc, setup: fixed(memV1(memV1NoLimit))},
		{name: "v1-limit-above-host", proc: memV1Proc, setup: v1(memV1Limited, func(t *testing.T, dir string) {
			memWrite(t, filepath.Join(dir, v1MemLimit), "68719476736\n") // 64 GiB
			memEditStat(t, dir, "hierarchical_memory_limit", "68719476736")
		})},
		// The v2 host has 65532 kB of swap; the v1 host has none.
		{name: "v1-memsw-limited", proc: memV2Proc, setup: v1(memV1Limited, func(t *testing.T, dir string) {
			memWrite(t, filepath.Join(dir, v1MemswLimit), "301989888\n") // RAM + 32 MiB
			memEditStat(t, dir, "hierarchical_memsw_limit", "301989888")
			memWrite(t, filepath.Join(dir, v1MemswUsage), "64413696\n") // usage + 4 MiB
		})},
		{name: "v1-memsw-unlimited", proc: memV2Proc, setup: fixed(memV1(memV1Limited))},
		{name: "v1-no-swap-accounting", proc: memV2Proc, setup: v1(memV1Limited, func(t *testing.T, dir string) {
			memRemove(t, dir, v1MemswLimit, v1MemswUsage)
			memEditStat(t, dir, "hierarchical_memsw_limit", "")
		})},
		{name: "v1-missing-stat", proc: memV1Proc, setup: v1(memV1Limited, func(t *testing.T, dir string) {
			memRemove(t, dir, memStatFile)
		})},
		{name: "v1-missing-usage", proc: memV2Proc, setup: v1(memV1Limited, func(t *testing.T, dir string) {
			memRemove(t, dir, v1MemUsage, v1MemswUsage)
		})},
		{name: "v1-gone", proc: memV1Proc, setup: gone(false), gone: true},
		{name: "v1-swap-none", proc: memV2Proc, setup: fixed(memV1(memV1Limited)), swap: SwapNone},
		{name: "v1-swap-host", proc: memV2Proc, setup: fixed(memV1(memV1Limited)), swap: SwapHost},

		{name: "v2-limited", proc: memV2Proc, setup: fixed(memV2(memV2Limited))},
		{name: "v2-nolimit", proc: memV2Proc, setup: fixed(memV2(memV2NoLimit))},
		{name: "v2-swap-32m", proc: memV2Proc, setup: v2(memV2Limited, func(t *testing.T, dir string) {
			memWrite(t, filepath.Join(dir, v2MemSwapMax), "33554432\n")
			memWrite(t, filepath.Join(dir, v2MemSwapCurrent), "4194304\n")
		})},
		{name: "v2-limit-above-host", proc: memV2Proc, setup: v2(memV2Limited, func(t *testing.T, dir string) {
			memWrite(t, filepath.Join(dir, v2MemMax), "2147483648\n")
		})},
		{name: "v2-missing-stat-and-swap-current", proc: memV2Proc, setup: v2(memV2NoLimit, func(t *testing.T, dir string) {
			memRemove(t, dir, memStatFile, v2MemSwapCurrent)
		})},
		{name: "v2-no-swap-accounting", proc: memV2Proc, setup: v2(memV2NoLimit, func(t *testing.T, dir string) {
			memRemove(t, dir, v2MemSwapMax, v2MemSwapCurrent)
		})},
		{name: "v2-gone", proc: memV2Proc, setup: gone(true), gone: true},
		{name: "v2-swap-none", proc: memV2Proc, setup: fixed(memV2(memV2NoLimit)), swap: SwapNone},
		{name: "v2-swap-host", proc: memV2Proc, setup: fixed(memV2(memV2NoLimit)), swap: SwapHost},
	}
}

func TestMeminfoGolden(t *testing.T) {
	for _, tc := range memCases() {
		t.Run(tc.name, func(t *testing.T) {
			c := NewContainer(Host{ProcRoot: tc.proc}, tc.setup(t), time.Time{}, Options{Swap: tc.swap})
			f, _ := Lookup("meminfo")
			var buf bytes.Buffer
			if err := c.Render(f, &buf); err != nil {
				t.Fatal(err)
			}
			host := memReadFixture(t, tc.proc, "meminfo")
			checkMeminfoShape(t, host, buf.Bytes(), tc.swap)
			if tc.gone && !bytes.Equal(buf.Bytes(), host) {
				t.Errorf("cgroup gone: output is not the host's:\n%s", buf.Bytes())
			}
			memGolden(t, "meminfo", tc.name, buf.Bytes())
		})
	}
}

// TestMeminfoValues spells out the numbers of the main cases, so that the
// golden files are checked against the rules once by hand.
func TestMeminfoValues(t *testing.T) {
	tests := []struct {
		name string
		want map[string]uint64 // kB
	}{
		// 256 MiB limit, usage 60219392 B = 58808 kB, file LRUs 128 kB.
		// v1 has no slab counter: the host's Slab 80856 and SReclaimable
		// 58496 kB, capped at usage - total_cache - total_rss = 58808 - 128
		// - 58184 = 496 kB.
		{"v1-limited", map[string]uint64{"MemTotal": 262144, "MemFree": 203336, "MemAvailable": 203464,
			"Buffers": 0, "Cached": 128, "SwapTotal": 0, "SwapFree": 0,
			"Slab": 496, "SReclaimable": 496, "SUnreclaim": 0}},
		// No limit: host RAM minus usage (516096 B = 504 kB).
		{"v1-nolimit", map[string]uint64{"MemTotal": 24731708, "MemFree": 24731204, "MemAvailable": 24731204}},
		{"v1-limit-above-host", map[string]uint64{"MemTotal": 24731708, "MemFree": 24672900}},
		{"v1-memsw-limited", map[string]uint64{"SwapTotal": 32768, "SwapFree": 28672}},
		{"v1-memsw-unlimited", map[string]uint64{"SwapTotal": 65532, "SwapFree": 65532}},
		{"v1-no-swap-accounting", map[string]uint64{"SwapTotal": 0, "SwapFree": 0}},
		// No memory.stat: MemAvailable falls back to MemFree, the rest to
		// the host.
		{"v1-missing-stat", map[string]uint64{"MemTotal": 262144, "MemFree": 203336, "MemAvailable": 203336,
			"Cached": 143224, "Active": 55588}},
		// No usage: the host's MemFree capped at MemTotal; no swap usage:
		// the host's SwapFree capped at the swap total.
		{"v1-missing-usage", map[string]uint64{"MemTotal": 262144, "MemFree": 262144, "MemAvailable": 262144,
			"SwapTotal": 65532, "SwapFree": 65532}},
		{"v1-swap-none", map[string]uint64{"SwapTotal": 0, "SwapFree": 0, "SwapCached": 0}},
		{"v1-swap-host", map[string]uint64{"SwapTotal": 65532, "SwapFree": 65532}},
		// usage 68206592 B = 66608 kB; slab_reclaimable 42488 B = 41 kB.
		{"v2-limited", map[string]uint64{"MemTotal": 262144, "MemFree": 195536, "MemAvailable": 195577,
			"Cached": 16392, "Shmem": 16392, "AnonPages": 49288, "Slab": 81, "SReclaimable": 41,
			"SUnreclaim": 40, "SwapTotal": 0, "SwapFree": 0}},
		{"v2-nolimit", map[string]uint64{"MemTotal": 995868, "MemFree": 995776, "SwapTotal": 65532, "SwapFree": 65532}},
		{"v2-swap-32m", map[string]uint64{"SwapTotal": 32768, "SwapFree": 28672}},
		{"v2-limit-above-host", map[string]uint64{"MemTotal": 995868, "MemFree": 929260}},
		{"v2-no-swap-accounting", map[string]uint64{"SwapTotal": 0, "SwapFree": 0}},
	}
	cases := map[string]memCase{}
	for _, tc := range memCases() {
		cases[tc.name] = tc
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc, ok := cases[tt.name]
			if !ok {
				t.Fatalf("no case %s", tt.name)
			}
			m, _ := ReadMemory(tc.setup(t))
			out := Meminfo(nil, memReadFixture(t, tc.proc, "meminfo"), m, tc.swap)
			for name, want := range tt.want {
				if got := meminfoValue(t, out, name); got != want {
					t.Errorf("%s = %d kB, want %d", name, got, want)
				}
			}
		})
	}
}

// TestMeminfoFieldMapping feeds memory.stat files whose counters are 1…N
// KiB, so that a counter shown on the wrong line stands out.
func TestMeminfoFieldMapping(t *testing.T) {
	keysV2 := []string{"anon", "file", "shmem", "file_mapped", "file_dirty", "file_writeback",
		"swapcached", "active_anon", "inactive_anon", "active_file", "inactive_file",
		"unevictable", "slab", "slab_reclaimable", "slab_unreclaimable", "anon_thp", "shmem_thp", "file_thp"}
	wantV2 := map[string]uint64{
		"AnonPages": 1, "Buffers": 0, "Cached": 2, "Shmem": 3, "Mapped": 4, "Dirty": 5,
		"Writeback": 6, "SwapCached": 7, "Active": 8 + 10, "Inactive": 9 + 11,
		"Active(anon)": 8, "Inactive(anon)": 9, "Active(file)": 10, "Inactive(file)": 11,
		"Unevictable": 12, "Slab": 13, "SReclaimable": 14, "SUnreclaim": 15, "AnonHugePages": 16,
		"ShmemHugePages": 17, "FileHugePages": 18,
		// 512 MiB limit, 100 MiB usage, 32 MiB swap limit, 1 MiB in use.
		"MemTotal": 524288, "MemFree": 421888, "MemAvailable": 421888 + 10 + 11 + 14,
		"SwapTotal": 32768, "SwapFree": 31744,
	}
	// v1: the same counters under total_*, with local decoys that would
	// show up as 1000+i; no slab counters (the host's values remain: they
	// fit in usage - total_cache - total_rss).
	keysV1 := []string{"total_rss", "total_cache", "total_shmem", "total_mapped_file", "total_dirty",
		"total_writeback", "total_swapcached", "total_active_anon", "total_inactive_anon",
		"total_active_file", "total_inactive_file", "total_unevictable", "total_rss_huge"}
	wantV1 := map[string]uint64{}
	for k, v := range wantV2 {
		wantV1[k] = v
	}
	wantV1["MemAvailable"] = 421888 + 10 + 11
	wantV1["AnonHugePages"] = 13
	// No v1 counters for huge shmem/file pages: the host's (0 kB) remain.
	wantV1["ShmemHugePages"], wantV1["FileHugePages"] = 0, 0
	wantV1["Slab"], wantV1["SReclaimable"], wantV1["SUnreclaim"] = 17884, 9376, 8508

	stat := func(keys []string, decoys bool) string {
		var b strings.Builder
		for i, k := range keys {
			if decoys {
				fmt.Fprintf(&b, "%s %d\n", strings.TrimPrefix(k, "total_"), (1000+i+1)*1024)
			}
			fmt.Fprintf(&b, "%s %d\n", k, (i+1)*1024)
		}
		return b.String()
	}
	t.Run("v2", func(t *testing.T) {
		dir := t.TempDir()
		memWrite(t, filepath.Join(dir, memStatFile), stat(keysV2, false))
		memWrite(t, filepath.Join(dir, v2MemMax), "536870912\n")
		memWrite(t, filepath.Join(dir, v2MemCurrent), "104857600\n")
		memWrite(t, filepath.Join(dir, v2MemSwapMax), "33554432\n")
		memWrite(t, filepath.Join(dir, v2MemSwapCurrent), "1048576\n")
		checkMeminfoMapping(t, memV2(dir), wantV2)
	})
	t.Run("v1", func(t *testing.T) {
		dir := t.TempDir()
		memWrite(t, filepath.Join(dir, memStatFile), stat(keysV1, true))
		memWrite(t, filepath.Join(dir, v1MemLimit), "536870912\n")
		memWrite(t, filepath.Join(dir, v1MemUsage), "104857600\n")
		memWrite(t, filepath.Join(dir, v1MemswLimit), "570425344\n") // + 32 MiB
		memWrite(t, filepath.Join(dir, v1MemswUsage), "105906176\n") // + 1 MiB
		checkMeminfoMapping(t, memV1(dir), wantV1)
	})
}

// checkMeminfoMapping renders cg on the v2 host and compares every
// replaceable line with want.
func checkMeminfoMapping(t *testing.T, cg Cgroup, want map[string]uint64) {
	t.Helper()
	m, err := ReadMemory(cg)
	if err != nil {
		t.Fatal(err)
	}
	host := memReadFixture(t, memV2Proc, "meminfo")
	out := Meminfo(nil, host, m, SwapCgroup)
	checkMeminfoShape(t, host, out, SwapCgroup)
	for f := mfNone + 1; f < mfCount; f++ {
		if f == mfZswap || f == mfZswapped {
			// The v2 host (6.1 cloud kernel, CONFIG_ZSWAP=n) has no zswap
			// lines: TestMeminfoZswap covers them.
			continue
		}
		name := meminfoFieldName(f)
		w, ok := want[name]
		if !ok {
			t.Errorf("test lacks a value for %s", name)
			continue
		}
		if got := meminfoValue(t, out, name); got != w {
			t.Errorf("%s = %d kB, want %d", name, got, w)
		}
	}
}

// meminfoFieldName returns the line name of f, by asking meminfoFieldOf.
func meminfoFieldName(f meminfoField) string {
	for _, n := range []string{"MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached",
		"SwapCached", "Active", "Inactive", "Active(anon)", "Inactive(anon)", "Active(file)",
		"Inactive(file)", "Unevictable", "SwapTotal", "SwapFree", "Dirty", "Writeback",
		"AnonPages", "Mapped", "Shmem", "Slab", "SReclaimable", "SUnreclaim", "AnonHugePages",
		"ShmemHugePages", "FileHugePages", "Zswap", "Zswapped"} {
		if meminfoFieldOf([]byte(n)) == f {
			return n
		}
	}
	return fmt.Sprintf("field %d", f)
}

// TestMeminfoLayoutIsKernels checks that the line writer reproduces every
// line of real /proc/meminfo files from their own values, so a replaced
// line has the kernel's layout.
func TestMeminfoLayoutIsKernels(t *testing.T) {
	files := map[string][]byte{
		"v1 fixture": memReadFixture(t, memV1Proc, "meminfo"),
		"v2 fixture": memReadFixture(t, memV2Proc, "meminfo"),
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		files["this host"] = b
	}
	for name, b := range files {
		for _, line := range strings.SplitAfter(string(b), "\n") {
			if line == "" {
				continue
			}
			l, ok := splitMeminfoLine([]byte(line))
			if !ok {
				t.Errorf("%s: cannot parse %q", name, line)
				continue
			}
			if got := string(appendMeminfoLine(nil, l, l.value)); got != line {
				t.Errorf("%s: rewrote %q as %q", name, line, got)
			}
		}
	}
}

// TestMeminfoOddHostFiles covers host files the renderer does not fully
// understand: without MemTotal nothing is replaced; unparsable lines pass
// through; a last line without newline is still rewritten.
func TestMeminfoOddHostFiles(t *testing.T) {
	m, _ := ReadMemory(memV2(memV2Limited))
	tests := []struct{ name, host, want string }{
		{"empty", "", ""},
		{"garbage", "garbage\nmore: of it\n", "garbage\nmore: of it\n"},
		{"no MemTotal", "MemFree:       12 kB\n", "MemFree:       12 kB\n"},
		{"no final newline", "MemTotal:    1048576 kB", fmt.Sprintf("%-16s%8d kB", "MemTotal:", 262144)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(Meminfo(nil, []byte(tt.host), m, SwapCgroup)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRenderMeminfoErrors(t *testing.T) {
	c := NewContainer(Host{ProcRoot: t.TempDir()}, memV2(memV2Limited), time.Time{}, DefaultOptions())
	f, _ := Lookup("meminfo")
	var buf bytes.Buffer
	err := c.Render(f, &buf)
	if err == nil || !strings.Contains(err.Error(), "meminfo") {
		t.Errorf("got %v, want an error naming the host meminfo", err)
	}
}

// checkMeminfoShape checks the invariants of a container's meminfo against
// the host's: a final newline, the host's line names in the host's order,
// the host's lines where nothing is replaced, the kernel's layout where a
// value is, and values that fit the totals.
func checkMeminfoShape(t *testing.T, host, out []byte, swap SwapMode) {
	t.Helper()
	if !bytes.HasSuffix(out, []byte("\n")) {
		t.Errorf("output does not end with a newline")
	}
	hl := strings.SplitAfter(string(host), "\n")
	ol := strings.SplitAfter(string(out), "\n")
	if len(hl) != len(ol) {
		t.Fatalf("%d lines, host has %d", len(ol), len(hl))
	}
	for i := range hl {
		if hl[i] == ol[i] {
			continue
		}
		hname, _, _ := strings.Cut(hl[i], ":")
		oname, rest, _ := strings.Cut(ol[i], ":")
		if hname != oname {
			t.Errorf("line %d is %q, host has %q", i+1, oname, hname)
			continue
		}
		if meminfoFieldOf([]byte(oname)) == mfNone {
			t.Errorf("line %d %q changed, it must be the host's", i+1, oname)
		}
		v, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if want := fmt.Sprintf("%-16s%8d kB\n", oname+":", v); err != nil || ol[i] != want {
			t.Errorf("line %d is %q, want the kernel's layout %q", i+1, ol[i], want)
		}
	}
	val := func(b []byte, name string) uint64 { return meminfoValue(t, b, name) }
	total, free, avail := val(out, "MemTotal"), val(out, "MemFree"), val(out, "MemAvailable")
	if total > val(host, "MemTotal") || free > total || avail > total {
		t.Errorf("MemTotal %d, MemFree %d, MemAvailable %d: not within host MemTotal %d",
			total, free, avail, val(host, "MemTotal"))
	}
	swapTotal, swapFree := val(out, "SwapTotal"), val(out, "SwapFree")
	if swapFree > swapTotal || swapTotal > val(host, "SwapTotal") {
		t.Errorf("SwapTotal %d, SwapFree %d: not within host SwapTotal %d", swapTotal, swapFree, val(host, "SwapTotal"))
	}
	switch swap {
	case SwapHost:
		for _, n := range []string{"SwapTotal", "SwapFree", "SwapCached"} {
			if val(out, n) != val(host, n) {
				t.Errorf("swap host: %s %d, host has %d", n, val(out, n), val(host, n))
			}
		}
	case SwapNone:
		if swapTotal != 0 || swapFree != 0 || val(out, "SwapCached") != 0 {
			t.Errorf("swap none: SwapTotal %d, SwapFree %d", swapTotal, swapFree)
		}
	}
}

// meminfoValue returns the number on the line called name.
func meminfoValue(t *testing.T, b []byte, name string) uint64 {
	t.Helper()
	for _, line := range strings.Split(string(b), "\n") {
		n, rest, ok := strings.Cut(line, ":")
		if !ok || n != name {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		return v
	}
	t.Fatalf("no %s line in\n%s", name, b)
	return 0
}

// memReadFixture reads a file of a fixture proc root.
func memReadFixture(t *testing.T, proc, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(proc, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// BenchmarkMeminfo measures a whole /proc/meminfo read on the v1 fixture:
// the cgroup and host files read and the output rendered into a reused
// buffer, as on every read at offset 0.
func BenchmarkMeminfo(b *testing.B) {
	c := NewContainer(Host{ProcRoot: memV1Proc}, memV1(memV1Limited), time.Time{}, DefaultOptions())
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := renderMeminfo(c, time.Time{}, &buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMeminfoRender measures the pure renderer alone.
func BenchmarkMeminfoRender(b *testing.B) {
	host, err := os.ReadFile(filepath.Join(memV1Proc, "meminfo"))
	if err != nil {
		b.Fatal(err)
	}
	m, err := ReadMemory(memV1(memV1Limited))
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		dst = Meminfo(dst[:0], host, m, SwapCgroup)
	}
}

// TestMeminfoZswap covers the Zswap and Zswapped lines: v2 counters, the
// host's capped at the swap in use where there are none (v1), 0 with no
// swap shown, the host's with SwapHost, and no line where the host has
// none. The host is the v1 fixture (6.18, CONFIG_ZSWAP=y, both 0 kB) with
// values put in.
func TestMeminfoZswap(t *testing.T) {
	fixture := memReadFixture(t, memV1Proc, "meminfo")
	host := bytes.Replace(fixture, []byte("Zswap:                 0 kB\n"), []byte("Zswap:              3000 kB\n"), 1)
	host = bytes.Replace(host, []byte("Zswapped:              0 kB\n"), []byte("Zswapped:           9000 kB\n"), 1)
	if bytes.Equal(host, fixture) || len(host) != len(fixture) {
		t.Fatal("fixture has no zswap lines to edit")
	}
	base := Memory{Version: 2, Limit: memKnown(256 << 20), Usage: memKnown(64 << 20),
		SwapLimit: memKnown(MemUnlimited), SwapUsage: memKnown(4 << 20)}
	v2 := base
	v2.Stat.Zswap, v2.Stat.Zswapped = memKnown(1<<10), memKnown(2<<10)
	v1 := base
	v1.Version = 1
	v1big := v1
	v1big.SwapUsage = memKnown(1 << 30)
	v1noacct := v1
	v1noacct.SwapUsage, v1noacct.SwapLimit, v1noacct.NoSwapAccounting = MemBytes{}, MemBytes{}, true
	v1unknown := v1
	v1unknown.SwapUsage = MemBytes{}
	tests := []struct {
		name                string
		host                []byte
		m                   Memory
		swap                SwapMode
		zswap, zswapped     uint64
		noLines, hostOutput bool
	}{
		{name: "v2 counters", host: host, m: v2, zswap: 1, zswapped: 2},
		{name: "v1 capped at swap in use", host: host, m: v1, zswap: 3000, zswapped: 4096},
		{name: "v1 within swap in use", host: host, m: v1big, zswap: 3000, zswapped: 9000},
		{name: "v1 swap in use unknown", host: host, m: v1unknown, zswap: 3000, zswapped: 9000},
		{name: "no swap accounting", host: host, m: v1noacct, zswap: 0, zswapped: 0},
		{name: "swap none", host: host, m: v2, swap: SwapNone, zswap: 0, zswapped: 0},
		{name: "swap host", host: host, m: v2, swap: SwapHost, zswap: 3000, zswapped: 9000},
		{name: "host without zswap", host: memReadFixture(t, memV2Proc, "meminfo"), m: v2, noLines: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := Meminfo(nil, tc.host, tc.m, tc.swap)
			checkMeminfoShape(t, tc.host, out, tc.swap)
			if tc.noLines {
				if bytes.Contains(out, []byte("Zswap")) {
					t.Errorf("zswap lines added:\n%s", out)
				}
				return
			}
			if got := meminfoValue(t, out, "Zswap"); got != tc.zswap {
				t.Errorf("Zswap = %d kB, want %d", got, tc.zswap)
			}
			if got := meminfoValue(t, out, "Zswapped"); got != tc.zswapped {
				t.Errorf("Zswapped = %d kB, want %d", got, tc.zswapped)
			}
		})
	}
}

// TestParseMemoryStatV2Zswap maps the zswap keys, in a memory.stat line
// order of a 6.x kernel (zswap and zswapped follow shmem).
func TestParseMemoryStatV2Zswap(t *testing.T) {
	s, err := ParseMemoryStatV2([]byte("anon 1\nfile 2\nshmem 3\nzswap 4\nzswapped 5\nfile_mapped 6\nzswpin 7\nzswpout 8\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Zswap != memKnown(4) || s.Zswapped != memKnown(5) || s.Shmem != memKnown(3) || s.FileMapped != memKnown(6) {
		t.Errorf("got %+v", s)
	}
	if v1, _ := ParseMemoryStatV1([]byte("zswap 4\nzswapped 5\n")); v1.Zswap.Known || v1.Zswapped.Known {
		t.Errorf("v1 parser read zswap keys: %+v", v1)
	}
}
